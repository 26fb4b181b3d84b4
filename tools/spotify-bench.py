#!/usr/bin/env python3
"""The spotify import benchmark (issue 13): 132 Exportify playlist CSVs holding 20,000 distinct
tracks (about 5 MB, both lineages), imported through `baton serve --once` and the wasm plugin;
then `playlists-for-track` per task, end to end. The import's wall time includes process start
and plugin load (from the compiled cache after the first round). `playlists-for-track` is timed
two ways: one TASK at a time through a warm `baton serve` (drop → RETURN, what a user running
serve as a service sees: the figure for the target), and LOOKUPS TASKs in one `serve --once`
(start-up included, divided by LOOKUPS). Several binaries (before/after) alternate round by
round in one run, and the ratios against the first are printed. The plans audit is off in the
timed homes (handoffs only).

  CARGO_TARGET_DIR=target-rel cargo build --release -p baton-app --bins   # `baton` and `baton-host`
  tools/spotify-bench.py BATON [BATON2 ...] [--rounds 3] [--lookups 50] [--daemon-tasks 100]

Targets: the import under 3 s; `playlists-for-track` median under 5 ms per task.

Each round also times the reference tool, `tools/spotify-reference.py` (the Python csv + sqlite3
merge script the hand-glued setup proposed and never wrote): its import of the same folder, and
its lookups, one process each (as a script or an agent shelling out to it runs them).
"""
import argparse, csv, io, json, os, random, shutil, statistics, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchhome import Daemon  # noqa: E402

PLAYLISTS, TRACKS = 132, 20000
PAVEL = ["Track URI", "Track Name", "Album Name", "Artist Name(s)", "Release Date", "Duration (ms)", "Popularity",
         "Explicit", "Added By", "Added At", "Genres", "Record Label", "Danceability", "Energy", "Key", "Loudness",
         "Mode", "Speechiness", "Acousticness", "Instrumentalness", "Liveness", "Valence", "Tempo", "Time Signature"]
WATSON = ["Track URI", "Track Name", "Artist URI(s)", "Artist Name(s)", "Album URI", "Album Name", "Album Artist URI(s)",
          "Album Artist Name(s)", "Album Release Date", "Album Image URL", "Disc Number", "Track Number",
          "Track Duration (ms)", "Track Preview URL", "Explicit", "Popularity", "ISRC", "Added By", "Added At"]
B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def tid(rng):
    return "".join(rng.choice(B62) for _ in range(22))


def generate(folder, seed=13):
    rng = random.Random(seed)
    tracks = []
    for i in range(TRACKS):
        artists = [f"Artist {rng.randrange(4000)}" for _ in range(rng.choice([1, 1, 1, 2]))]
        tracks.append({"uri": "spotify:track:" + tid(rng), "title": f"Song {i} {rng.choice(['Live', 'Mix', 'Edit', ''])}".strip(),
                       "artists": artists, "album": f"Album {i // 10}", "ms": rng.randrange(120000, 420000),
                       "isrc": f"US{rng.choice('ABCDEFGH')}{rng.randrange(10, 99)}{rng.randrange(10, 99)}{i:05d}"})
    # every track on at least one playlist; about 40% on two or three
    members = [[] for _ in range(PLAYLISTS)]
    for t in tracks:
        for p in rng.sample(range(PLAYLISTS), rng.choice([1, 1, 1, 2, 3])):
            members[p].append(t)
    size = 0
    for p, ts in enumerate(members):
        out = io.StringIO()
        if p % 2 == 0:
            w = csv.writer(out, lineterminator="\n")
            w.writerow(PAVEL)
            for t in ts:
                w.writerow([t["uri"], t["title"], t["album"], ";".join(t["artists"]), "2020-01-01", t["ms"], 50, "false",
                            "spotify:user:me", f"2021-{rng.randrange(1, 13):02d}-01T00:00:00Z", "pop", "Label"] + ["0.5"] * 12)
            text = "\ufeff" + out.getvalue()
        else:
            w = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
            w.writerow(WATSON)
            for t in ts:
                w.writerow([t["uri"], t["title"], "", ", ".join(a.replace(",", "\\,") for a in t["artists"]), "", t["album"], "",
                            "", "2020-01-01", "", "1", "1", t["ms"], "", "false", "50", t["isrc"], "spotify:user:me",
                            f"2021-{rng.randrange(1, 13):02d}-01T00:00:00Z"])
            text = out.getvalue()
        with open(os.path.join(folder, f"playlist_{p:03d}.csv"), "w", encoding="utf-8") as f:
            f.write(text)
        size += len(text.encode())
    return tracks, size


def run_serve(bin_, home, env, counts=None):
    """One `baton serve --once`; with BENCH_PERF_STAT=1 under `perf stat`, appending
    (instructions, CPU ms) to `counts`: a machine shared with other work inflates the wall
    time, not the instructions."""
    if os.environ.get("BENCH_PERF_STAT") != "1" or counts is None:
        subprocess.run([bin_, "--home", home, "serve", "--once"], check=True, env=env)
        return
    out = os.path.join(home, ".perf-stat")
    subprocess.run(["perf", "stat", "-x,", "-o", out, "-e", "instructions,task-clock", bin_, "--home", home, "serve", "--once"],
                   check=True, env=env)
    vals = {}
    for line in open(out):
        f = line.strip().split(",")
        if len(f) > 2 and f[0] and not line.startswith("#"):
            try:
                vals[f[2].split(":")[0]] = float(f[0])
            except ValueError:
                pass
    counts.append((vals.get("instructions", float("nan")), vals.get("task-clock", float("nan"))))


def median(v):
    return statistics.median(v) if v else float("nan")


def one_round(bin_, base, spot, r, tracks, lookups, daemon_tasks, env, st):
    """Import into a fresh home, then `lookups` playlists-for-track in one `serve --once`, an
    empty `serve --once`, and `daemon_tasks` playlists-for-track through a warm `baton serve`."""
    home = os.path.join(base, f"home-{r}-{abs(hash(bin_)) % 10000}")
    subprocess.run([bin_, "--home", home, "init"], check=True, stdout=subprocess.DEVNULL, env=env)
    toml = os.path.join(home, "baton.toml")
    # handoffs only: no plans audit after each drain (as in the other benchmarks)
    text = open(toml).read().replace("enabled = true", "enabled = false")
    text += (f'\n[plugins.spotify]\ngrants = {{ spotify = "{spot}" }}\n'
             'catalog = { read = ["files"], write = ["tracks", "artists", "playlists"] }\ntime_ms = 600000\noutput_kb = 65536\n')
    open(toml, "w").write(text)
    inbox = os.path.join(home, "handoffs/baton/01_inbox")

    def task(i, action, params):
        body = {"schema": "baton.handoff/v1", "id": f"B{i}", "kind": "task", "created_at": "2026-01-18T07:09:51Z",
                "from": "Bench-Agent", "title": action, "plugin": "spotify", "action": action, "params": params}
        tmp = os.path.join(home, ".tmp")
        with open(tmp, "w") as f:
            json.dump(body, f)
        os.rename(tmp, os.path.join(inbox, f"20260118T070951Z__TASK__B{i}__Bench-Agent.json"))

    task(0, "import", {})
    t = time.monotonic()
    run_serve(bin_, home, env, st["icounts"])
    st["import"].append(time.monotonic() - t)
    ret = [f for f in os.listdir(os.path.join(home, "handoffs/Bench-Agent/01_inbox")) if "__RETURN__" in f]
    with open(os.path.join(home, "handoffs/Bench-Agent/01_inbox", ret[0])) as f:
        res = json.load(f)
    assert res["status"] == "completed", res
    assert res["result"]["tracks"] == TRACKS, res["result"]["tracks"]
    # playlists-for-track, all dropped at once into one `serve --once` (start-up included)
    rng = random.Random(1 + r)
    for i in range(lookups):
        task(1000 + i, "playlists-for-track", {"uri": rng.choice(tracks)["uri"]})
    t = time.monotonic()
    run_serve(bin_, home, env, st["lcounts"])
    st["once50"].append((time.monotonic() - t) / lookups)
    # The fixed part of that figure: a `serve --once` with nothing to do.
    t = time.monotonic()
    subprocess.run([bin_, "--home", home, "serve", "--once"], check=True, env=env)
    st["empty"].append(time.monotonic() - t)
    # A warm daemon: one TASK at a time, drop → RETURN (inotify). Five warm-up tasks first.
    d = Daemon(bin_, home, env)
    try:
        for i in range(5 + daemon_tasks):
            if i == 5:
                cpu0, sched0 = d.cpu(), d.sched()
            dt, ret = d.run("spotify", "playlists-for-track", {"uri": rng.choice(tracks)["uri"]})
            assert ret["status"] == "completed", ret
            assert ret["result"]["playlists"], ret
            if i >= 5:
                st["daemon"].append(dt)
        st["daemon_cpu"].append((d.cpu() - cpu0) / daemon_tasks)
        st["daemon_wait"].append((d.sched()[1] - sched0[1]) / 1e9 / daemon_tasks)
        for i in range(5 + daemon_tasks // 2):
            dt, ret = d.run("echo", "echo", {"i": i})
            assert ret["status"] == "completed", ret
            if i >= 5:
                st["echo"].append(dt)
    finally:
        d.stop()
    shutil.rmtree(home, ignore_errors=True)


REFERENCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "spotify-reference.py")


def reference_round(base, spot, r, tracks, lookups, ref):
    """The reference tool on the same folder: one import into a new SQLite file, then
    `lookups` lookups, one process each."""
    db = os.path.join(base, f"reference-{r}.sqlite")
    t = time.monotonic()
    subprocess.run([sys.executable, REFERENCE, "import", db, spot], check=True)
    ref["import"].append(time.monotonic() - t)
    rng = random.Random(1 + r)
    for _ in range(lookups):
        t = time.monotonic()
        out = subprocess.run([sys.executable, REFERENCE, "lookup", db, rng.choice(tracks)["uri"]], check=True, capture_output=True).stdout
        ref["lookup"].append(time.monotonic() - t)
        assert json.loads(out)["playlists"], out
    os.remove(db)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bins", nargs="+")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--lookups", type=int, default=50)
    ap.add_argument("--daemon-tasks", type=int, default=100)
    a = ap.parse_args()
    env = {**os.environ, "BATON_LOG": "warn"}
    with tempfile.TemporaryDirectory() as base:
        spot = os.path.join(base, "spot")
        os.makedirs(spot)
        tracks, size = generate(spot)
        print(f"{PLAYLISTS} playlists, {TRACKS} tracks, {size / 1e6:.1f} MB of CSV; load average {os.getloadavg()}", flush=True)
        stats = {b: {k: [] for k in ["import", "once50", "empty", "daemon", "daemon_cpu", "daemon_wait", "echo", "icounts", "lcounts"]} for b in a.bins}
        ref = {"import": [], "lookup": []}
        for r in range(a.rounds):
            reference_round(base, spot, r, tracks, a.lookups, ref)
            print(f"reference round {r + 1}: import {ref['import'][-1]:.2f} s; lookup median "
                  f"{median(ref['lookup'][-a.lookups:]) * 1000:.2f} ms (one process each)", flush=True)
            # alternate the binaries, and their order from round to round
            for b in (a.bins if r % 2 == 0 else a.bins[::-1]):
                st = stats[b]
                one_round(b, base, spot, r, tracks, a.lookups, a.daemon_tasks, env, st)
                dm = st["daemon"][-a.daemon_tasks:]
                print(f"{b} round {r + 1}: import {st['import'][-1]:.2f} s; {a.lookups} playlists-for-track in one serve --once "
                      f"{st['once50'][-1] * 1000:.2f} ms/task; empty serve --once {st['empty'][-1] * 1000:.0f} ms; warm daemon "
                      f"playlists-for-track median {median(dm) * 1000:.2f} ms (daemon CPU {st['daemon_cpu'][-1] * 1000:.2f} ms/task, waiting for a CPU {st['daemon_wait'][-1] * 1000:.2f} ms/task), echo {median(st['echo'][-(a.daemon_tasks // 2):]) * 1000:.2f} ms; "
                      f"load {os.getloadavg()[0]:.2f}", flush=True)
        for b in a.bins:
            st = stats[b]
            d = sorted(st["daemon"])
            p90 = d[int(0.9 * (len(d) - 1))] if d else float("nan")
            print(f"{b}: import median {median(st['import']):.2f} s over {a.rounds} rounds; "
                  f"playlists-for-track through a warm `baton serve`: median {median(d) * 1000:.2f} ms, p90 {p90 * 1000:.2f} ms "
                  f"({len(d)} tasks, one at a time, drop → RETURN; daemon CPU {median(st['daemon_cpu']) * 1000:.2f} ms/task, runnable but waiting for a CPU {median(st['daemon_wait']) * 1000:.2f} ms/task); echo on the same daemon {median(st['echo']) * 1000:.2f} ms; "
                  f"{a.lookups} in one serve --once {median(st['once50']) * 1000:.2f} ms/task (start-up included); "
                  f"empty serve --once {median(st['empty']) * 1000:.0f} ms")
            if st["icounts"]:
                print(f"  perf stat: import median {median([i for i, _ in st['icounts']]) / 1e9:.2f} G instructions, "
                      f"{median([c for _, c in st['icounts']]):.0f} ms CPU; {a.lookups} playlists-for-track in one serve --once "
                      f"{median([c for _, c in st['lcounts']]):.0f} ms CPU")
        print(f"reference (tools/spotify-reference.py): import median {median(ref['import']):.2f} s; lookup median "
              f"{median(ref['lookup']) * 1000:.2f} ms ({len(ref['lookup'])} lookups, one process each)")
        for b in a.bins:
            st = stats[b]
            print(f"ratio {b} / reference: import {median(st['import']) / median(ref['import']):.2f}x, "
                  f"playlists-for-track (warm serve) {median(st['daemon']) / median(ref['lookup']):.3f}x")
        if len(a.bins) > 1:
            ref = stats[a.bins[0]]
            for b in a.bins[1:]:
                st = stats[b]
                print(f"ratio {b} / {a.bins[0]}: import {median(st['import']) / median(ref['import']):.2f}x, "
                      f"warm playlists-for-track {median(st['daemon']) / median(ref['daemon']):.2f}x, "
                      f"serve --once per task {median(st['once50']) / median(ref['once50']):.2f}x, "
                      f"empty serve --once {median(st['empty']) / median(ref['empty']):.2f}x")
        print(f"load average at the end {os.getloadavg()}")


if __name__ == "__main__":
    main()
