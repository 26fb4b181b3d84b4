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

WARM = 3
TICK = os.sysconf("SC_CLK_TCK")
GLUE = os.path.join(os.path.dirname(__file__), "..", "bench", "reference_glue.py")


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime (fields 14 and 15)


def idle(proc, secs):
    time.sleep(WARM)
    a = cpu_s(proc.pid)
    time.sleep(secs)
    b = cpu_s(proc.pid)
    proc.terminate()
    proc.wait()
    return (b - a) / secs


def baton(bin_, secs):
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as base:
        root = os.path.join(base, "home")
        subprocess.run([bin_, "--home", root, "init"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        reply = os.path.join(root, "handoffs/Bench-Agent/01_inbox")
        answered = lambda: os.path.isdir(reply) and any("__RETURN__" in n for n in os.listdir(reply))
        proc = subprocess.Popen([bin_, "--home", root, "serve"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env={**os.environ, "BATON_LOG": "warn"})
        time.sleep(1)
        body = ('{"schema": "baton.handoff/v1", "id": "IDLE", "kind": "task", "created_at": "2026-01-18T07:09:51Z",'
                ' "from": "Bench-Agent", "title": "idle", "plugin": "echo", "action": "echo", "params": {}}')
        tmp = os.path.join(root, ".drop")
        with open(tmp, "w") as f:
            f.write(body)
        os.rename(tmp, os.path.join(root, "handoffs/baton/01_inbox/20260118T070951Z__TASK__Idle__Bench-Agent.json"))
        deadline = time.monotonic() + 60
        while not answered() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert answered(), f"{bin_}: no RETURN within 60 s"
        return idle(proc, secs)


def glue(secs):
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as base:
        os.makedirs(os.path.join(base, "baton", "01_inbox"))
        proc = subprocess.Popen([sys.executable, GLUE, base, "1"])
        return idle(proc, secs)


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
