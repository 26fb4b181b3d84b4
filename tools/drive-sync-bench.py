#!/usr/bin/env python3
"""The drive-sync benchmark (issue 15): the first sync of a catalog of N tracks (default 100,000),
500 playlists and their 200,000 memberships into an empty drive folder, then syncs with nothing
changed, each one TASK through `baton serve --once` and the wasm plugin (start-up and plugin load
included, like a scheduled run). The catalog comes from `bench/drive_sync_gen.py` through
`baton catalog import`, once per binary; each round copies that home, so every first sync starts
from the same state.

  cargo build --release -p baton-app --bins     # `baton` and the `baton-host` it hands commands to
  tools/drive-sync-bench.py BATON [BATON2 ...] [--rounds 3] [--nochange 5] [--tracks 100000]

Several binaries (e.g. before/after) are measured round by round, alternated, in one run.
For each: the first sync's wall time and peak RSS per round, and the no-change syncs (the first
after a write is reported apart: it may still find the sheets' stat changed), with medians.
A `serve --once` running one `echo` TASK is timed alongside, as the floor any TASK pays.
The no-change sync is also timed through a warm `baton serve` (`--daemon N` syncs per round,
one TASK at a time, drop → RETURN by inotify): what a user running serve as a service sees.
Ratios against the first binary are printed at the end.
Targets: first sync under 5 s; a sync with nothing changed under 200 ms.
"""
import argparse, json, os, shutil, statistics, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchhome import Daemon  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
GEN = os.path.join(HERE, "..", "bench", "drive_sync_gen.py")
ENV = {**os.environ, "BATON_LOG": "warn"}


def task(home, i, plugin, action, params):
    body = {"schema": "baton.handoff/v1", "id": f"B{i}", "kind": "task", "created_at": "2026-01-18T07:09:51Z",
            "from": "Bench-Agent", "title": action, "plugin": plugin, "action": action, "params": params}
    tmp = os.path.join(home, ".drop")
    with open(tmp, "w") as f:
        json.dump(body, f)
    os.rename(tmp, os.path.join(home, "handoffs/baton/01_inbox", f"20260118T070951Z__TASK__B{i}__Bench-Agent.json"))


def result(home, i):
    """The result of the RETURN that answers TASK B{i}."""
    box = os.path.join(home, "handoffs/Bench-Agent/01_inbox")
    for name in os.listdir(box):
        with open(os.path.join(box, name)) as f:
            r = json.load(f)
        if r.get("in_reply_to") == f"B{i}":
            assert r["status"] == "completed", r
            return r["result"]
    raise AssertionError(f"no RETURN for B{i}")


COUNTS = {}


def serve(bin_, home, label=None):
    """Wall seconds and peak RSS (KB) of one `serve --once`. With BENCH_PERF_STAT=1 it runs
    under `perf stat`, and (instructions, CPU ms) go to COUNTS[(bin_, label)]: a machine shared
    with other work inflates the wall time, not the instructions."""
    stat = os.environ.get("BENCH_PERF_STAT") == "1" and label is not None
    out = os.path.join(home, ".perf-stat")
    cmd = [bin_, "--home", home, "serve", "--once"]
    if stat:
        cmd = ["perf", "stat", "-x,", "-o", out, "-e", "instructions,task-clock"] + cmd
    t = time.monotonic()
    p = subprocess.Popen(cmd, env=ENV)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.monotonic() - t
    assert os.waitstatus_to_exitcode(status) == 0, f"serve --once exited {status}"
    if stat:
        vals = {}
        for line in open(out):
            f = line.strip().split(",")
            if len(f) > 2 and f[0] and not line.startswith("#"):
                try:
                    vals[f[2].split(":")[0]] = float(f[0])
                except ValueError:
                    pass
        COUNTS.setdefault((bin_, label), []).append((vals.get("instructions", float("nan")), vals.get("task-clock", float("nan"))))
    return wall, usage.ru_maxrss


def template(bin_, base, data, drive_of):
    """A home with the catalog imported and drive-sync granted; the drive path is per round,
    so the grant names a symlink `drive` next to the home, pointed at each round's folder."""
    home = os.path.join(base, "home")
    subprocess.run([bin_, "--home", home, "init"], check=True, stdout=subprocess.DEVNULL, env=ENV)
    toml = os.path.join(home, "baton.toml")
    text = open(toml).read().replace("enabled = true", "enabled = false")  # no plans audit in the timed runs
    text += (f'\n[plugins.drive-sync]\ngrants = {{ drive = {{ path = "{drive_of}", writable = true }} }}\n'
             'catalog = { read = ["tracks", "playlists"] }\ntime_ms = 600000\noutput_kb = 4096\n')
    open(toml, "w").write(text)
    for c in ["tracks", "playlists"]:
        subprocess.run([bin_, "--home", home, "catalog", "import", c, os.path.join(data, f"{c}.csv")],
                       check=True, stdout=subprocess.DEVNULL, env=ENV)
    return home


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bins", nargs="+")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--nochange", type=int, default=5)
    ap.add_argument("--tracks", type=int, default=100_000)
    ap.add_argument("--daemon", type=int, default=10, help="no-change syncs through a warm `baton serve` per round")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as base:
        data = os.path.join(base, "data")
        subprocess.run([sys.executable, GEN, data, str(a.tracks)], check=True, stdout=subprocess.DEVNULL)
        drive = os.path.join(base, "drive")  # the grant's path; recreated empty every round
        homes = {}
        for k, b in enumerate(a.bins):
            d = os.path.join(base, f"t{k}")
            os.makedirs(d)
            t = time.monotonic()
            homes[b] = template(b, d, data, drive)
            print(f"{b}: catalog imported in {time.monotonic() - t:.1f} s", flush=True)
        stats = {b: {"first": [], "rss": [], "again": [], "nochange": [], "echo": [], "warm": [], "warm_cpu": [], "warm_wait": [], "warm_echo": []} for b in a.bins}
        n = 0
        for r in range(a.rounds):
            for b in a.bins:
                home = os.path.join(base, "round")
                shutil.rmtree(home, ignore_errors=True)
                shutil.rmtree(drive, ignore_errors=True)
                os.makedirs(drive)
                shutil.copytree(homes[b], home, symlinks=True)
                s = stats[b]
                n += 1
                task(home, n, "echo", "echo", {"i": n})
                s["echo"].append(serve(b, home, "echo")[0])
                n += 1
                task(home, n, "drive-sync", "sync", {})
                wall, rss = serve(b, home, "first")
                res = result(home, n)
                rows = {c["name"]: (c["rows"], c["written"]) for c in res["collections"]}
                assert rows == {"tracks": (a.tracks, True), "playlists": (500, True)}, rows
                s["first"].append(wall)
                s["rss"].append(rss)
                for i in range(a.nochange + 1):
                    n += 1
                    task(home, n, "drive-sync", "sync", {})
                    wall, _ = serve(b, home, "again" if i == 0 else "nochange")
                    res = result(home, n)
                    assert all(not c["written"] for c in res["collections"]), res
                    (s["again"] if i == 0 else s["nochange"]).append(wall)
                # The same no-change sync through a warm daemon, one TASK at a time (drop →
                # RETURN): what a user running `baton serve` as a service sees.
                if a.daemon:
                    d = Daemon(b, home, ENV)
                    try:
                        for i in range(a.daemon + 1):
                            if i == 1:
                                cpu0, sched0 = d.cpu(), d.sched()
                            dt, ret = d.run("drive-sync", "sync", {})
                            assert ret["status"] == "completed", ret
                            assert all(not c["written"] for c in ret["result"]["collections"]), ret
                            if i > 0:  # the first loads the daemon's caches
                                s["warm"].append(dt)
                        s["warm_cpu"].append((d.cpu() - cpu0) / a.daemon)
                        s["warm_wait"].append((d.sched()[1] - sched0[1]) / 1e9 / a.daemon)
                        for i in range(a.daemon + 1):
                            dt, ret = d.run("echo", "echo", {"i": i})
                            if i > 0:
                                s["warm_echo"].append(dt)
                    finally:
                        d.stop()
                if r == 0:
                    sheet = open(os.path.join(drive, "Tracks", "Tracks.csv"), "rb").read()
                    export = subprocess.run([b, "--home", home, "catalog", "export", "tracks", "--csv"], check=True,
                                            capture_output=True, env=ENV).stdout
                    assert sheet == export, "the sheet differs from `catalog export tracks --csv`"
                print(f"{b} round {r + 1}: first sync {s['first'][-1]:.2f} s ({s['rss'][-1] // 1024} MB), "
                      f"next {s['again'][-1] * 1000:.0f} ms, no change "
                      + ", ".join(f"{x * 1000:.0f}" for x in s["nochange"][-a.nochange:]) + " ms, "
                      f"echo {s['echo'][-1] * 1000:.0f} ms; warm daemon no change median "
                      f"{(statistics.median(s['warm'][-a.daemon:]) * 1000) if a.daemon else float('nan'):.1f} ms "
                      f"(daemon CPU {(s['warm_cpu'][-1] * 1000) if a.daemon else float('nan'):.1f} ms/sync, "
                      f"waiting for a CPU {(s['warm_wait'][-1] * 1000) if a.daemon else float('nan'):.1f} ms/sync); "
                      f"load {os.getloadavg()[0]:.2f}", flush=True)
        for b in a.bins:
            s = stats[b]
            med = lambda v: statistics.median(v) if v else float("nan")
            print(f"{b}: first sync median {med(s['first']):.2f} s (peak RSS median {med(s['rss']) // 1024:.0f} MB); "
                  f"no-change median {med(s['nochange']) * 1000:.0f} ms (first after the write {med(s['again']) * 1000:.0f} ms); "
                  f"serve --once with one echo TASK {med(s['echo']) * 1000:.0f} ms; through a warm `baton serve`: "
                  f"no-change sync median {med(s['warm']) * 1000:.1f} ms ({len(s['warm'])} syncs, drop → RETURN; "
                  f"daemon CPU {med(s['warm_cpu']) * 1000:.1f} ms/sync, runnable but waiting for a CPU {med(s['warm_wait']) * 1000:.1f} ms/sync), "
                  f"echo {med(s['warm_echo']) * 1000:.1f} ms")
            for label in ["first", "nochange", "echo"]:
                v = COUNTS.get((b, label))
                if v:
                    print(f"  perf stat {label}: median {statistics.median(i for i, _ in v) / 1e9:.3f} G instructions, "
                          f"{statistics.median(c for _, c in v):.0f} ms CPU")


        if len(a.bins) > 1:
            ref = stats[a.bins[0]]
            med = lambda v: statistics.median(v) if v else float("nan")
            for b in a.bins[1:]:
                s = stats[b]
                print(f"ratio {b} / {a.bins[0]}: first sync {med(s['first']) / med(ref['first']):.2f}x, "
                      f"no change (serve --once) {med(s['nochange']) / med(ref['nochange']):.2f}x, "
                      f"no change (warm daemon) {med(s['warm']) / med(ref['warm']):.2f}x, "
                      f"echo (serve --once) {med(s['echo']) / med(ref['echo']):.2f}x")
        print(f"load average at the end {os.getloadavg()}")


if __name__ == "__main__":
    main()
