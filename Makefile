# The two commands a user needs: `make dev` (run the relay locally) and `make test` (every
# test). Both install what is missing first.
SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(PATH)

.PHONY: dev test build tools lint unit e2e bench

## Install the toolchain pieces (idempotent): wasm32 target, worker-build, wasm-bindgen-cli, npm packages.
tools:
	@sh scripts/install-tools.sh

## Build the worker into build/ (the same command wrangler.toml's [build] runs).
build: tools
	sh scripts/build-worker.sh

## Run the relay on http://127.0.0.1:8787 with local KV and Queues and a demo receiver on :8788.
dev: build
	sh scripts/dev.sh

## Every test: format, lints (host and wasm), core unit and golden tests, end-to-end tests.
test: lint unit e2e

lint: tools
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --target wasm32-unknown-unknown -- -D warnings

unit:
	cargo test

e2e: build
	node --test --test-concurrency=1 tests/e2e/

## Speed and size, relay beside its floors: one table, written into BENCHMARKS.md (~15 min).
bench: tools
	sh scripts/bench
