# Nothing to do when nothing changed: {{name}}.wasm.stamp holds a hash of every input of the
# last successful build (the files under "${inputs[@]}", this script among them, and $tool_id,
# the tool's exact version) and of the component it wrote. While both still match and no input
# is newer than the stamp, a build would write the same component again, so none runs; any
# change (an edit, a file added, removed or touched, another tool version, the component
# replaced or deleted) builds. Not inputs: __pycache__/ folders, which the build itself writes
# (componentize-py's CPython caches src/ there) and which Python checks against the source.
if command -v sha256sum >/dev/null; then sha=(sha256sum); else sha=(shasum -a 256); fi
digest() { "${sha[@]}" | cut -d' ' -f1; }
inputs_digest() {
  { printf '%s\n' "$tool_id"; find -L "${inputs[@]}" -name __pycache__ -prune -o -type f -print0 | LC_ALL=C sort -z | xargs -0 "${sha[@]}"; } |
    digest
}
stamp=$(inputs_digest)
if [[ -f {{name}}.wasm && -f {{name}}.wasm.stamp ]] &&
  [[ "$(cat {{name}}.wasm.stamp)" == "$stamp $(digest <{{name}}.wasm)" ]] &&
  [[ -z "$(find -L "${inputs[@]}" -name __pycache__ -prune -o -newer {{name}}.wasm.stamp -print -quit)" ]]; then
  echo "unchanged $(pwd)/{{name}}.wasm: nothing changed since it was built"
  exit 0
fi
