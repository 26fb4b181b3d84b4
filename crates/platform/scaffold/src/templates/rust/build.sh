#!/usr/bin/env bash
# Builds {{name}}.wasm: the crate for wasm32-wasip2, in release, against the WIT in wit/.
set -euo pipefail
cd "$(dirname "$0")"
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx wasm32-wasip2; then
  rustup target add wasm32-wasip2
fi
cargo build --release --target wasm32-wasip2
cp "${CARGO_TARGET_DIR:-target}/wasm32-wasip2/release/{{crate}}.wasm" {{name}}.wasm.part
mv {{name}}.wasm.part {{name}}.wasm
echo "built $(pwd)/{{name}}.wasm"
