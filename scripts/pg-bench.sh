#!/usr/bin/env bash
# The payments benchmark on PostgreSQL, on a throwaway cluster of this machine with durable
# settings (fsync, synchronous_commit and full_page_writes on, as in production) and room for the
# run (shared_buffers 2 GB; checkpoints by time, not by WAL size, so none falls inside it). Prints
# the bench's line and how much CPU the PostgreSQL server and Sluice each spent per payment: on
# two cores the server, Sluice and the load generator share, those two numbers bound throughput.
# Prints figures, asserts nothing.
#
#   scripts/pg-bench.sh [SECONDS] [BINARY]
#
# With WORKLOAD=clock-payouts it times a 30-day test clock advance over ACCOUNTS (default 10,000)
# connected accounts with daily payouts instead (the bench's line only).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

seconds=${1:-12}
binary=${2:-$ROOT/target/release/sluice}
port=$(free_port 12302)
work=$(mktemp -d)
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2> /dev/null || true
  stop_postgres
  rm -rf "$work"
}
trap cleanup EXIT

ensure_postgres > /dev/null
start_postgres "$work" "-c shared_buffers=2GB -c max_wal_size=16GB -c checkpoint_timeout=30min -c wal_buffers=64MB" > /dev/null
pg_createdb bench
"$binary" serve --database-url "$(pg_url bench)" --secret-key sk_test_benchbenchbench \
  --addr "127.0.0.1:$port" > "$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 60); do
  curl -s -o /dev/null "http://127.0.0.1:$port/" && break
  sleep 0.5
done

# CPU ticks (user + system) of the cluster's processes (the postmaster and its children), and
# of Sluice.
postgres_ticks() {
  local total=0 pid postmaster
  postmaster=$(head -1 "$PG_DATA/postmaster.pid")
  for pid in $postmaster $(pgrep -P "$postmaster" || true); do
    total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2> /dev/null || echo 0)))
  done
  echo "$total"
}
sluice_ticks() { awk '{print $14 + $15}' "/proc/$server/stat"; }
bench_ticks() { awk '{print $14 + $15}' "/proc/$load/stat"; }

if [ "${WORKLOAD:-payments}" = clock-payouts ]; then
  "$binary" bench --api-base "http://127.0.0.1:$port" --api-key sk_test_benchbenchbench \
    --clients 32 --workload clock-payouts --accounts "${ACCOUNTS:-10000}" --advance-days 30 | tail -1
  exit 0
fi

"$binary" bench --api-base "http://127.0.0.1:$port" --api-key sk_test_benchbenchbench \
  --clients 32 --duration-secs "$seconds" --workload payments --webhook-endpoints 0 \
  > "$work/bench.log" 2>&1 &
load=$!
# Measure the middle of the run (past the warm-up, before the end).
window=$((seconds / 2))
sleep 3
pg_before=$(postgres_ticks) sluice_before=$(sluice_ticks) bench_before=$(bench_ticks) started=$(date +%s%N)
sleep "$window"
pg_after=$(postgres_ticks) sluice_after=$(sluice_ticks) bench_after=$(bench_ticks) ended=$(date +%s%N)
wait $load
tail -1 "$work/bench.log"
rate=$(grep -o 'throughput=[0-9]*' "$work/bench.log" | cut -d= -f2)
ticks=$(getconf CLK_TCK)
elapsed_us=$(((ended - started) / 1000))
per_payment() { echo $(($1 * 1000000 / ticks * 1000000 / elapsed_us / rate)); }
echo "CPU per payment at ${rate}/s: PostgreSQL $(per_payment $((pg_after - pg_before))) us," \
  "Sluice $(per_payment $((sluice_after - sluice_before))) us," \
  "the load generator $(per_payment $((bench_after - bench_before))) us"
