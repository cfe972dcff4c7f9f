#!/bin/sh
# `make size`: the upload as `wrangler deploy --dry-run` reports it ("Total Upload … gzip"),
# failed above the budget (BENCHMARKS.md). Runs wrangler.toml's [build] like a deploy does.
set -eu
cd "$(dirname "$0")/.."
BUDGET_KIB=${BUDGET_KIB:-256}
out=$(npx wrangler deploy --dry-run --outdir target/upload 2>&1) || { echo "$out" >&2; exit 1; }
line=$(printf '%s\n' "$out" | grep 'Total Upload')
gzip_kib=$(printf '%s\n' "$line" | sed -n 's/.*gzip: \([0-9.]*\) KiB.*/\1/p')
echo "upload: $line (budget $BUDGET_KIB KiB gzip)"
awk -v g="$gzip_kib" -v b="$BUDGET_KIB" 'BEGIN { exit !(g != "" && g + 0 <= b + 0) }' || {
  echo "upload over budget: ${gzip_kib:-?} KiB gzip > $BUDGET_KIB KiB" >&2
  exit 1
}
