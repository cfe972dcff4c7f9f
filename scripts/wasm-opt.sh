#!/bin/sh
# wasm-opt as worker-build runs it, minus `--debuginfo`: worker-build always asks wasm-opt to
# keep the names section, which was 146 KB of the relay's 685 KB wasm upload (BENCHMARKS.md).
# Without it, a panic's stack trace shows wasm function indexes instead of Rust names. The
# producers and target-features sections (tool versions, for linkers) go too: 0.2 KiB gzip.
# The exports of wasm-streams' JS stream adapters go first, so the optimizer drops the code
# only they reach: worker links the crate for stream bodies, which the relay never builds (its
# bodies are strings and bytes), and wasm-bindgen exports every such class: -1.9 KiB gzip.
# WASM_OPT_REAL is binaryen's wasm-opt (scripts/build-worker.sh sets it).
# KEEP_WASM_NAMES=1 keeps them, for a V8 profile that names the Rust functions
# (bench/v8-profile.mjs); such a build is over the upload budget.
for arg; do
  shift
  [ "$arg" = "--debuginfo" ] && [ -z "${KEEP_WASM_NAMES:-}" ] && continue
  set -- "$@" "$arg"
done
exec "$WASM_OPT_REAL" --remove-exports --pass-arg="remove-exports@*intounderlying*" "$@" \
  --strip-producers --strip-target-features
