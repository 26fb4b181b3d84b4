#!/usr/bin/env python3
"""The reference tool for tools/spotify-bench.py: the `merge_spotify_playlists.py` that the
hand-glued setup proposed and never wrote (seed 003), written the way that setup writes its
scripts: Python's csv and sqlite3, columns found by name, one track per URI (a second URI with
the same ISRC joins the first), playlists and their memberships in one SQLite file, in one
transaction. It does less than baton's `spotify import` (no account JSON, no per-playlist change
report, no translated headers, no catalog matcher, no sandbox, no change log), so it is a floor
for the work, not a rival. A lookup is one process, as a script or an agent shelling out to it
runs it.

  tools/spotify-reference.py import DB FOLDER   # merge every CSV in FOLDER into DB
  tools/spotify-reference.py lookup DB URI      # the playlists holding URI, as JSON
"""
import csv, json, os, sqlite3, sys

SCHEMA = """
CREATE TABLE IF NOT EXISTS tracks (uri TEXT PRIMARY KEY, isrc TEXT, title TEXT, artists TEXT, album TEXT, duration_ms INTEGER);
CREATE INDEX IF NOT EXISTS tracks_isrc ON tracks (isrc);
CREATE TABLE IF NOT EXISTS members (playlist TEXT, uri TEXT, position INTEGER, added_at TEXT, PRIMARY KEY (playlist, uri));
CREATE INDEX IF NOT EXISTS members_uri ON members (uri);
"""


def column(header, *names):
    for n in names:
        if n in header:
            return header.index(n)
    return None


def merge(db, folder):
    con = sqlite3.connect(db)
    con.executescript(SCHEMA)
    with con:
        for name in sorted(os.listdir(folder)):
            if not name.endswith(".csv"):
                continue
            playlist = name[:-4]
            with open(os.path.join(folder, name), newline="", encoding="utf-8-sig") as f:
                rows = csv.reader(f)
                header = [h.strip() for h in next(rows, [])]
                cols = [column(header, *n) for n in (("Track URI", "Spotify ID", "Track ID"), ("ISRC",), ("Track Name",),
                                                     ("Artist Name(s)",), ("Album Name",), ("Duration (ms)", "Track Duration (ms)"),
                                                     ("Added At",))]
                con.execute("DELETE FROM members WHERE playlist = ?", (playlist,))
                for pos, row in enumerate(rows):
                    uri, isrc, title, artists, album, ms, added = (row[i] if i is not None and i < len(row) else None for i in cols)
                    if not uri:
                        continue
                    if isrc:
                        hit = con.execute("SELECT uri FROM tracks WHERE isrc = ?", (isrc,)).fetchone()
                        uri = hit[0] if hit else uri
                    con.execute("INSERT OR IGNORE INTO tracks VALUES (?, ?, ?, ?, ?, ?)",
                                (uri, isrc or None, title, artists, album, int(ms) if ms and ms.isdigit() else None))
                    con.execute("INSERT OR REPLACE INTO members VALUES (?, ?, ?, ?)", (playlist, uri, pos, added))
    con.close()


def lookup(db, uri):
    con = sqlite3.connect(db)
    rows = con.execute("SELECT playlist, added_at FROM members WHERE uri = ? ORDER BY added_at", (uri,)).fetchall()
    print(json.dumps({"uri": uri, "playlists": [{"name": n, "added_at": a} for n, a in rows]}))


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("import", "lookup"):
        sys.exit(__doc__)
    (merge if sys.argv[1] == "import" else lookup)(sys.argv[2], sys.argv[3])
