# The two commands a user needs: `make dev` (run the relay locally) and `make test` (every
# test). Both install what is missing first.
SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(PATH)

.PHONY: dev test build tools lint unit size e2e soak bench

## Install the toolchain pieces (idempotent): wasm32 target, worker-build, wasm-bindgen-cli, npm packages.
tools:
	@sh scripts/install-tools.sh

## Build the worker into build/ (the same command wrangler.toml's [build] runs).
build: tools
	sh scripts/build-worker.sh

## Run the relay on http://127.0.0.1:8787 with local KV and Queues and a demo receiver on :8788.
dev: build
	sh scripts/dev.sh

## Every test: format, lints (host and wasm), core unit and golden tests, the upload's size
## budget, end-to-end tests.
test: lint unit size e2e

lint: tools
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --target wasm32-unknown-unknown -- -D warnings

unit:
	cargo test

## The upload (wasm + JS) against its budget: at most 256 KiB gzipped.
size: build
	sh scripts/size.sh

e2e: build
	node --test --test-concurrency=1 tests/e2e/

## Fuzz the pure core (nightly + cargo-fuzz, installed if missing): every target in fuzz/
## for FUZZ_SECONDS each (default 60), on one core. See fuzz/README.md.
.PHONY: fuzz
FUZZ_SECONDS ?= 60
fuzz:
	sh scripts/fuzz.sh $(FUZZ_SECONDS)

## Reliability runs of RELIABILITY.md at full size: lanes (a healthy target alone and beside a
## hanging and a failing one, 600 events at 20/s, twice), 1,000 events at 50/s into faulty
## targets, duplicate storms, 500 bad requests, consumers dying mid-delivery. Prints a summary
## table, writes the figures to target/soak/report.json; stops itself within 18 minutes.
## Other sizes: make soak SOAK_ARGS="--events 200 --bad 100" (node tests/soak/run.mjs --help).
soak: build
	timeout -k 30 1050 node tests/soak/run.mjs --budget 1020 --json target/soak/report.json $(SOAK_ARGS)

## Speed and size, relay beside its floors: one table, written into BENCHMARKS.md (about 30 min
## on 2 cores; 55 min with BENCH_REPS=9, 2026-12-06).
bench: tools
	sh scripts/bench
