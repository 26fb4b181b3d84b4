#!/usr/bin/env python3
"""Deep-mode benchmark (issue 18): recall and precision of `baton fp dedup` in the default mode,
in deep mode (`fp scan --deep`), and of whole-track `fpcalc -length 0` prints compared
all-pairs, on the issue's hard variant set; plus scan files/s of each.

    tools/bench-deep.py SETDIR [BATON] [FP_BENCH]

SETDIR/files is built on first use from Debian `singularity-music` (apt-get install
singularity-music ffmpeg libchromaprint-tools): each long track (the top-level .ogg files)
is an original in FLAC with 8 variants made by ffmpeg (a mid-track 30 s AAC clip, a 15 s clip
at 70 %, tempo +2 % and -3 %, a radio edit: intro cut and a 30 s chunk removed, turntable +2 %,
pink noise, a remaster); the short tracks in its subfolders and the tracks of Debian
`hyperrogue-music` are the unrelated ones (20 in all).
BATON defaults to target/debug/baton, FP_BENCH to target/debug/fp-bench (`cargo build -p
baton-fp --bin fp-bench`: the dev profile builds baton-fp and its dependencies at opt-level 2).
Pairs are counted over groups (the transitive closure), the same way for all three methods.
ORIGINALS=N and UNRELATED=M in the environment build a smaller set (default 13 and 20).
"""
import collections
import glob
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

MUSIC = "/usr/share/games/singularity/music"
VARIANTS = {
    "clip30": lambda d: ["-ss", f"{d / 2 - 15:.2f}", "-t", "30", "-c:a", "aac", "-b:a", "128k"],
    "clip15": lambda d: ["-ss", f"{d * 0.7:.2f}", "-t", "15", "-c:a", "libmp3lame", "-b:a", "160k"],
    "tempo+2": lambda d: ["-af", "atempo=1.02", "-c:a", "libmp3lame", "-b:a", "192k"],
    "tempo-3": lambda d: ["-af", "atempo=0.97", "-c:a", "libmp3lame", "-b:a", "192k"],
    "radio": lambda d: ["-filter_complex", "[0:a]atrim=30:60,asetpts=PTS-STARTPTS[a];[0:a]atrim=90,asetpts=PTS-STARTPTS[b];[a][b]concat=n=2:v=0:a=1", "-c:a", "libmp3lame", "-b:a", "192k"],
    "turntable+2": lambda d: ["-af", "asetrate=44100*1.02,aresample=44100", "-c:a", "libmp3lame", "-b:a", "192k"],
    "noise": lambda d: ["-filter_complex", f"anoisesrc=color=pink:amplitude=0.05:d={d:.1f}[n];[0:a][n]amix=inputs=2:duration=first:normalize=0", "-c:a", "libmp3lame", "-b:a", "192k"],
    "remaster": lambda d: ["-af", "equalizer=f=120:t=q:w=1:g=4,equalizer=f=6000:t=q:w=1:g=3,acompressor=threshold=0.2:ratio=3,volume=2dB", "-c:a", "libmp3lame", "-b:a", "320k"],
}
EXT = {"clip30": "m4a"}


def ffmpeg(*args):
    if os.path.exists(args[-1]):
        return  # an interrupted build resumes
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-nostdin", *args[:-1], args[-1] + ".part." + args[-1].rsplit(".", 1)[1]], check=True)
    os.rename(args[-1] + ".part." + args[-1].rsplit(".", 1)[1], args[-1])


def duration(path):
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path], capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def build(files, n_originals=13, n_unrelated=20):
    os.makedirs(files, exist_ok=True)
    originals = sorted(glob.glob(f"{MUSIC}/*.ogg"))[:n_originals]
    unrelated = sorted(glob.glob(f"{MUSIC}/*/*.ogg")) + sorted(glob.glob("/usr/share/hyperrogue/music/*.ogg"))
    if not originals:
        sys.exit(f"no {MUSIC}/*.ogg: apt-get install singularity-music")
    for i, src in enumerate(originals, 1):
        d = duration(src)
        ffmpeg("-i", src, "-c:a", "flac", f"{files}/h{i:02d}-orig.flac")
        for name, args in VARIANTS.items():
            ffmpeg("-i", src, *args(d), f"{files}/h{i:02d}-{name}.{EXT.get(name, 'mp3')}")
    i = 0
    for src in unrelated:
        if i == n_unrelated:
            break
        try:
            ffmpeg("-i", src, "-c:a", "libmp3lame", "-b:a", "192k", f"{files}/u{i + 1:02d}-single.mp3")
            i += 1
        except subprocess.CalledProcessError:
            print(f"skipped (ffmpeg cannot decode it): {src}", file=sys.stderr)


def truth_pairs(paths):
    by = collections.defaultdict(list)
    for p in paths:
        by[os.path.basename(p).split("-")[0]].append(p)
    return {tuple(sorted(x)) for g in by.values() for x in itertools.combinations(g, 2)}


def pairs_of_groups(groups):
    return {tuple(sorted(x)) for g in groups for x in itertools.combinations(g, 2)}


def union(pairs):
    parent = {}

    def find(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        parent[find(a)] = find(b)
    groups = collections.defaultdict(set)
    for x in list(parent):
        groups[find(x)].add(x)
    return list(groups.values())


def score(name, found, truth, seconds, files):
    tp = found & truth
    per = {}
    for t in list(VARIANTS) + ["all"]:
        want = {p for p in truth if t == "all" or any(os.path.basename(x).split("-", 1)[1].startswith(t + ".") for x in p) and any("-orig." in x for x in p)}
        per[t] = len(want & found) / max(len(want), 1)
    prec = len(tp) / max(len(found), 1)
    print(f"| {name} | {prec:.3f} | {per['all']:.3f} | " + " | ".join(f"{per[t]:.2f}" for t in VARIANTS) + f" | {files / seconds:.2f} |", flush=True)
    for p in sorted(found - truth):
        print(f"  false pair: {p}", file=sys.stderr)


def baton_run(baton, deep, files, paths):
    home = tempfile.mkdtemp(prefix="bench-deep-home-")
    try:
        t = time.time()
        scan = ["scan", "--json", files] + (["--deep"] if deep else [])
        s = json.loads(subprocess.run([baton, "--home", home, "fp", *scan], check=True, capture_output=True, text=True).stdout)
        scanned = time.time() - t
        for e in s["errors"]:
            print(f"  scan error: {e['error']}", file=sys.stderr)
        t = time.time()
        out = subprocess.run([baton, "--home", home, "fp", "dedup", "--json"], check=True, capture_output=True, text=True).stdout
        dedup = time.time() - t
        d = json.loads(out)
        groups = [set([g["keeper"], *g["duplicates"]]) for g in d["groups"]]
        print(f"  {'deep' if deep else 'default'}: scan {scanned:.1f} s, dedup {dedup:.1f} s, deep stats {d.get('deep')}", file=sys.stderr)
        return pairs_of_groups(groups), scanned
    finally:
        shutil.rmtree(home, ignore_errors=True)


def main():
    setdir = os.path.abspath(sys.argv[1])
    baton = os.path.abspath(sys.argv[2] if len(sys.argv) > 2 else "target/debug/baton")
    fp_bench = os.path.abspath(sys.argv[3] if len(sys.argv) > 3 else "target/debug/fp-bench")
    files = f"{setdir}/files"
    # ORIGINALS / UNRELATED (environment) make a smaller set: 13 and 20 by default, as the issue
    build(files, int(os.environ.get("ORIGINALS", 13)), int(os.environ.get("UNRELATED", 20)))
    paths = sorted(p for p in glob.glob(f"{files}/*") if ".part." not in p)
    truth = truth_pairs(paths)
    print(f"{len(paths)} files, {len(truth)} true pairs, {len(paths) * (len(paths) - 1) // 2} pairs in all", file=sys.stderr)
    print("| method | precision | recall | " + " | ".join(VARIANTS) + " | scan files/s |")
    print("|---|---:|---:|" + "---:|" * len(VARIANTS) + "---:|")
    for deep in (False, True):
        found, secs = baton_run(baton, deep, files, paths)
        score("baton default" if not deep else "baton --deep", found, truth, secs, len(paths))
    t = time.time()
    out = subprocess.run([fp_bench, "fpcalc-all-pairs", *paths], check=True, capture_output=True, text=True)
    secs = time.time() - t
    print("  " + out.stderr.strip(), file=sys.stderr)
    pairs = [tuple(l.split("\t")[:2]) for l in out.stdout.splitlines() if l]
    found = pairs_of_groups(union(pairs))
    score("fpcalc -length 0, all pairs", found, truth, secs, len(paths))


if __name__ == "__main__":
    main()
