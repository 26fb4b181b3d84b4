#!/usr/bin/env python3
"""Issue 77's three targets, each beside a reference measured in the same run.

  python3 bench/claude_receipts.py BIN [ROUNDS]

BIN: a build's `baton` (its `baton-host` beside it). BENCH_DIR (default /var/tmp) holds the
homes. Prints one JSON object; nothing here runs in CI.

1. `seen` within 2 s: with `serve` running, a message delivered to each of 20 teammates and
   noticed (Claude Code's read flag), then the `<teammate-message>` user line appended to the
   teammate's transcript: the time from that append to the `delivery_seen` event in the ledger
   (read from the state file, 10 ms apart). Reference: the same append seen by a plain
   polling reader of the transcript (a 10 ms loop reading what was appended), same run.
2. Watching transcripts costs `serve` under 1 % of one core: 20 live teammates' transcripts
   (50 MB already written, 2.5 MB each), each appended 1 line/s by its own writer, while each
   teammate has a delivery noticed and not seen (so `serve` reads every new line). `serve`'s
   CPU (utime + stime) over the window, against `tail -F` of the same 20 files in the same
   window, and against `serve` on the same home with the writers stopped.
3. `status` in a home with 100,000 filed handoffs and 10,000 RETURNs: < 200 ms, < 200 lines
   (the looks after the first, which reads every file and fills the filed handoffs' cache;
   the first is reported too). Reference: `find handoffs -type f | wc -l` on the same tree,
   same rounds.
"""
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone

BIN = os.path.abspath(sys.argv[1])
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 5
BASE = tempfile.mkdtemp(prefix="baton-receipts-", dir=os.environ.get("BENCH_DIR", "/var/tmp"))
TEAMMATES = 20
TCK = os.sysconf("SC_CLK_TCK")


def stamp(dt=None):
    dt = dt or datetime.now(timezone.utc)
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def run(home, *args, check=True):
    env = dict(os.environ, BATON_LOG="warn", XDG_CACHE_HOME=os.path.join(BASE, "cache"))
    return subprocess.run([BIN, "--home", home, *args], env=env, capture_output=True, text=True, check=check)


def user_line(at, sender, text):
    content = f'<teammate-message teammate_id="{sender}" color="blue">\n{text}\n</teammate-message>'
    return json.dumps({"type": "user", "timestamp": at, "sessionId": "s", "message": {"role": "user", "content": content}}) + "\n"


def cpu_secs(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TCK


def team_home():
    """A home reading one Claude Code team of 20 in-process teammates, each with a transcript."""
    claude = os.path.join(BASE, "claude")
    inboxes = os.path.join(claude, "teams", "alpha", "inboxes")
    os.makedirs(inboxes)
    members = [{"agentId": "team-lead@alpha", "name": "team-lead"}]
    transcripts = []
    filler = user_line("2026-01-01T00:00:00.000Z", "team-lead", "x" * 4000)
    chunk = filler * (2_500_000 // len(filler) + 1)
    for i in range(TEAMMATES):
        name = f"w{i:02}"
        members.append({"agentId": f"{name}@alpha", "name": name})
        with open(os.path.join(inboxes, f"{name}.json"), "w") as f:
            f.write("[]")
        sub = os.path.join(claude, "projects", f"-repo-{i % 4}", f"sess-{i:04}", "subagents")
        os.makedirs(sub)
        with open(os.path.join(sub, f"agent-{name}.meta.json"), "w") as f:
            json.dump({"name": name, "teamName": "alpha", "taskKind": "in_process_teammate"}, f)
        t = os.path.join(sub, f"agent-{name}.jsonl")
        with open(t, "w") as f:
            f.write(chunk)
        transcripts.append((name, t))
    with open(os.path.join(claude, "teams", "alpha", "config.json"), "w") as f:
        json.dump({"name": "alpha", "leadAgentId": "team-lead@alpha", "members": members}, f)
    home = os.path.join(BASE, "home")
    run(home, "init")
    run(home, "mailbox", "add", "claude-team", os.path.join(claude, "teams"))
    return home, inboxes, transcripts


def mark_read(inbox, text):
    with open(inbox) as f:
        msgs = json.load(f)
    for m in msgs:
        if m["text"] == text:
            m["read"] = True
    tmp = inbox + ".tmp"
    with open(tmp, "w") as f:
        json.dump(msgs, f)
    os.rename(tmp, inbox)


def events(home, event):
    db = sqlite3.connect(f"file:{os.path.join(home, 'state', 'baton.sqlite')}?mode=ro", uri=True, timeout=5)
    try:
        return {r[0] for r in db.execute("SELECT task_id FROM events WHERE event = ?", (event,))}
    finally:
        db.close()


def deliver(home, inboxes, name, text):
    out = run(home, "send", "--from", "alpha/team-lead", "--to", f"alpha/{name}", "--body", text)
    mid = out.stdout.strip().splitlines()[-1]
    mark_read(os.path.join(inboxes, f"{name}.json"), text)
    return mid


def wait_for(pred, limit=30.0, step=0.01):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return False


def seen_latency(home, inboxes, transcripts):
    """Target 1: append → `delivery_seen` in the ledger, per teammate; and a plain reader's."""
    out, ref = [], []
    for r in range(ROUNDS):
        for name, t in transcripts:
            text = f"round {r} for {name}: review the lexer"
            mid = deliver(home, inboxes, name, text)
            if not wait_for(lambda: mid in events(home, "delivery_noticed"), 10):
                raise SystemExit(f"{mid} was never noticed")
            offset = os.path.getsize(t)
            seen_by_reader = []

            def reader():
                start = time.monotonic()
                while time.monotonic() - start < 10:
                    with open(t, "rb") as f:
                        f.seek(offset)
                        if text.encode() in f.read():
                            seen_by_reader.append(time.monotonic())
                            return
                    time.sleep(0.01)

            th = threading.Thread(target=reader)
            th.start()
            t0 = time.monotonic()
            with open(t, "a") as f:
                f.write(user_line(stamp(datetime.now(timezone.utc) + timedelta(milliseconds=5)), "team-lead", text))
            if not wait_for(lambda: mid in events(home, "delivery_seen"), 10):
                raise SystemExit(f"{mid} was not seen within 10 s")
            out.append(time.monotonic() - t0)
            th.join()
            ref.append(seen_by_reader[0] - t0 if seen_by_reader else None)
    out.sort()
    return {"n": len(out), "p50_s": statistics.median(out), "p95_s": out[int(len(out) * 0.95) - 1], "max_s": out[-1],
            "reference_reader_p50_s": statistics.median([x for x in ref if x is not None])}


def watch_cost(home, inboxes, transcripts, serve_pid, secs=int(os.environ.get("WATCH_SECS", "60"))):
    """Target 2: serve's CPU while 20 transcripts grow 1 line/s each, each with a noticed delivery."""
    for name, _ in transcripts:
        deliver(home, inboxes, name, f"never echoed to {name}")
    time.sleep(3)
    stop = threading.Event()

    def writer(path, i):
        n = 0
        while not stop.is_set():
            with open(path, "a") as f:
                f.write(user_line(stamp(), "someone", f"unrelated line {n} of {i}"))
            n += 1
            stop.wait(1.0)

    def window(with_writers):
        tail = subprocess.Popen(["tail", "-q", "-n", "0", "-F", *[t for _, t in transcripts]],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        threads = []
        if with_writers:
            stop.clear()
            threads = [threading.Thread(target=writer, args=(t, i)) for i, (_, t) in enumerate(transcripts)]
            for th in threads:
                th.start()
        time.sleep(1)
        s0, t0, w0 = cpu_secs(serve_pid), cpu_secs(tail.pid), time.monotonic()
        time.sleep(secs)
        s1, t1, w1 = cpu_secs(serve_pid), cpu_secs(tail.pid), time.monotonic()
        stop.set()
        for th in threads:
            th.join()
        tail.kill()
        tail.wait()
        wall = w1 - w0
        return {"serve_core_pct": 100 * (s1 - s0) / wall, "tail_F_core_pct": 100 * (t1 - t0) / wall, "secs": wall}

    return {"live": window(True), "quiet": window(False)}


def status_scale():
    """Target 3: status over 100,000 filed handoffs and 10,000 RETURNs."""
    home = os.path.join(BASE, "filed")
    run(home, "init")
    root = os.path.join(home, "handoffs")
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    n = 0
    for a in range(10):
        agent = f"Agent-{a}"
        done = os.path.join(root, agent, "02_processed")
        os.makedirs(done, exist_ok=True)
        os.makedirs(os.path.join(root, agent, "01_inbox"), exist_ok=True)
        for i in range(10_000):
            hid = f"T{a:02}{i:06}"
            at = t0 + timedelta(seconds=n)
            n += 1
            body = {"schema": "baton.handoff/v1", "id": hid, "kind": "task", "created_at": stamp(at),
                    "from": f"Agent-{(a + 1) % 10}", "to": agent, "title": f"task {i}"}
            name = f"{at.strftime('%Y%m%dT%H%M%SZ')}__TASK__task-{hid}__Agent-{(a + 1) % 10}.json"
            with open(os.path.join(done, name), "w") as f:
                json.dump(body, f)
        # 1,000 RETURNs per agent: its answers to the TASKs it sent, read and filed.
        sender_done = os.path.join(root, f"Agent-{(a + 1) % 10}", "02_processed")
        os.makedirs(sender_done, exist_ok=True)
        for i in range(1_000):
            rid = f"R{a:02}{i:06}"
            at = t0 + timedelta(seconds=n)
            n += 1
            body = {"schema": "baton.handoff/v1", "id": rid, "kind": "return", "created_at": stamp(at),
                    "from": agent, "to": f"Agent-{(a + 1) % 10}", "title": f"Re: task {i}",
                    "in_reply_to": f"T{a:02}{i:06}", "status": "completed", "summary": "done"}
            name = f"{at.strftime('%Y%m%dT%H%M%SZ')}__RETURN__task-{rid}__{agent}.json"
            with open(os.path.join(sender_done, name), "w") as f:
                json.dump(body, f)
    os.sync()
    s = time.monotonic()
    run(home, "status")  # the first look reads every file and keeps their readings in the cache
    first = time.monotonic() - s
    wall, lines, ref = [], [], []
    for _ in range(ROUNDS + 2):
        s = time.monotonic()
        out = run(home, "status")
        wall.append(time.monotonic() - s)
        lines.append(len(out.stdout.splitlines()))
        s = time.monotonic()
        subprocess.run(f"find '{root}' -type f | wc -l", shell=True, capture_output=True, check=True)
        ref.append(time.monotonic() - s)
    return {"files": n, "first_ms": round(1000 * first, 1), "status_ms_median": 1000 * statistics.median(wall), "status_ms": [round(1000 * w, 1) for w in wall],
            "lines": max(lines), "find_ms_median": 1000 * statistics.median(ref)}


def main():
    result = {"bin": BIN, "rounds": ROUNDS, "load": os.getloadavg()}
    home, inboxes, transcripts = team_home()
    env = dict(os.environ, BATON_LOG="warn", XDG_CACHE_HOME=os.path.join(BASE, "cache"))
    serve = subprocess.Popen([BIN, "--home", home, "serve"], env=env, stdout=subprocess.DEVNULL,
                             stderr=open(os.path.join(BASE, "serve.log"), "w"))
    try:
        time.sleep(5)
        result["seen"] = seen_latency(home, inboxes, transcripts)
        result["watch"] = watch_cost(home, inboxes, transcripts, serve.pid)
    finally:
        serve.terminate()
        serve.wait()
    result["status"] = status_scale()
    print(json.dumps(result, indent=2))
    if os.environ.get("KEEP") != "1":
        shutil.rmtree(BASE, ignore_errors=True)


if __name__ == "__main__":
    main()
