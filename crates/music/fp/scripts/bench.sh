#!/usr/bin/env bash
# Fingerprint-core benchmarks (bench/README.md, "## Fingerprint core").
# Usage: crates/music/fp/scripts/bench.sh CORPUS_DIR [RUNS]
#   CORPUS_DIR: the output folder of /work/shared/corpus/music.sh (files/ and truth.csv)
# Needs: fpcalc (libchromaprint-tools), ffmpeg, /usr/bin/time; builds fp-bench in release.
# `fp-bench scan` decodes in worker processes (`fp-bench __fp-worker`), as `baton fp scan` does.
# BASELINE=/path/to/another/fp-bench also times that build's scan in every run (same-run
# comparison, e.g. with the in-process decoding of an older commit).
set -euo pipefail
corpus=$(realpath "${1:?usage: bench.sh CORPUS_DIR [RUNS]}")
runs=${2:-3}
here=$(cd "$(dirname "$0")/../../.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/work/target-fp}
(cd "$here" && cargo build --release -q -p baton-fp --bin fp-bench)
bench=$CARGO_TARGET_DIR/release/fp-bench
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
find "$corpus/files" -type f | sort > "$work/list"
n=$(wc -l < "$work/list")
echo "machine: nproc=$(nproc) cpu=$(lscpu | sed -n 's/^Model name: *//p') load=$(cut -d' ' -f1-3 /proc/loadavg)"
echo "fpcalc: $(fpcalc -version)"
echo "== files/s: $n files, fpcalc once per file with 2 processes vs baton scan with 2 threads, $runs runs"
for r in $(seq "$runs"); do
  /usr/bin/time -f "%e %U %S" -o "$work/t_fpcalc" xargs -a "$work/list" -d '\n' -P2 -n1 fpcalc > /dev/null 2>&1 || true
  rm -f "$work"/db.sqlite*
  /usr/bin/time -f "%e %U %S" -o "$work/t_baton" "$bench" scan "$corpus/files" "$work/db.sqlite" 2 > "$work/scan.txt"
  if [[ -n ${BASELINE:-} ]]; then
    rm -f "$work"/base.sqlite*
    /usr/bin/time -f "%e %U %S" -o "$work/t_base" "$BASELINE" scan "$corpus/files" "$work/base.sqlite" 2 > /dev/null
    read -r xw xu xs < <(tail -1 "$work/t_base")
    echo "run $r baseline: $(awk -v n="$n" -v w="$xw" -v c="$(awk -v a="$xu" -v b="$xs" 'BEGIN{print a+b}')" 'BEGIN { printf "%.2f s wall, %.2f s cpu (%.2f files/s)", w, c, n / w }')"
  fi
  read -r fw fu fs < <(tail -1 "$work/t_fpcalc")
  read -r bw bu bs < <(tail -1 "$work/t_baton")
  awk -v n="$n" -v fw="$fw" -v fc="$(awk -v a="$fu" -v b="$fs" 'BEGIN{print a+b}')" -v bw="$bw" -v bc="$(awk -v a="$bu" -v b="$bs" 'BEGIN{print a+b}')" -v r="$r" -v s="$(cat "$work/scan.txt")" -v l="$(cut -d' ' -f1 /proc/loadavg)" \
    'BEGIN { printf "run %d (load %s): fpcalc %.2f s wall, %.2f s cpu (%.2f files/s)  baton %.2f s wall, %.2f s cpu (%.2f files/s)  wall ratio %.2fx  cpu ratio %.2fx  [%s]\n", r, l, fw, fc, n / fw, bw, bc, n / bw, fw / bw, fc / bc, s }'
done
echo "== bit agreement with fpcalc -raw (every file fpcalc can read)"
"$bench" agree $(cat "$work/list") | tail -1
echo "== pair precision / recall vs truth.csv (scan DB from the last run)"
(cd "$corpus" && "$bench" pairs . truth.csv "$work/db.sqlite" | tail -1)
echo "== fingerprint stage: 120 s 11025 Hz mono WAVs of the first 10 originals"
mkdir -p "$work/wav"
grep ',original$' "$corpus/truth.csv" | head -10 | cut -d, -f1 | while read -r f; do
  ffmpeg -v error -nostdin -y -i "$corpus/$f" -t 120 -ac 1 -ar 11025 -c:a pcm_s16le "$work/wav/$(basename "${f%.*}").wav"
done
ffmpeg -v error -nostdin -y -f lavfi -i "sine=f=440:d=3" -ac 1 -ar 11025 -c:a pcm_s16le "$work/three_seconds.wav"
for k in 1 2 3; do fpcalc "$work/three_seconds.wav" > /dev/null 2>&1 || true; done
t0=$(date +%s.%N); for k in $(seq 10); do fpcalc "$work/three_seconds.wav" > /dev/null 2>&1 || true; done; t1=$(date +%s.%N)
per=()
for w in "$work"/wav/*.wav; do
  best=999
  for k in 1 2 3; do
    a=$(date +%s.%N); fpcalc "$w" > /dev/null 2>&1 || true; b=$(date +%s.%N)
    best=$(awk -v a="$a" -v b="$b" -v m="$best" 'BEGIN { t = (b - a) * 1000; print (t < m ? t : m) }')
  done
  per+=("$best")
done
startup=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) * 100 }')
med=$(printf '%s\n' "${per[@]}" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }')
awk -v m="$med" -v s="$startup" 'BEGIN { printf "fpcalc per 120 s WAV: median %.1f ms wall (process incl.); fpcalc on a 3 s WAV: %.1f ms; stage estimate %.1f ms\n", m, s, m - s }'
"$bench" stage "$work"/wav/*.wav
