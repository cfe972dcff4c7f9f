#!/bin/sh
# `make dev`: the demo receiver on :8788 and the relay on :8787 with local KV and Queues,
# configured by dev/dev.env. Extra arguments go to `wrangler dev` (e.g. --local-protocol https).
set -eu
cd "$(dirname "$0")/.."
node dev/demo-receiver.mjs &
receiver=$!
trap 'kill $receiver 2>/dev/null || true' EXIT INT TERM
npx wrangler dev --ip 127.0.0.1 --port 8787 --env-file dev/dev.env "$@"
