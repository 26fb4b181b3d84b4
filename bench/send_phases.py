"""Where a `send --wait` round trip's wall time goes, in three phases (never run in CI).

    python3 bench/send_phases.py BATON HOME [N]

HOME is a home (`baton init`) whose `baton serve` already runs. N sends (default 500), one at a
time, each `baton send --plugin echo --action echo --wait --json` as `Bench-CLI`. An inotify
watch on baton's inbox and the sender's inbox timestamps the moment the TASK is named and the
moment its RETURN is named, so each send splits into:
  start → TASK named     the process's start, its checks, and the TASK's write and sync
  TASK → RETURN named    `serve`: intake, claim, ledger, the plugin, the RETURN's write
  RETURN → exit          the waiter's wake-up, its read of the RETURN, the process's exit
Prints p50/p90/p99 of each, in milliseconds, and the phases of the ten slowest sends.
"""

import ctypes
import json
import os
import select
import struct
import subprocess
import sys
import threading
import time

IN_MOVED_TO, IN_CREATE = 0x80, 0x100


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main():
    baton, home = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 500
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    fd = libc.inotify_init1(os.O_NONBLOCK)
    root = os.path.join(home, "handoffs")
    os.makedirs(os.path.join(root, "Bench-CLI", "01_inbox"), exist_ok=True)
    watches = {}
    for folder, what in [(os.path.join(root, "baton", "01_inbox"), "task"),
                         (os.path.join(root, "Bench-CLI", "01_inbox"), "return")]:
        watches[libc.inotify_add_watch(fd, folder.encode(), IN_MOVED_TO | IN_CREATE)] = what
    events, done = [], threading.Event()

    def read_events():
        poll = select.poll()
        poll.register(fd, select.POLLIN)
        while not done.is_set():
            if not poll.poll(50):
                continue
            t = time.perf_counter()
            try:
                buf = os.read(fd, 65536)
            except BlockingIOError:
                continue
            i = 0
            while i < len(buf):
                wd, _mask, _cookie, length = struct.unpack_from("iIII", buf, i)
                name = buf[i + 16:i + 16 + length].rstrip(b"\0").decode()
                i += 16 + length
                if name.endswith(".json"):
                    events.append((t, watches[wd]))

    threading.Thread(target=read_events, daemon=True).start()
    env = dict(os.environ, BATON_AGENT="Bench-CLI")
    rows = []
    for i in range(n):
        events.clear()
        t0 = time.perf_counter()
        out = subprocess.run([baton, "--home", home, "send", "--plugin", "echo", "--action", "echo",
                              "--params", json.dumps({"i": i}), "--wait", "--timeout", "30", "--json"],
                             env=env, capture_output=True)
        t3 = time.perf_counter()
        assert out.returncode == 0, out.stderr
        time.sleep(0.002)  # the watch thread's last events
        task = next((t for t, what in events if what == "task"), None)
        ret = next((t for t, what in events if what == "return"), None)
        if task and ret:
            rows.append(((task - t0) * 1e3, (ret - task) * 1e3, (t3 - ret) * 1e3, (t3 - t0) * 1e3))
    done.set()
    for k, name in enumerate(["start -> TASK named", "TASK -> RETURN named", "RETURN -> exit", "total"]):
        xs = [r[k] for r in rows]
        print(f"{name:22s} p50 {pct(xs, 50):6.2f}  p90 {pct(xs, 90):6.2f}  p99 {pct(xs, 99):6.2f} ms  (n = {len(xs)})")
    print("the ten slowest (the three phases, then the total, ms):")
    for r in sorted(rows, key=lambda r: -r[3])[:10]:
        print("  " + " ".join(f"{x:6.2f}" for x in r))


if __name__ == "__main__":
    main()
