#!/bin/sh
# The [build] command of wrangler.toml: builds the console into console/dist and the worker into
# build/ with locally installed tools, so worker-build downloads nothing (run `make build` once
# to install them).
set -eu
cd "$(dirname "$0")/.."
PATH="$HOME/.cargo/bin:$PATH"
if ! command -v worker-build >/dev/null || ! command -v wasm-bindgen >/dev/null || [ ! -x node_modules/.bin/wasm-opt ]; then
  echo "build tools missing: run 'make build' (it installs them)" >&2
  exit 1
fi
WASM_BINDGEN_BIN="$(command -v wasm-bindgen)"
# wasm-opt through a wrapper that drops the names section (see scripts/wasm-opt.sh).
WASM_OPT_REAL="$(pwd)/node_modules/.bin/wasm-opt"
WASM_OPT_BIN="$(pwd)/scripts/wasm-opt.sh"
export WASM_BINDGEN_BIN WASM_OPT_BIN WASM_OPT_REAL
# The console's static assets ([assets] in wrangler.toml), measured against their budget.
node scripts/build-console.mjs
exec worker-build --release
