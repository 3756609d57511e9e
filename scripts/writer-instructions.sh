#!/usr/bin/env bash
# Instructions the embedded store's writer thread executes per payment (or per payout of a clock
# advance), counted by valgrind's callgrind. Wall-clock figures on a shared two-core machine move
# by 20% between runs of the same binary; instruction counts move by about 1%, so a change of a
# few percent on the writer (the thread that bounds throughput) shows here when `sluice bench`
# cannot show it. Needs valgrind; prints figures, asserts nothing.
#
#   scripts/writer-instructions.sh [payments|clock-payouts] [BINARY]
#
# payments: 8 clients for 20 s against a fresh store (batches stay small under valgrind, so the
# commit's share is larger than in a real run). clock-payouts: 1,000 accounts, then counts only
# the 30-day advance. Leaves the callgrind profile of the writer in $OUT (default
# /tmp/sluice-callgrind) for `callgrind_annotate --inclusive=yes`.
set -euo pipefail

workload=${1:-payments}
binary=${2:-./target/release/sluice}
out=${OUT:-/tmp/sluice-callgrind}
port=${PORT:-12197}
accounts=${ACCOUNTS:-1000}
data=$(mktemp -d)

command -v valgrind > /dev/null || { echo "valgrind is not installed" >&2; exit 1; }
rm -rf "$out"
mkdir -p "$out"
valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$out/cg.%p" \
  "$binary" serve --data "$data" --secret-key sk_test_benchbenchbench --addr "127.0.0.1:$port" \
  > "$out/server.log" 2>&1 &
server=$!
trap 'kill -9 $server 2> /dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 1 120); do
  sleep 1
  curl -s -o /dev/null "http://127.0.0.1:$port/" && break
done

bench() {
  "$binary" bench --api-base "http://127.0.0.1:$port" --api-key sk_test_benchbenchbench "$@"
}
payments() { grep -c "POST path=/v1/payment_intents " "$out/server.log" || true; }

case "$workload" in
  payments)
    bench --clients 8 --duration-secs 20 --warmup-secs 0 --workload payments | tail -1
    units=$(payments)
    what=payment
    ;;
  clock-payouts)
    bench --clients 8 --workload clock-payouts --accounts "$accounts" --advance-days 30 \
      > "$out/bench.log" 2>&1 &
    load=$!
    # The setup's last payments: from here on, count only the advance.
    while [ "$(payments)" -lt "$accounts" ] && kill -0 $load 2> /dev/null; do sleep 0.2; done
    callgrind_control -z $server > /dev/null 2>&1
    wait $load
    tail -1 "$out/bench.log"
    units=$accounts
    what=payout
    ;;
  *)
    echo "usage: $0 [payments|clock-payouts] [BINARY]" >&2
    exit 2
    ;;
esac

callgrind_control -d $server > /dev/null 2>&1
sleep 5
# The writer's file names its loop or its jobs (after a reset only what ran since is named);
# the largest such count is the writer's.
read -r instructions writer < <(
  for file in $(grep -l "sqlite::run_writer\|sqlite::run_job" "$out"/cg.*-*); do
    echo "$(grep -m1 "^summary:" "$file" | awk '{print $2}') $file"
  done | sort -n | tail -1
)
echo "writer: $instructions instructions over $units ${what}s = $((instructions / units)) per $what ($writer)"
