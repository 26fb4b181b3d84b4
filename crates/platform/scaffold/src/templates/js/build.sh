#!/usr/bin/env bash
# Builds {{name}}.wasm from src/app.js with componentize-js {{componentize_js}} (pinned), unless
# nothing changed since the last build (the stamp below). The tool: the one your JavaScript
# plugins share, in ${XDG_CACHE_HOME:-~/.cache}/baton/toolchains/componentize-js-{{componentize_js}}/,
# else one of exactly that version on PATH, else it installs the shared one (from npm, once):
# no node_modules/ in the plugin. Once installed, builds need no network.
# `-d http fetch-event` leaves fetch() out: baton gives plugins no network, and refuses a
# component that imports it.
set -euo pipefail
cd "$(dirname "$0")"
version={{componentize_js}}
tool_id="componentize-js $version"
inputs=(build.sh src wit)
{{stamp}}
toolchains=${XDG_CACHE_HOME:-$HOME/.cache}/baton/toolchains
shared=$toolchains/componentize-js-$version
pinned() { [[ -x $1 ]] && [[ "$("$1" --version 2>/dev/null)" == "$version" ]]; }
install_shared() {
  echo "installing componentize-js $version into $shared (shared by your JavaScript plugins)" >&2
  mkdir -p "$toolchains"
  tmp=$(mktemp -d "$shared.new-XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  npm install --prefix "$tmp" --no-fund --no-audit --loglevel=error "@bytecodealliance/componentize-js@$version"
  # One that no longer runs is replaced; one another build installed meanwhile is kept (the
  # rename onto it fails and this copy is dropped).
  [[ -e $shared ]] && ! pinned "$tool" && rm -rf "$shared"
  node -e 'try { require("fs").renameSync(process.argv[1], process.argv[2]) } catch {}' "$tmp" "$shared"
  pinned "$tool" || { echo "componentize-js $version did not install into $shared" >&2; exit 1; }
}
tool=$shared/node_modules/.bin/componentize-js
if ! pinned "$tool"; then
  if on_path=$(command -v componentize-js) && pinned "$on_path"; then
    tool=$on_path
  else
    install_shared
  fi
fi
"$tool" src/app.js --wit wit --world-name {{world}} -d http fetch-event -o {{name}}.wasm.part
mv {{name}}.wasm.part {{name}}.wasm
echo "$stamp $(digest <{{name}}.wasm)" >{{name}}.wasm.stamp
echo "built $(pwd)/{{name}}.wasm"
