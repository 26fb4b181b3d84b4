#!/usr/bin/env bash
# usage: plugin_lang_runs.sh BATON WASM NAME N
# One `baton run` of `hello` with the compiled-component cache wiped (compile + task), 3 times,
# then N with it warm; wall time and peak RSS of each (/usr/bin/time). See bench/README.md.
set -euo pipefail
BATON=$1; WASM=$2; NAME=$3; N=${4:-10}
work=$(mktemp -d); home=$work/home; export XDG_CACHE_HOME=$work/cache BATON_LOG=warn
"$BATON" --home "$home" init >/dev/null
task() { cat >"$work/t-$1.json" <<JSON
{"schema":"baton.handoff/v1","id":"$1","kind":"task","created_at":"2026-01-18T07:09:51Z","from":"Bench-Agent","title":"b $1","plugin":"$NAME","action":"hello","params":{}}
JSON
}
# install compiles into the cache; measure it (this is the "first task" compile cost)
/usr/bin/time -f "install %e s %M KB" "$BATON" --home "$home" plugin install "$WASM" >/dev/null
# cold: wipe the compile cache, then one run (compile + instantiate + task)
for i in 1 2 3; do
  rm -rf "$XDG_CACHE_HOME/baton"
  task cold$i
  /usr/bin/time -f "cold-run %e s %M KB" "$BATON" --home "$home" run "$work/t-cold$i.json" >/dev/null
done
for i in $(seq 1 $N); do
  task warm$i
  /usr/bin/time -f "warm-run %e s %M KB" "$BATON" --home "$home" run "$work/t-warm$i.json" >/dev/null
done
rm -rf "$work"
