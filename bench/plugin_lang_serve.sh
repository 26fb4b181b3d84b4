#!/usr/bin/env bash
# usage: plugin_lang_serve.sh BATON WASM NAME N -> N tasks through one `serve --once` (cache warm from install);
# the plugin call of each task (`elapsed_us` of the "completed" log line at BATON_LOG=info) and
# each RETURN's started_at → finished_at (which includes waiting for the batch write).
set -euo pipefail
BATON=$1; WASM=$2; NAME=$3; N=${4:-20}
work=$(mktemp -d); home=$work/home; export XDG_CACHE_HOME=${XDG_CACHE_HOME:-$work/cache} BATON_LOG=warn
"$BATON" --home "$home" init >/dev/null 2>&1
"$BATON" --home "$home" plugin install "$WASM" >/dev/null
for i in $(seq 1 "$N"); do
  id=D$i
  printf '{"schema":"baton.handoff/v1","id":"%s","kind":"task","created_at":"2026-01-18T07:09:51Z","from":"Bench-Agent","title":"d","plugin":"%s","action":"hello","params":{}}' "$id" "$NAME" > "$home/handoffs/baton/01_inbox/20260118T070951Z__TASK__${id}__Bench-Agent.json"
done
BATON_LOG=info /usr/bin/time -f "serve --once ($N tasks, cache warm): %e s, peak RSS %M KB" "$BATON" --home "$home" serve --once >/dev/null 2>"$work/err" || { cat "$work/err"; exit 1; }
grep "serve --once" "$work/err"; grep -o "elapsed_us=[0-9]*" "$work/err" | grep -v "^$" | sed "s/elapsed_us=//" | sort -n | awk "{a[NR]=\$1} END {print \"plugin call (elapsed_us of completed tasks): n=\" NR \" median \" a[int((NR+1)/2)]/1000 \" ms, min \" a[1]/1000 \" ms, max \" a[NR]/1000 \" ms\"}"
python3 - "$home" <<'PY'
import json, sys, glob, datetime, statistics
ms = []
p = lambda s: datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
for f in glob.glob(sys.argv[1] + "/handoffs/Bench-Agent/01_inbox/*RETURN*.json"):
    r = json.load(open(f)); assert r["status"] == "completed", r
    ms.append((p(r["finished_at"]) - p(r["started_at"])).total_seconds() * 1e3)
ms.sort()
print(f"per task (RETURN started_at -> finished_at): n={len(ms)} median {statistics.median(ms):.0f} ms, min {ms[0]:.0f}, max {ms[-1]:.0f}")
PY
rm -rf "$work"
