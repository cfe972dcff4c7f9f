#!/bin/sh
# The [build] command of both floors' wrangler.toml (run from the floor's directory): the same
# worker-build --release with the repository's wasm-bindgen and wasm-opt as the relay.
set -eu
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
PATH="$HOME/.cargo/bin:$PATH"
WASM_BINDGEN_BIN="$(command -v wasm-bindgen)"
# The relay's wasm-opt wrapper (drops the names section), so floors and relay match.
WASM_OPT_REAL="$ROOT/node_modules/.bin/wasm-opt"
WASM_OPT_BIN="$ROOT/scripts/wasm-opt.sh"
export WASM_BINDGEN_BIN WASM_OPT_BIN WASM_OPT_REAL
exec worker-build --release
