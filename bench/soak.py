"""A soak (never run in CI): every door at once under chaos, for hours.

    sudo python3 bench/soak.py BATON HOURS [RATE]

BATON is a release `baton` (with `baton-host` beside it). Runs as root only to set up and to
inject faults: every baton process runs as uid/gid 65534 (`setpriv`), so a permission flip
binds it as it binds a user. The home is made on the root file system (`BENCH_DIR`, default
/var/tmp), the state on a 512 MiB tmpfs of its own (so it can be filled).

Agents send RATE TASKs/s in all (default 50) to the echo plugin, for HOURS:
  drops   TASK files written by hand (temp file, rename into baton's inbox), 45 %
  cli     `baton send --plugin echo` (one process each), 25 %
  mcp     one `baton mcp` session driven by the official Python SDK (`send_task`), 15 %
  a2a     `serve --http`'s A2A `SendMessage` (replayed with its `messageId` when serve is down), 10 %
  claude  `baton send --from alpha/worker --plugin echo`: the RETURN goes into a Claude Code
          team inbox, which a Node process using `proper-lockfile` (Claude Code's lock) writes
          into and marks read meanwhile, 5 %
while a chaos loop kills `serve` with -9 every CHAOS_KILL_S (default 240) seconds and starts it
again, makes a sender's inbox unwritable (chmod 000) for 10 s every CHAOS_PERM_S (300) s, and
fills the state's file system for 5 s every CHAOS_FILL_S (420) s.

At the end (clients stopped, one `serve --once` drains what is left) it checks, and prints as
JSON: every TASK sent has exactly one RETURN (none missing, none doubled); `PRAGMA
integrity_check` of the ledger; `serve`'s RSS and open files at the end against their values
after the first 10 minutes (each sampled 60 s or more after that incarnation started); every
ERROR line `serve` logged, split into those inside an injected fault's window (plus 60 s) and
the others. Exit 0 only if all hold (RSS and files within 10 %).
"""

import asyncio
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid

UID = 65534
NODE_CLIENT = r"""
const lockfile = require('proper-lockfile');
const fs = require('fs');
const file = process.argv[2];
let n = 0;
async function tick() {
  const release = await lockfile.lock(file, {realpath: false, stale: 10000,
                                             retries: {retries: 100, minTimeout: 5, maxTimeout: 100}});
  try {
    const msgs = JSON.parse(fs.readFileSync(file, 'utf8'));
    for (const m of msgs) if (m.from !== 'team-lead' && Math.random() < 0.5) m.read = true;
    msgs.push({from: 'team-lead', text: `node message ${n}`, timestamp: new Date().toISOString(), read: false});
    n++;
    fs.writeFileSync(file, JSON.stringify(msgs, null, 2));
  } finally {
    await release();
  }
  fs.writeFileSync(process.argv[3], String(n));
}
(async () => { for (;;) { try { await tick(); } catch (e) { console.error(String(e)); } await new Promise(r => setTimeout(r, 200)); } })();
"""


def now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Soak:
    def __init__(self, baton, hours, rate):
        self.baton, self.hours, self.rate = baton, hours, rate
        self.dir = tempfile.mkdtemp(prefix="baton-soak-", dir=os.environ.get("BENCH_DIR", "/var/tmp"))
        os.chmod(self.dir, 0o755)
        self.home = os.path.join(self.dir, "home")
        self.state_dir = os.path.join(self.dir, "state")
        os.makedirs(self.state_dir)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512m,mode=0755", "tmpfs", self.state_dir], check=True)
        os.chown(self.state_dir, UID, UID)
        self.state = os.path.join(self.state_dir, "baton.sqlite")
        self.teams = os.path.join(self.dir, "claude", "teams")
        self.user_home = os.path.join(self.dir, "user")
        self.stop = threading.Event()
        self.sent = {k: [] for k in ("drops", "cli", "mcp", "a2a", "claude")}
        self.lock = threading.Lock()
        self.faults = []  # (kind, start, end)
        self.samples = []  # (t, incarnation start, rss_kb, fds, anon_kb, file_kb)
        self.client_errors = {}
        self.serve = None
        self.serve_started = 0.0
        self.log = open(os.path.join(self.dir, "serve.log"), "ab")

    def env(self):
        return {"PATH": os.environ["PATH"], "HOME": self.user_home, "XDG_CACHE_HOME": os.path.join(self.user_home, ".cache"),
                "BATON_STATE": self.state, "BATON_LOG": "warn"}

    def cmd(self, *args):
        return ["setpriv", f"--reuid={UID}", f"--regid={UID}", "--clear-groups", self.baton, "--home", self.home, *args]

    def run(self, *args, check=True):
        return subprocess.run(self.cmd(*args), env=self.env(), capture_output=True, text=True, check=check)

    def setup(self):
        for d in (self.user_home, os.path.join(self.teams, "alpha", "inboxes")):
            os.makedirs(d, exist_ok=True)
        with open(os.path.join(self.teams, "alpha", "config.json"), "w") as f:
            json.dump({"name": "alpha", "leadAgentId": "team-lead@alpha",
                       "members": [{"agentId": "team-lead@alpha", "name": "team-lead"},
                                   {"agentId": "worker@alpha", "name": "worker"}]}, f)
        self.claude_inbox = os.path.join(self.teams, "alpha", "inboxes", "worker.json")
        with open(self.claude_inbox, "w") as f:
            f.write("[]")
        subprocess.run(["chown", "-R", f"{UID}:{UID}", self.dir], check=True)
        self.run("init")
        with open(os.path.join(self.home, "baton.toml"), "a") as f:
            f.write(f'\n[mailboxes.team]\nkind = "claude-team"\npath = "{self.teams}"\n')
        for agent in ("Soak-Drop", "Soak-CLI", "Soak-MCP"):
            os.makedirs(os.path.join(self.home, "handoffs", agent, "01_inbox"), exist_ok=True)
        self.key = self.run("key", "rotate").stdout.strip()
        import socket
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        subprocess.run(["chown", "-R", f"{UID}:{UID}", self.dir], check=True)
        npm = os.path.join(self.dir, "node")
        os.makedirs(npm)
        subprocess.run(["npm", "install", "--silent", "--prefix", npm, "proper-lockfile@4"], check=True, capture_output=True)
        with open(os.path.join(npm, "client.js"), "w") as f:
            f.write(NODE_CLIENT)
        subprocess.run(["chown", "-R", f"{UID}:{UID}", npm], check=True)
        self.node_count = os.path.join(npm, "count")
        self.node = subprocess.Popen(["setpriv", f"--reuid={UID}", f"--regid={UID}", "--clear-groups", "node",
                                      os.path.join(npm, "client.js"), self.claude_inbox, self.node_count],
                                     cwd=npm, env=dict(self.env(), NODE_PATH=os.path.join(npm, "node_modules")),
                                     stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.dir, "node.log"), "ab"))

    def start_serve(self):
        cmd = self.cmd("serve", "--http", f"127.0.0.1:{self.port}", "--log-format", "json")
        # SOAK_SERVE_WRAP (e.g. "heaptrack -o /var/tmp/ht"): a profiler around `serve` alone,
        # which then runs `baton-host` directly (the front's exec would leave the profiler behind).
        if os.environ.get("SOAK_SERVE_WRAP"):
            host = self.baton + "-host"
            cmd = cmd[:4] + os.environ["SOAK_SERVE_WRAP"].split() + [host] + cmd[5:]
        self.serve = subprocess.Popen(cmd,
                                      env=self.env(), stdout=subprocess.DEVNULL, stderr=self.log)
        self.serve_started = time.time()

    def record(self, door, tid):
        with self.lock:
            self.sent[door].append(tid)

    def error(self, door, e):
        with self.lock:
            self.client_errors.setdefault(door, []).append(f"{now()} {e}"[:400])

    def paced(self, door, share, send):
        """Calls `send(i)` at `share` of the rate until stopped."""
        period = 1.0 / (self.rate * share)
        i, next_at = 0, time.time()
        while not self.stop.is_set():
            try:
                send(i)
            except Exception as e:  # a client's failure is reported, never the end of the soak
                self.error(door, e)
            i += 1
            next_at += period
            time.sleep(max(0.0, next_at - time.time()))

    def drop(self, i):
        tid = f"drop-{uuid.uuid4().hex}"
        body = {"schema": "baton.handoff/v1", "id": tid, "kind": "task", "created_at": now(), "from": "Soak-Drop",
                "title": "soak", "plugin": "echo", "action": "echo", "params": {"i": i}}
        inbox = os.path.join(self.home, "handoffs", "baton", "01_inbox")
        tmp = os.path.join(self.home, "handoffs", f".tmp-{tid}")
        with open(tmp, "w") as f:
            json.dump(body, f)
        os.rename(tmp, os.path.join(inbox, time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + f"__TASK__soak-{tid}__Soak-Drop.json"))
        self.record("drops", tid)

    def cli(self, door, sender):
        def send(i):
            out = subprocess.run(self.cmd("send", "--plugin", "echo", "--action", "echo", "--params", json.dumps({"i": i}),
                                          "--from", sender), env=self.env(), capture_output=True, text=True)
            if out.returncode != 0:
                raise RuntimeError(out.stderr.strip())
            self.record(door, out.stdout.strip().splitlines()[-1])
        return send

    def mcp(self):
        async def go():
            from mcp import Client
            from mcp.client.stdio import StdioServerParameters
            params = StdioServerParameters(command="setpriv", args=self.cmd("mcp", "--agent", "Soak-MCP")[1:], env=self.env())
            async with Client(params) as c:
                period, i = 1.0 / (self.rate * 0.15), 0
                next_at = time.time()
                while not self.stop.is_set():
                    try:
                        sent = await c.call_tool("send_task", {"plugin": "echo", "action": "echo", "params": {"i": i}})
                        self.record("mcp", sent.structured_content["id"])
                    except Exception as e:
                        self.error("mcp", e)
                    i += 1
                    next_at += period
                    await asyncio.sleep(max(0.0, next_at - time.time()))
        try:
            asyncio.run(go())
        except Exception as e:
            self.error("mcp", f"session ended: {e}")

    def a2a(self):
        import httpx
        headers = {"Authorization": f"Bearer {self.key}", "A2A-Version": "1.0"}

        def send(i):
            mid = f"soak-{i}"
            body = {"jsonrpc": "2.0", "id": i, "method": "SendMessage",
                    "params": {"message": {"messageId": mid, "role": "ROLE_USER", "parts": [{"data": {"i": i}}],
                                           "metadata": {"skill": "echo.echo"}}}}
            for _ in range(600):  # serve is down for a moment after each kill: replay the same message
                try:
                    with httpx.Client(base_url=f"http://127.0.0.1:{self.port}", headers=headers, timeout=30) as c:
                        r = c.post("/a2a", json=body).json()
                    self.record("a2a", r["result"]["task"]["id"])
                    return
                except Exception:
                    if self.stop.is_set():
                        raise
                    time.sleep(0.5)
            raise RuntimeError(f"A2A message {mid} never taken")
        self.paced("a2a", 0.10, send)

    def sample(self):
        p = self.serve
        if p is None or p.poll() is not None:
            return
        try:
            with open(f"/proc/{p.pid}/status") as f:
                kb = {line.split(":")[0]: int(line.split()[1]) for line in f if line.startswith(("VmRSS:", "RssAnon:", "RssFile:"))}
            fds = len(os.listdir(f"/proc/{p.pid}/fd"))
        except (OSError, ValueError, IndexError):
            return
        if "VmRSS" not in kb:
            return
        # RssAnon (the heap: what glibc holds) apart from RssFile (mapped files: the binary,
        # the compiled plugins' code): which of them grows.
        self.samples.append((time.time(), self.serve_started, kb["VmRSS"], fds, kb.get("RssAnon"), kb.get("RssFile")))

    def fault(self, kind, seconds, on, off):
        start = time.time()
        on()
        time.sleep(seconds)
        off()
        self.faults.append((kind, start, time.time()))

    def chaos(self):
        kill_every = float(os.environ.get("CHAOS_KILL_S", "240"))
        last = {"kill": time.time(), "perm": time.time(), "fill": time.time()}
        target = os.path.join(self.home, "handoffs", "Soak-Drop", "01_inbox")
        filler = os.path.join(self.state_dir, "filler")
        while not self.stop.is_set():
            time.sleep(1)
            t = time.time()
            if t - last["kill"] >= kill_every:
                last["kill"] = t
                self.serve.kill()
                self.serve.wait()
                self.faults.append(("kill -9", t, t))
                self.start_serve()
            if t - last["perm"] >= float(os.environ.get("CHAOS_PERM_S", "300")):
                last["perm"] = t
                self.fault("chmod 000 Soak-Drop/01_inbox", 10, lambda: os.chmod(target, 0), lambda: os.chmod(target, 0o755))
            if t - last["fill"] >= float(os.environ.get("CHAOS_FILL_S", "420")):
                last["fill"] = t
                self.fault("state disk full", 5,
                           lambda: subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=1M", "count=600"], capture_output=True),
                           lambda: os.remove(filler))
            if int(t) % 10 == 0:
                self.sample()

    def returns(self):
        """Every RETURN's `in_reply_to`, counted, across every agent's folders and the Claude inbox."""
        counts = {}
        root = os.path.join(self.home, "handoffs")
        for agent in os.listdir(root):
            for sub in ("01_inbox", "02_processed"):
                d = os.path.join(root, agent, sub)
                if not os.path.isdir(d):
                    continue
                for name in os.listdir(d):
                    if "__RETURN__" not in name or name.startswith("."):
                        continue
                    with open(os.path.join(d, name)) as f:
                        r = json.load(f).get("in_reply_to")
                    counts[r] = counts.get(r, 0) + 1
        with open(self.claude_inbox) as f:
            for m in json.load(f):
                try:
                    body = json.loads(m["text"])
                except (ValueError, TypeError):
                    continue
                if isinstance(body, dict) and body.get("kind") == "return":
                    counts[body["in_reply_to"]] = counts.get(body["in_reply_to"], 0) + 1
        return counts

    def errors(self):
        injected, other = [], []
        with open(os.path.join(self.dir, "serve.log"), "rb") as f:
            for raw in f:
                try:
                    line = json.loads(raw)
                except ValueError:
                    other.append(raw.decode(errors="replace")[:300])
                    continue
                if line.get("level") != "ERROR":
                    continue
                at = time.mktime(time.strptime(line["timestamp"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
                inside = any(s - 1 <= at <= e + 60 for _, s, e in self.faults)
                (injected if inside else other).append(json.dumps(line["fields"])[:300])
        return injected, other

    def main(self):
        self.setup()
        self.start_serve()
        time.sleep(5)
        began = time.time()
        load0 = os.getloadavg()
        threads = [threading.Thread(target=self.paced, args=("drops", 0.45, self.drop)),
                   threading.Thread(target=self.paced, args=("cli", 0.125, self.cli("cli", "Soak-CLI"))),
                   threading.Thread(target=self.paced, args=("cli", 0.125, self.cli("cli", "Soak-CLI"))),
                   threading.Thread(target=self.paced, args=("claude", 0.05, self.cli("claude", "alpha/worker"))),
                   threading.Thread(target=self.mcp), threading.Thread(target=self.a2a), threading.Thread(target=self.chaos)]
        for t in threads:
            t.start()
        while time.time() - began < self.hours * 3600:
            time.sleep(5)
        self.stop.set()
        for t in threads:
            t.join()
        loads = os.getloadavg()
        self.sample()
        end_sample = next((s for s in reversed(self.samples) if s[0] - s[1] >= 60), None)
        base = next((s for s in self.samples if s[0] - began >= 600 and s[0] - s[1] >= 60), None)
        self.serve.terminate()
        self.serve.wait()
        self.node.terminate()
        drained = self.run("serve", "--once", check=False)
        counts = self.returns()
        missing, doubled = {}, {}
        for door, ids in self.sent.items():
            missing[door] = [i for i in ids if counts.get(i, 0) == 0]
            doubled[door] = [i for i in ids if counts.get(i, 0) > 1]
        integrity = sqlite3.connect(f"file:{self.state}?mode=ro", uri=True).execute("PRAGMA integrity_check").fetchone()[0]
        injected, other = self.errors()
        within = lambda a, b: b is not None and a is not None and abs(b - a) <= 0.10 * a
        report = {
            "hours": self.hours, "rate_per_s": self.rate, "dir": self.dir, "load_avg_start": load0, "load_avg_end": loads,
            "sent": {k: len(v) for k, v in self.sent.items()},
            "missing": {k: v[:20] for k, v in missing.items() if v}, "doubled": {k: v[:20] for k, v in doubled.items() if v},
            "missing_count": sum(map(len, missing.values())), "doubled_count": sum(map(len, doubled.values())),
            "failed_filed": len([n for n in os.listdir(os.path.join(self.home, "handoffs", "baton", "03_failed"))
                                 if not n.endswith(".error.json")]) if os.path.isdir(os.path.join(self.home, "handoffs", "baton", "03_failed")) else 0,
            "integrity_check": integrity,
            "rss_kb": {"after_10_min": base and base[2], "end": end_sample and end_sample[2]},
            "rss_anon_kb": {"after_10_min": base and base[4], "end": end_sample and end_sample[4]},
            "open_files": {"after_10_min": base and base[3], "end": end_sample and end_sample[3]},
            "faults": [{"kind": k, "at": time.strftime("%H:%M:%S", time.gmtime(s)), "seconds": round(e - s, 1)} for k, s, e in self.faults],
            "errors_in_fault_windows": len(injected), "errors_outside": other[:50], "errors_outside_count": len(other),
            "client_errors": {k: {"count": len(v), "first": v[:5]} for k, v in self.client_errors.items()},
            "node_messages": int(open(self.node_count).read() or 0) if os.path.exists(self.node_count) else 0,
            "drain_exit": drained.returncode,
            # Every sample (seconds since the start, seconds since that incarnation of serve
            # started, RSS in KiB, open files, RssAnon and RssFile in KiB): whether RSS grows
            # with a serve's age or levels off, and which part of it.
            "samples": [[round(t - began), round(t - st), rss, fds, anon, file] for t, st, rss, fds, anon, file in self.samples],
        }
        ok = (report["missing_count"] == 0 and report["doubled_count"] == 0 and integrity == "ok"
              and within(base and base[2], end_sample and end_sample[2]) and within(base and base[3], end_sample and end_sample[3])
              and not other)
        report["ok"] = ok
        print(json.dumps(report, indent=2))
        subprocess.run(["umount", "-l", self.state_dir])
        return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    sys.exit(Soak(os.path.abspath(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]) if len(sys.argv) > 3 else 50.0).main())
