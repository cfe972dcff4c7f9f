#!/bin/sh
# `make dev`: the demo receiver on :8788 and the relay on :8787 with local KV, Queues and D1,
# configured by dev/dev.env. Extra arguments go to `wrangler dev` (e.g. --local-protocol https).
set -eu
cd "$(dirname "$0")/.."
node dev/demo-receiver.mjs &
receiver=$!
trap 'kill $receiver 2>/dev/null || true' EXIT INT TERM
# History: the local D1 database gets every migration first (applying them again changes
# nothing), in the state directory wrangler dev will use: .wrangler/state, or the --persist-to
# given. Without a [[d1_databases]] block in wrangler.toml there is nothing to migrate.
if grep -q '^\[\[d1_databases\]\]' wrangler.toml; then
  persist="" prev=""
  for arg; do
    [ "$prev" = "--persist-to" ] && persist="--persist-to=$arg"
    case "$arg" in --persist-to=*) persist="$arg" ;; esac
    prev="$arg"
  done
  # CI=1: wrangler's confirmation prompt answers itself.
  CI=1 npx wrangler d1 migrations apply HISTORY --local $persist
fi
npx wrangler dev --ip 127.0.0.1 --port 8787 --env-file dev/dev.env "$@"
