#!/usr/bin/env python3
"""serve's CPU with many ignored names in its inbox beside a trickle of TASKs (issue 55, fault 8).

    python3 bench/ignored_names.py BEFORE,AFTER [IGNORED=100000] [RATE=10] [SECS=11] [ROUNDS=3]

For each binary, round by round (alternating): a fresh home (`baton init`), IGNORED names
baton ignores in its inbox (notes, dotfiles, swap and temp files), `serve` started and left to
settle (its start-up listing and plugin load are not measured), then RATE echo TASKs a second
for SECS seconds, each written aside and renamed in, then a wait until every one is answered.
The figure is serve's CPU time (utime + stime from /proc/PID/stat) from the first TASK to the
last RETURN, beside the wall time of that window.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

TICK = os.sysconf("SC_CLK_TCK")
AGENT = "Claude-Code-Agent"


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def task(tid):
    return json.dumps({"schema": "baton.handoff/v1", "id": tid, "kind": "task", "created_at": "2026-01-18T07:09:51Z",
                       "from": AGENT, "title": f"Echo {tid}", "plugin": "echo", "action": "echo",
                       "params": {"n": tid}})


def answered(replies):
    try:
        return sum(1 for n in os.listdir(replies) if "__RETURN__" in n and not n.startswith("."))
    except FileNotFoundError:
        return 0


def one(binary, ignored, rate, secs, cache):
    tmp = tempfile.mkdtemp(prefix="bench-ignored-")
    home = os.path.join(tmp, "home")
    env = dict(os.environ, XDG_CACHE_HOME=cache, BATON_LOG="warn")
    env.pop("BATON_STATE", None)
    subprocess.run([binary, "--home", home, "init"], env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    inbox = os.path.join(home, "handoffs", "baton", "01_inbox")
    os.makedirs(inbox, exist_ok=True)
    kinds = ["note-{:06}.txt", ".hidden-{:06}.json", "draft-{:06}.json.swp", "scratch-{:06}.json.tmp"]
    for i in range(ignored):
        open(os.path.join(inbox, kinds[i % 4].format(i)), "wb").close()
    log = open(os.path.join(tmp, "serve.log"), "wb")
    serve = subprocess.Popen([binary, "--home", home, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=log)
    try:
        replies = os.path.join(home, "handoffs", AGENT, "01_inbox")
        # A first TASK loads the plugin; its cost is start-up, not measured.
        with open(os.path.join(tmp, "t"), "w") as f:
            f.write(task("WARM"))
        os.rename(os.path.join(tmp, "t"), os.path.join(inbox, f"20260118T070950Z__TASK__WARM__{AGENT}.json"))
        deadline = time.time() + 120
        while answered(replies) < 1:
            assert time.time() < deadline and serve.poll() is None, "serve did not answer the first TASK"
            time.sleep(0.05)
        time.sleep(1.0)
        n = int(rate * secs)
        c0, t0 = cpu_s(serve.pid), time.time()
        for i in range(n):
            due = t0 + i / rate
            time.sleep(max(0.0, due - time.time()))
            tid = f"T{i:05}"
            with open(os.path.join(tmp, "t"), "w") as f:
                f.write(task(tid))
            os.rename(os.path.join(tmp, "t"), os.path.join(inbox, f"20260118T070951Z__TASK__{tid}__{AGENT}.json"))
        deadline = time.time() + 120
        while answered(replies) < n + 1:
            assert time.time() < deadline and serve.poll() is None, f"only {answered(replies) - 1} of {n} answered"
            time.sleep(0.02)
        c1, t1 = cpu_s(serve.pid), time.time()
        return c1 - c0, t1 - t0, n
    finally:
        serve.send_signal(signal.SIGTERM)
        try:
            serve.wait(timeout=20)
        except subprocess.TimeoutExpired:
            serve.kill()
            serve.wait()
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    bins = sys.argv[1].split(",")
    ignored = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    rate = float(sys.argv[3]) if len(sys.argv) > 3 else 10
    secs = float(sys.argv[4]) if len(sys.argv) > 4 else 11
    rounds = int(sys.argv[5]) if len(sys.argv) > 5 else 3
    cache = tempfile.mkdtemp(prefix="bench-ignored-cache-")
    print(f"# {ignored} ignored names, {rate:g} TASKs/s for {secs:g} s; load before: {os.getloadavg()}")
    results = {b: [] for b in bins}
    try:
        for r in range(rounds):
            for b in bins:
                cpu, wall, n = one(b, ignored, rate, secs, cache)
                results[b].append(cpu)
                print(f"round {r + 1} {b}: serve CPU {cpu:.2f} s in {wall:.2f} s wall, {n} TASKs answered")
                sys.stdout.flush()
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    for b in bins:
        v = sorted(results[b])
        print(f"median {b}: {v[len(v) // 2]:.2f} s CPU (all: {', '.join(f'{x:.2f}' for x in v)})")
    print(f"# load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
