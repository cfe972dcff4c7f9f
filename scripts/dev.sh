#!/bin/sh
# `make dev`: the demo receiver on :8788 and the relay on :8787 with local KV, Queues and D1,
# configured by dev/dev.env. Extra arguments go to `wrangler dev` (e.g. --local-protocol https).
set -eu
cd "$(dirname "$0")/.."
node dev/demo-receiver.mjs &
receiver=$!
admin_token=$(sed -n 's/^ADMIN_TOKEN=//p' dev/dev.env)
scheme=http verify=1
case " $* " in *" --local-protocol https "*) scheme=https verify=0 ;; esac  # self-signed
console="$scheme://127.0.0.1:8787/console/"
echo "[dev] console: $console  admin token: $admin_token"
# Said again once the relay answers, below wrangler's own start-up lines.
NODE_TLS_REJECT_UNAUTHORIZED=$verify node -e '
  const [url, token] = process.argv.slice(1);
  const poll = () => fetch(url).then((r) => r.ok, () => false).then((ok) => ok
    ? console.log(`\n[dev] console: ${url}\n[dev] sign in with the admin token: ${token}\n`)
    : setTimeout(poll, 1000));
  poll();' "$console" "$admin_token" &
banner=$!
trap 'kill $receiver $banner 2>/dev/null || true' EXIT INT TERM
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
