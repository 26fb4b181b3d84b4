#!/usr/bin/env bash
# Builds {{name}}.wasm from src/app.py with componentize-py {{componentize_py}} (pinned), unless
# nothing changed since the last build (the stamp below). The tool: the one your Python plugins
# share, a venv in ${XDG_CACHE_HOME:-~/.cache}/baton/toolchains/componentize-py-{{componentize_py}}/,
# else one of exactly that version on PATH, else it installs the shared one (from PyPI, once).
# Once installed, builds need no network.
set -euo pipefail
cd "$(dirname "$0")"
version={{componentize_py}}
tool_id="componentize-py $version"
inputs=(build.sh src wit)
{{stamp}}
toolchains=${XDG_CACHE_HOME:-$HOME/.cache}/baton/toolchains
venv=$toolchains/componentize-py-$version
# The venv is made under a temporary name and renamed into place, which leaves its console
# script's first line naming the old path: its python runs the tool instead.
shared() { "$venv/bin/python" -c 'import sys; from componentize_py import script; sys.exit(script())' "$@"; }
pinned() { [[ "$("$@" --version 2>/dev/null)" == "componentize-py $version" ]]; }
install_shared() {
  echo "installing componentize-py $version into $venv (shared by your Python plugins)" >&2
  mkdir -p "$toolchains"
  tmp=$(mktemp -d "$venv.new-XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  python3 -m venv "$tmp"
  "$tmp/bin/python" -m pip install --quiet --disable-pip-version-check "componentize-py==$version"
  # One that no longer runs (its python3 gone) is replaced; one another build installed
  # meanwhile is kept (the rename onto it fails and this copy is dropped).
  [[ -e $venv ]] && ! pinned shared && rm -rf "$venv"
  python3 -c 'import os, sys; os.rename(sys.argv[1], sys.argv[2])' "$tmp" "$venv" 2>/dev/null || true
  pinned shared || { echo "componentize-py $version did not install into $venv" >&2; exit 1; }
}
if [[ -x $venv/bin/python ]] && pinned shared; then
  tool=(shared)
elif on_path=$(command -v componentize-py) && pinned "$on_path"; then
  tool=("$on_path")
else
  install_shared
  tool=(shared)
fi
# Only src/ is the plugin's Python path: with no VIRTUAL_ENV, componentize-py would add (and
# walk) your Python's whole site-packages, seconds of every build and an input no stamp follows.
no_packages=$toolchains/no-site-packages
mkdir -p "$no_packages/lib/site-packages"
VIRTUAL_ENV=$no_packages "${tool[@]}" -d wit -w {{world}} componentize -p src app -o {{name}}.wasm.part
mv {{name}}.wasm.part {{name}}.wasm
echo "$stamp $(digest <{{name}}.wasm)" >{{name}}.wasm.stamp
echo "built $(pwd)/{{name}}.wasm"
