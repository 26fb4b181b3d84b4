#!/usr/bin/env bash
# Writes the state database of a home made by one release of baton, as SQL text, for the
# upgrade test (tests/platform/upgrade.rs): `tools/upgrade-fixture.sh <that release's baton>
# <out.sql>`. The home is the demo's (tasks completed, rejected and observed, an audit, the
# spotify sample import into the catalog), plus a fingerprint scan of four generated tones (one
# copied: a duplicate) and a CSV import into the catalog, so every schema holds rows.
#
# The dump is Python's `iterdump` (tables and their rows first, then indexes and triggers, so
# no trigger fires while it loads) followed by the file's `PRAGMA user_version`, which a dump
# does not carry and which is how that release versioned its ledger.
set -euo pipefail
bin=$(realpath "$1")
out=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
home=$work/home
export BATON_LOG=warn XDG_CACHE_HOME=$work/cache
unset BATON_STATE BATON_HOME
"$bin" demo --dir "$home" > /dev/null
mkdir "$work/music"
for f in 330 440 550; do
    ffmpeg -loglevel error -f lavfi -i "sine=frequency=$f:duration=15" -f lavfi -i "anoisesrc=d=15:a=0.05:seed=$f" \
        -filter_complex amix=inputs=2 -ar 44100 "$work/music/tone-$f.flac"
done
cp "$work/music/tone-440.flac" "$work/music/tone-440-copy.flac"
"$bin" --home "$home" fp scan "$work/music" > /dev/null
printf 'key,title,artists,duration_ms,isrc\nt1,First Light,Ana Lee;Bo,201000,USRC17607839\nt2,Second Wind,Ana Lee,187500,\n' > "$work/tracks.csv"
"$bin" --home "$home" catalog import tracks "$work/tracks.csv" > /dev/null
python3 - "$home/state/baton.sqlite" "$out" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
version = c.execute("PRAGMA user_version").fetchone()[0]
with open(sys.argv[2], "w") as f:
    f.write("-- The state database of a home made by an earlier baton (tools/upgrade-fixture.sh).\n")
    for line in c.iterdump():
        f.write(line + "\n")
    f.write(f"PRAGMA user_version = {version};\n")
PY
