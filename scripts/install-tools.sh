#!/bin/sh
# Installs what building and running the relay needs, skipping what is already there:
# the wasm32 target and rust-src, worker-build, wasm-bindgen-cli at the exact Cargo.lock version, and the
# npm packages of package-lock.json (wrangler with workerd, binaryen's wasm-opt).
set -eu
cd "$(dirname "$0")/.."
PATH="$HOME/.cargo/bin:$PATH"
WORKER_BUILD_VERSION=0.8.7

rustup target list --installed | grep -qx wasm32-unknown-unknown \
  || rustup target add wasm32-unknown-unknown
# The standard library's source: scripts/build-worker.sh rebuilds std for the worker.
rustup component list --installed | grep -qx rust-src || rustup component add rust-src

if ! worker-build --version 2>/dev/null | grep -q "$WORKER_BUILD_VERSION"; then
  cargo install worker-build --version "$WORKER_BUILD_VERSION"
fi

# wasm-bindgen-cli must match the wasm-bindgen crate exactly. Not --locked: its lock file asks
# for a webpki-roots release that crates.io no longer serves.
bindgen=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
if ! wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $bindgen"; then
  cargo install wasm-bindgen-cli --version "$bindgen"
fi

# npm ci when node_modules is missing or older than the lock file. Never through a symlinked
# node_modules (a git worktree sharing another checkout's install): npm ci would empty the
# shared directory for everyone, and a fresh checkout's lock file always looks newer.
if [ -L node_modules ]; then
  if [ ! -x node_modules/.bin/wrangler ] || [ ! -x node_modules/.bin/wasm-opt ]; then
    echo "node_modules is a symlink to a shared install without wrangler/wasm-opt: install there" >&2
    exit 1
  fi
elif [ ! -x node_modules/.bin/wrangler ] || [ ! -x node_modules/.bin/wasm-opt ] \
  || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
