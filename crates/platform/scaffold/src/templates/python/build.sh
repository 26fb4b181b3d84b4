#!/usr/bin/env bash
# Builds {{name}}.wasm from src/app.py with componentize-py {{componentize_py}} (pinned): the one in
# .venv/, else one on PATH of exactly that version, else it installs it into .venv/ (from PyPI).
# Once installed, builds need no network.
set -euo pipefail
cd "$(dirname "$0")"
version={{componentize_py}}
pinned() { [[ -x $1 ]] && [[ "$("$1" --version 2>/dev/null)" == "componentize-py $version" ]]; }
tool=.venv/bin/componentize-py
if ! pinned "$tool"; then
  if on_path=$(command -v componentize-py) && pinned "$on_path"; then
    tool=$on_path
  else
    echo "installing componentize-py $version into .venv/" >&2
    python3 -m venv .venv
    .venv/bin/python -m pip install --quiet --disable-pip-version-check "componentize-py==$version"
  fi
fi
"$tool" -d wit -w {{world}} componentize -p src app -o {{name}}.wasm.part
mv {{name}}.wasm.part {{name}}.wasm
echo "built $(pwd)/{{name}}.wasm"
