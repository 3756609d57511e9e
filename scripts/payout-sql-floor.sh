#!/usr/bin/env bash
# The embedded store's SQL floor for the 30-day payout advance, next to Sluice's own figure on
# the same database: builds a store with `sluice bench --workload clock-payouts` (N accounts with
# daily payouts and pending funds; a one-day advance, so no payout has run), then on copies of it
#   1. examples/payout_sql_floor.rs: only the SQL statements a payout's run executes, no domain
#      work (see its header), with the six events per payout and without any;
#   2. Sluice itself: the 30-day advance through the API on a fresh store of the same setup, as
#      `sluice bench` times it.
# Prints figures, asserts nothing. Wall-clock figures on this shared machine move by 20-30%
# between hours: compare lines of one run.
#
#   scripts/payout-sql-floor.sh [ACCOUNTS]     (default 10,000)
set -euo pipefail
cd "$(dirname "$0")/.."

accounts=${1:-10000}
port=${PORT:-12198}
key=sk_test_benchbenchbench
cargo build --release --quiet --bin sluice --example payout_sql_floor
binary=./target/release/sluice
floor=./target/release/examples/payout_sql_floor
work=$(mktemp -d)
server=
trap '[ -n "$server" ] && kill -9 $server 2> /dev/null; rm -rf "$work"' EXIT

serve() {
  "$binary" serve --data "$1" --secret-key $key --addr "127.0.0.1:$port" > "$work/server.log" 2>&1 &
  server=$!
  for _ in $(seq 1 100); do
    curl -s -o /dev/null "http://127.0.0.1:$port/" && return
    sleep 0.1
  done
  echo "the server did not start: $(tail -5 "$work/server.log")" >&2
  exit 1
}
stop() {
  kill $server
  wait $server 2> /dev/null || true
  server=
}
bench() {
  "$binary" bench --api-base "http://127.0.0.1:$port" --api-key $key --workload clock-payouts \
    --accounts "$accounts" "$@"
}
fresh_copy() {
  rm -rf "$work/copy"
  cp -r "$work/store" "$work/copy"
}

serve "$work/store"
bench --advance-days 1 > /dev/null
stop
fresh_copy
"$floor" "$work/copy/sluice.db"
fresh_copy
"$floor" "$work/copy/sluice.db" --without-events
# Sluice's advance on a store in the same state: a fresh one, the same setup; only the advance
# is timed.
rm -rf "$work/copy"
serve "$work/fresh"
bench --advance-days 30 | tail -1 | sed 's/ ran=.*//; s/^/sluice: /'
stop
