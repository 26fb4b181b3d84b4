#!/usr/bin/env bash
# Builds {{name}}.wasm from src/app.js with componentize-js {{componentize_js}} (pinned in
# package.json): the one in node_modules/, else one on PATH of exactly that version, else it
# installs it into node_modules/ (from npm). Once installed, builds need no network.
# `-d http fetch-event` leaves fetch() out: baton gives plugins no network, and refuses a
# component that imports it.
set -euo pipefail
cd "$(dirname "$0")"
version={{componentize_js}}
pinned() { [[ -x $1 ]] && [[ "$("$1" --version 2>/dev/null)" == "$version" ]]; }
tool=node_modules/.bin/componentize-js
if ! pinned "$tool"; then
  if on_path=$(command -v componentize-js) && pinned "$on_path"; then
    tool=$on_path
  else
    echo "installing componentize-js $version into node_modules/" >&2
    npm install --no-fund --no-audit --loglevel=error
  fi
fi
"$tool" src/app.js --wit wit --world-name {{world}} -d http fetch-event -o {{name}}.wasm.part
mv {{name}}.wasm.part {{name}}.wasm
echo "built $(pwd)/{{name}}.wasm"
