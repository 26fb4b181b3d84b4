#!/usr/bin/env bash
# usage: plugin_lang_mem.sh BATON WASM NAME MB...  -> runs hello once per memory_mb value, prints status
set -euo pipefail
BATON=$1; WASM=$2; NAME=$3; shift 3
work=$(mktemp -d); home=$work/home; export XDG_CACHE_HOME=${XDG_CACHE_HOME:-$work/cache} BATON_LOG=warn
"$BATON" --home "$home" init >/dev/null 2>&1
"$BATON" --home "$home" plugin install "$WASM" >/dev/null
cp "$home/baton.toml" "$work/base.toml"
for mb in "$@"; do
  cp "$work/base.toml" "$home/baton.toml"
  printf '\n[plugins.%s]\nmemory_mb = %s\n' "$NAME" "$mb" >> "$home/baton.toml"
  printf '{"schema":"baton.handoff/v1","id":"m%s","kind":"task","created_at":"2026-01-18T07:09:51Z","from":"Bench-Agent","title":"m","plugin":"%s","action":"hello","params":{}}' "$mb" "$NAME" > "$work/t.json"
  st=$("$BATON" --home "$home" run "$work/t.json" 2>/dev/null | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["status"], (r.get("error") or {}).get("code",""))' || true)
  echo "memory_mb=$mb: $st"
done
rm -rf "$work"
