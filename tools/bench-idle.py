#!/usr/bin/env python3
"""What an idle `baton serve` costs: CPU seconds per second of a daemon with nothing to do, on a
home made by `baton init` (defaults: the automatic audit on), after one TASK was answered (so a
pass, a RETURN, filing and an audit are behind it). For one or more binaries (say, before and
after a change), rounds interleaved, and in the same run the reference: `bench/reference_glue.py`,
the hand-glued polling loop baton replaces, waiting on an empty inbox.

  tools/bench-idle.py /tmp/baton-before,/tmp/baton-after [SECS=10] [ROUNDS=3]

CPU is read from /proc/PID/stat (user + system, all threads) at the start and end of the idle
window, which begins WARM seconds after the RETURN.
"""
import os, statistics, subprocess, sys, tempfile, time

from benchhome import Daemon, cpu_seconds

WARM = 3
GLUE = os.path.join(os.path.dirname(__file__), "..", "bench", "reference_glue.py")


def idle_cpu(pid, secs):
    """CPU seconds per second that `pid` uses over `secs`, after WARM seconds."""
    time.sleep(WARM)
    a = cpu_seconds(pid)
    time.sleep(secs)
    return (cpu_seconds(pid) - a) / secs


def baton(bin_, secs):
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as base:
        root = os.path.join(base, "home")
        subprocess.run([bin_, "--home", root, "init"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        daemon = Daemon(bin_, root, {**os.environ, "BATON_LOG": "warn"})
        try:
            daemon.run("echo", "echo", {}, timeout=60)
            return idle_cpu(daemon.proc.pid, secs)
        finally:
            daemon.stop()


def glue(secs):
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as base:
        os.makedirs(os.path.join(base, "baton", "01_inbox"))
        proc = subprocess.Popen([sys.executable, GLUE, base, "1"])
        try:
            return idle_cpu(proc.pid, secs)
        finally:
            proc.terminate()
            proc.wait()


def main():
    bins = sys.argv[1].split(",")
    secs = float(sys.argv[2]) if len(sys.argv) > 2 else 10
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    got = {b: [] for b in bins}
    got["reference_glue.py"] = []
    for r in range(rounds):
        for b in bins:
            got[b].append(baton(b, secs))
        got["reference_glue.py"].append(glue(secs))
        print(f"round {r + 1}: " + ", ".join(f"{os.path.basename(k)} {v[-1]:.3f}" for k, v in got.items()), flush=True)
    print(f"\n| process | CPU s per idle s (median of {rounds}) | rounds |\n|---|---:|---|")
    for k, v in got.items():
        print(f"| {k} | {statistics.median(v):.3f} | {' · '.join(f'{x:.3f}' for x in v)} |")


if __name__ == "__main__":
    main()
