#!/usr/bin/env python3
"""Writes the drive-sync benchmark's catalog as CSVs for `baton catalog import`:
OUT/tracks.csv (N tracks, default 100,000) and OUT/playlists.csv (500 playlists, 400 tracks
each, no track twice in one playlist: 200,000 relations). Deterministic (seeded), so runs compare. Usage:
    bench/drive_sync_gen.py OUT [N]
"""
import csv, os, random, sys

out = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
os.makedirs(out, exist_ok=True)
rnd = random.Random(15)
words = "blue monday night drive sun rain echo city lights heart fire gold river dream".split()
with open(os.path.join(out, "tracks.csv"), "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["key", "title", "artists", "album", "duration_ms", "isrc"])
    for i in range(n):
        title = " ".join(rnd.choice(words).capitalize() for _ in range(rnd.randint(1, 4)))
        if i % 1000 == 0:
            title = "=" + title  # a formula-looking cell now and then
        w.writerow([f"t{i:06d}", title, f"Artist {i % 5000}", f"Album {i % 20000}",
                    rnd.randint(90_000, 600_000), f"QZ{i % 1000:03d}{i:07d}"[:12]])
with open(os.path.join(out, "playlists.csv"), "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["key", "name", "source", "tracks"])
    for p in range(500):
        # distinct tracks: the catalog refuses a relation that lists one key twice
        keys = ";".join(f"t{i:06d}" for i in rnd.sample(range(n), min(400, n)))
        w.writerow([f"p{p:03d}", f"Playlist {p}", "spotify", keys])
print(f"{out}: {n} tracks, 500 playlists x 400 tracks")
