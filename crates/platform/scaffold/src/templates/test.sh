#!/usr/bin/env bash
# Builds the plugin, installs it into a throwaway baton home and runs `hello` once with `{}`:
# exits 0 when the task completes. $BATON names the baton binary (default: baton on PATH).
set -euo pipefail
cd "$(dirname "$0")"
baton=${BATON:-baton}
./build.sh
home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
# Quiet unless something fails.
quiet() { "$@" >"$home/out.log" 2>&1 || { cat "$home/out.log" >&2; exit 1; }; }
quiet "$baton" --home "$home" init
quiet "$baton" --home "$home" plugin install {{name}}.wasm
cat >"$home/task.json" <<JSON
{"schema": "baton.handoff/v1", "id": "{{name}}-test-$(date +%s%N)", "kind": "task",
 "created_at": "$(date -u +%Y-%m-%dT%H:%M:%SZ)", "from": "test", "title": "Try {{name}}",
 "plugin": "{{name}}", "action": "hello", "params": {}}
JSON
# Prints the RETURN; exits non-zero unless it is `completed`.
"$baton" --home "$home" run "$home/task.json"
echo "ok: {{name}} answered hello"
