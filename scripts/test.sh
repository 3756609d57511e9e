#!/usr/bin/env bash
# The one test command: ./scripts/test.sh (also what CI runs, via .ci/run).
#
#   1. installs what is missing: Debian PostgreSQL, a Python venv (.venv) with the pinned
#      conformance requirements, the Node SDK (conformance/node, npm ci)
#   2. starts a throwaway PostgreSQL cluster on 127.0.0.1 (trust auth) and exports
#      SLUICE_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:PORT/sluice_test
#   3. cargo fmt --check, cargo clippy -D warnings, cargo test --release, cargo build --release
#   4. runs the conformance suites (pytest + node smoke) against target/release/sluice, once with
#      the embedded SQLite store and once with PostgreSQL (a fresh database)
#   5. prints a summary; exits non-zero if anything failed
#
# Knobs (environment):
#   SLUICE_SKIP_CARGO_CHECKS=1   skip fmt/clippy/cargo test (still builds the release binary)
#   SLUICE_STORES="sqlite"       which stores to run the conformance suites against
#                                (default "sqlite postgres")
#   PYTEST_ARGS="-k customers"   extra pytest arguments (e.g. -x, -k EXPR, -vv)
#   SLUICE_KEEP_TMP=1            keep the temp dir (server data, PostgreSQL cluster) for debugging
# Logs of the last run: tmp/test-logs/ (server logs, pytest/node/cargo output, junit XML).

set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 1
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

STORES=${SLUICE_STORES:-sqlite postgres}
read -r -a EXTRA_PYTEST <<<"${PYTEST_ARGS:-}"
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
SLUICE_BIN="$TARGET_DIR/release/sluice"
LOG_DIR="$ROOT/tmp/test-logs"
WORK=$(mktemp -d /tmp/sluice-test.XXXXXX)
rm -rf "$LOG_DIR"
mkdir -p "$LOG_DIR"

cleanup() {
  stop_server
  stop_postgres
  if [ "${SLUICE_KEEP_TMP:-0}" = 1 ]; then
    echo "kept $WORK"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 130' INT TERM

echo "sluice test run: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) cores; repo $ROOT; temp $WORK"

# --- 1. dependencies ------------------------------------------------------------------------------

PG_OK=0 PY_OK=0 NODE_OK=0
run_step "install: PostgreSQL" ensure_postgres && PG_OK=1
run_step "install: Python venv (.venv)" ensure_venv && PY_OK=1
run_step "install: Node SDK (conformance/node)" ensure_node_deps && NODE_OK=1

# --- 2. throwaway PostgreSQL ------------------------------------------------------------------------

PG_UP=0
if [ "$PG_OK" = 1 ]; then
  if run_step "start PostgreSQL (127.0.0.1, trust)" start_postgres "$WORK"; then
    PG_UP=1
    SLUICE_TEST_DATABASE_URL=$(pg_url sluice_test)
    export SLUICE_TEST_DATABASE_URL
    echo "SLUICE_TEST_DATABASE_URL=$SLUICE_TEST_DATABASE_URL"
  fi
else
  skip_step "start PostgreSQL" "not installed"
fi

# --- 3. Rust -------------------------------------------------------------------------------------

cargo_test() {
  cargo test --release 2>&1 | tee "$LOG_DIR/cargo-test.log"
}

if [ "${SLUICE_SKIP_CARGO_CHECKS:-0}" = 1 ]; then
  skip_step "cargo fmt / clippy / test" "SLUICE_SKIP_CARGO_CHECKS=1"
else
  run_step "cargo fmt --all -- --check" cargo fmt --all -- --check
  run_step "cargo clippy --all-targets -- -D warnings" cargo clippy --all-targets -- -D warnings
  run_step "cargo test --release" cargo_test
fi
BIN_OK=0
run_step "cargo build --release" cargo build --release && [ -x "$SLUICE_BIN" ] && BIN_OK=1
if [ "$BIN_OK" = 0 ] && [ -e "$SLUICE_BIN" ]; then
  echo "note: not using the stale $SLUICE_BIN after a failed build" >&2
fi

# --- 4. conformance --------------------------------------------------------------------------------

run_pytest() {
  local store=$1
  # a hung server must not eat CI's budget: 60 s per test (pytest.ini), 20 min per suite
  timeout -k 30 1200 "$ROOT/.venv/bin/python" -m pytest "$ROOT/conformance/python" \
    --junitxml="$LOG_DIR/pytest-$store.xml" "${EXTRA_PYTEST[@]}" 2>&1 | tee "$LOG_DIR/pytest-$store.log"
}

run_node() {
  local store=$1
  (cd "$ROOT/conformance/node" && timeout -k 10 300 node --test --test-reporter=spec --test-timeout=60000 smoke.test.mjs) 2>&1 |
    tee "$LOG_DIR/node-$store.log"
}

conformance() {
  local store=$1 port base key1 key2 key3 data logfile
  local -a dbargs=()
  port=$(free_port "${SLUICE_TEST_PORT:-42420}")
  base="http://127.0.0.1:$port"
  key1="sk_test_sluice1$(random_token)"
  key2="sk_test_sluice2$(random_token)"
  key3="sk_test_sluice3$(random_token)"
  data="$WORK/data-$store"
  logfile="$LOG_DIR/server-$store.log"
  mkdir -p "$data"
  if [ "$store" = postgres ]; then
    pg_createdb sluice_conf || { record_step "conformance ($store): createdb" FAIL 0; return; }
    dbargs=(--database-url "$(pg_url sluice_conf)")
  fi

  log "conformance ($store): starting sluice on $base"
  start_server "$logfile" --addr "127.0.0.1:$port" --data "$data" \
    --secret-key "$key1" --secret-key "$key2" --secret-key "$key3" "${dbargs[@]}"
  if ! wait_http "$base" "$key1" "$logfile"; then
    record_step "conformance ($store): server start" FAIL 0
    stop_server
    return
  fi

  local failed=0
  export SLUICE_API_BASE=$base SLUICE_API_KEY=$key1 SLUICE_API_KEY_2=$key2 SLUICE_API_KEY_3=$key3 SLUICE_STORE=$store
  if [ "$PY_OK" = 1 ]; then
    run_step "conformance ($store): python (pytest)" run_pytest "$store" || failed=1
  else
    skip_step "conformance ($store): python" "venv missing"
  fi
  if [ "$NODE_OK" = 1 ]; then
    run_step "conformance ($store): node smoke" run_node "$store" || failed=1
  else
    skip_step "conformance ($store): node" "node modules missing"
  fi
  unset SLUICE_API_BASE SLUICE_API_KEY SLUICE_API_KEY_2 SLUICE_API_KEY_3 SLUICE_STORE

  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    record_step "conformance ($store): server still running after the suites" FAIL 0
    failed=1
  fi
  stop_server
  # The ledger must balance after everything the suites did (DESIGN.md's invariants).
  run_step "conformance ($store): sluice ledger verify" "$SLUICE_BIN" ledger verify --data "$data" "${dbargs[@]}" || failed=1
  if grep -q "panicked at" "$logfile"; then
    record_step "conformance ($store): server log free of panics (see $logfile)" FAIL 0
    grep -n -A2 "panicked at" "$logfile" | head -n 20
    failed=1
  fi
  if [ "$failed" = 1 ]; then
    echo "--- last 80 lines of the $store server log ($logfile) ---"
    tail -n 80 "$logfile"
    echo "--- end of server log ---"
  fi
}

for store in $STORES; do
  case "$store" in
    sqlite | postgres) ;;
    *) die "unknown store '$store' in SLUICE_STORES (sqlite, postgres)" ;;
  esac
  if [ "$BIN_OK" = 0 ]; then
    skip_step "conformance ($store)" "no release binary"
  elif [ "$store" = postgres ] && [ "$PG_UP" = 0 ]; then
    skip_step "conformance ($store)" "PostgreSQL not running"
    record_step "conformance ($store): PostgreSQL unavailable" FAIL 0
  else
    conformance "$store"
  fi
done

# --- 5. summary ----------------------------------------------------------------------------------

count_tests() {
  python3 - "$LOG_DIR" <<'EOF'
import glob, os, re, sys
import xml.etree.ElementTree as ET
d = sys.argv[1]
passed = failed = skipped = 0
lines = []
for f in sorted(glob.glob(os.path.join(d, "pytest-*.xml"))):
    try:
        root = ET.parse(f).getroot()
    except ET.ParseError:
        continue
    for s in ([root] if root.tag == "testsuite" else root.iter("testsuite")):
        t, fl, er, sk = (int(s.get(k, 0)) for k in ("tests", "failures", "errors", "skipped"))
        passed += t - fl - er - sk; failed += fl + er; skipped += sk
        lines.append("  %-22s %d passed, %d failed, %d skipped" % (os.path.basename(f)[:-4], t - fl - er - sk, fl + er, sk))
for f in sorted(glob.glob(os.path.join(d, "node-*.log"))):
    txt = open(f, errors="replace").read()
    p = re.findall(r"^\S*\s*pass (\d+)$", txt, re.M)
    fl = re.findall(r"^\S*\s*fail (\d+)$", txt, re.M)
    if p:
        passed += int(p[-1]); failed += int(fl[-1]) if fl else 0
        lines.append("  %-22s %s passed, %s failed" % (os.path.basename(f)[:-4], p[-1], fl[-1] if fl else 0))
f = os.path.join(d, "cargo-test.log")
if os.path.exists(f):
    p = fl = ig = 0
    for m in re.finditer(r"test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored", open(f, errors="replace").read()):
        p += int(m.group(1)); fl += int(m.group(2)); ig += int(m.group(3))
    passed += p; failed += fl; skipped += ig
    lines.append("  %-22s %d passed, %d failed, %d ignored" % ("cargo-test", p, fl, ig))
print("\n".join(lines))
print("tests: %d passed, %d failed, %d skipped" % (passed, failed, skipped))
EOF
}

print_summary
FAILED_STEPS=$?
if [ "$FAILED_STEPS" -gt 0 ]; then
  printf '%sFAILED: %d step(s) failed%s\n' "$C_RED" "$FAILED_STEPS" "$C_OFF"
else
  printf '%sOK: all steps passed%s\n' "$C_GREEN" "$C_OFF"
fi
echo
log "test counts (logs in tmp/test-logs/)"
count_tests # its last line, "tests: N passed, N failed, N skipped", closes the output
[ "$FAILED_STEPS" -eq 0 ]
