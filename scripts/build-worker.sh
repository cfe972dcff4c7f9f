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
# The standard library rebuilt for the worker, optimized for size like the relay, with panics
# that abort at once (no message formatting, no unwinding tables): 246.5 → 223.2 KB of gzipped
# wasm (BENCHMARKS.md). The prebuilt std is optimized for speed and carries the panic machinery.
# `-Zbuild-std` is unstable: RUSTC_BOOTSTRAP lets the stable toolchain use it, on its own
# rust-src (scripts/install-tools.sh adds it), so nothing but this build changes. A panic then
# shows in the log as `RuntimeError: unreachable`, without a message or a location (no file and
# line strings: -0.8 KiB more); the relay's request paths do not unwrap, so a panic is a bug
# with no text to lose. `-inline-threshold=10` (LLVM inlines less than opt-level z's 25): -1.1 KiB
# gzip, fan-out CPU unchanged within the bench's spread (BENCHMARKS.md).
RUSTC_BOOTSTRAP=1
CARGO_UNSTABLE_BUILD_STD=std,panic_abort
CARGO_UNSTABLE_BUILD_STD_FEATURES=optimize_for_size
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort -Zlocation-detail=none -Cllvm-args=-inline-threshold=10"
export RUSTC_BOOTSTRAP CARGO_UNSTABLE_BUILD_STD CARGO_UNSTABLE_BUILD_STD_FEATURES \
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS
# The console's static assets ([assets] in wrangler.toml), measured against their budget.
node scripts/build-console.mjs
exec worker-build --release
