#!/usr/bin/env bash
# How long a plugin author waits: `./build.sh` of `baton plugin new` scaffolds (Python,
# JavaScript, Rust) run again with nothing changed, then touched (one source file's mtime and
# content changed), and, for the Python plugin, `baton plugin install` and the first
# `baton call` after it with a cold compiled-plugin cache (a fresh XDG_CACHE_HOME).
#
# Usage: bench/plugin_build_bench.sh BATON [RUNS] [LANGS] [WHAT]
#   BATON  the baton binary whose templates are measured (the one before a change, or after)
#   RUNS   runs per measurement (default 5); medians are printed by hyperfine
#   LANGS  which scaffolds (default "python js rust")
#   WHAT   which measurements (default "unchanged changed install"); a build.sh without a
#          stamp rebuilds every time, so for the one before the change "unchanged" is enough
# With BENCH_JSON=DIR set, hyperfine also writes each measurement's runs (and median) there.
# Needs hyperfine (`apt-get install hyperfine`). The toolchains are the ones the scaffolds find
# (PATH, or the shared per-user install); run once before measuring so that first installs
# are not timed. Prints the machine's load average before each measurement: the machine is
# shared, and a figure means little without it.
set -euo pipefail
baton=$(realpath "$1")
runs=${2:-5}
langs=${3:-python js rust}
what=" ${4:-unchanged changed install} "
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
load() { echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"; }
json() { if [[ -n ${BENCH_JSON:-} ]]; then echo --export-json "$BENCH_JSON/$1.json"; fi; }
for lang in $langs; do
  dir=$work/${lang}p
  "$baton" plugin new "${lang}p" --lang "$lang" --dir "$dir" >/dev/null
  src=$(ls "$dir"/src/*)
  echo "== $lang: first build"
  load
  start=$(date +%s.%N)
  (cd "$dir" && CARGO_TARGET_DIR=$work/target ./build.sh >/dev/null)
  echo "first build: $(echo "$(date +%s.%N) - $start" | bc) s"
  if [[ $what == *" unchanged "* ]]; then
    echo "== $lang: ./build.sh with nothing changed"
    load
    (cd "$dir" && CARGO_TARGET_DIR=$work/target hyperfine -N --runs "$runs" --style basic $(json "$lang-unchanged") ./build.sh)
  fi
  if [[ $what == *" changed "* ]]; then
    echo "== $lang: ./build.sh after a source changed (a blank line appended)"
    load
    (cd "$dir" && CARGO_TARGET_DIR=$work/target hyperfine --runs "$runs" --style basic $(json "$lang-changed") \
      --prepare "echo >> $src" ./build.sh)
  fi
done
if [[ " $langs " == *" python "* && $what == *" install "* ]]; then
  echo "== python: plugin install, then the first call, cold compile cache"
  for i in $(seq "$runs"); do
    home=$work/home-$i
    export XDG_CACHE_HOME=$work/cache-$i
    "$baton" --home "$home" init >/dev/null
    load
    start=$(date +%s.%N)
    "$baton" --home "$home" plugin install "$work/pythonp/pythonp.wasm" >/dev/null
    mid=$(date +%s.%N)
    "$baton" --home "$home" call pythonp hello >/dev/null
    end=$(date +%s.%N)
    echo "run $i: install $(echo "$mid - $start" | bc) s, first call $(echo "$end - $mid" | bc) s"
  done
fi
