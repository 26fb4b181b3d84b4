#!/usr/bin/env bash
# Builds {{name}}.wasm: the crate for wasm32-wasip2, in release, against the WIT in wit/, unless
# nothing changed since the last build (the stamp below).
set -euo pipefail
cd "$(dirname "$0")"
# The compiler and the flags it is given are inputs as much as the sources.
tool_id="$(rustc -vV) RUSTFLAGS=${RUSTFLAGS-} CARGO_ENCODED_RUSTFLAGS=${CARGO_ENCODED_RUSTFLAGS-}"
# The lock pins the dependencies: made before the stamp is taken, so that the build which
# writes it is not followed by one more (a parent folder's .cargo/config.toml is not followed).
if [[ ! -e Cargo.lock ]]; then cargo generate-lockfile --quiet; fi
inputs=(build.sh Cargo.toml Cargo.lock src wit)
for f in .cargo rust-toolchain rust-toolchain.toml; do
  if [[ -e $f ]]; then inputs+=("$f"); fi
done
{{stamp}}
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx wasm32-wasip2; then
  rustup target add wasm32-wasip2
fi
cargo build --release --target wasm32-wasip2
cp "${CARGO_TARGET_DIR:-target}/wasm32-wasip2/release/{{crate}}.wasm" {{name}}.wasm.part
mv {{name}}.wasm.part {{name}}.wasm
echo "$stamp $(digest <{{name}}.wasm)" >{{name}}.wasm.stamp
echo "built $(pwd)/{{name}}.wasm"
