#!/bin/sh
# wasm-opt as worker-build runs it, minus `--debuginfo`: worker-build always asks wasm-opt to
# keep the names section, which was 146 KB of the relay's 685 KB wasm upload (BENCHMARKS.md).
# Without it, a panic's stack trace shows wasm function indexes instead of Rust names. The
# producers and target-features sections (tool versions, for linkers) go too: 0.2 KiB gzip.
# WASM_OPT_REAL is binaryen's wasm-opt (scripts/build-worker.sh sets it).
for arg; do
  shift
  [ "$arg" = "--debuginfo" ] || set -- "$@" "$arg"
done
exec "$WASM_OPT_REAL" "$@" --strip-producers --strip-target-features
