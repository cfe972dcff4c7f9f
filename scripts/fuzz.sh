#!/bin/sh
# Runs each cargo-fuzz target in fuzz/ for a bounded time on one core and prints a summary
# (executions, coverage, crashes). Usage: sh scripts/fuzz.sh [seconds-per-target] [targets...]
# Needs the nightly toolchain; installs cargo-fuzz when missing. New corpus entries go to
# fuzz/.corpus/<target> (not committed); the committed seeds in fuzz/corpus/<target> are
# read-only inputs. A crash stops the run and leaves its input in fuzz/artifacts/<target>/.
set -eu
cd "$(dirname "$0")/../fuzz"
PATH="$HOME/.cargo/bin:$PATH"
seconds=${1:-60}
[ $# -gt 0 ] && shift
targets=${*:-callback config url retry signature template}

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

summary=""
status=0
for t in $targets; do
  mkdir -p ".corpus/$t"
  # Callback bodies up to just past the 64 KiB ingest limit, so 413 is reachable.
  extra=""
  [ "$t" = callback ] && extra="-max_len=65600"
  log=".corpus/$t.log"
  echo "== fuzz $t for ${seconds}s (log: fuzz/$log)"
  if cargo +nightly fuzz run "$t" ".corpus/$t" "corpus/$t" -- \
    -dict="dict/$t.dict" -max_total_time="$seconds" -jobs=1 -workers=1 \
    -print_final_stats=1 $extra >"$log" 2>&1; then
    result=ok
  else
    result="CRASH (see fuzz/$log and fuzz/artifacts/$t/)"
    status=1
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  cov=$(grep -o 'cov: [0-9]* ft: [0-9]* corp: [0-9]*/[0-9]*[a-zA-Z]*' "$log" | tail -n 1)
  summary="$summary$(printf '%-9s %6ss  %12s execs  %7s/s  %s  %s' "$t" "$seconds" "${execs:-?}" "${rate:-?}" "${cov:-?}" "$result")
"
done
printf '\n%s' "$summary"
exit $status
