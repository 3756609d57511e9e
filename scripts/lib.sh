# shellcheck shell=bash
# Helpers for scripts/test.sh: logging, step bookkeeping, dependency installs, a throwaway
# PostgreSQL cluster, and starting/stopping a sluice server. Sourced, not executed.

# --- logging and steps ---------------------------------------------------------------------------

if [ -t 1 ]; then
  C_BOLD=$'\e[1m' C_RED=$'\e[31m' C_GREEN=$'\e[32m' C_YELLOW=$'\e[33m' C_OFF=$'\e[0m'
else
  C_BOLD='' C_RED='' C_GREEN='' C_YELLOW='' C_OFF=''
fi

log() { printf '%s==> %s%s\n' "$C_BOLD" "$*" "$C_OFF"; }
warn() { printf '%swarning: %s%s\n' "$C_YELLOW" "$*" "$C_OFF" >&2; }
die() { printf '%serror: %s%s\n' "$C_RED" "$*" "$C_OFF" >&2; exit 1; }

STEP_NAMES=()
STEP_RESULTS=()
STEP_SECONDS=()

# record_step NAME RESULT SECONDS   (RESULT: PASS | FAIL | SKIP)
record_step() {
  STEP_NAMES+=("$1")
  STEP_RESULTS+=("$2")
  STEP_SECONDS+=("$3")
}

# run_step NAME COMMAND...: run, time, record; returns the command's status
run_step() {
  local name=$1
  shift
  log "$name"
  local start=$SECONDS rc=0
  "$@" || rc=$?
  if [ "$rc" -eq 0 ]; then
    record_step "$name" PASS $((SECONDS - start))
  else
    record_step "$name" FAIL $((SECONDS - start))
    printf '%s<== %s FAILED (exit %d)%s\n' "$C_RED" "$name" "$rc" "$C_OFF"
  fi
  return "$rc"
}

skip_step() {
  log "$1: skipped ($2)"
  record_step "$1 (skipped: $2)" SKIP 0
}

print_summary() {
  local i failed=0
  echo
  log "summary"
  for i in "${!STEP_NAMES[@]}"; do
    local r=${STEP_RESULTS[$i]} color=$C_GREEN
    [ "$r" = FAIL ] && color=$C_RED && failed=$((failed + 1))
    [ "$r" = SKIP ] && color=$C_YELLOW
    printf '  %s%-4s%s %5ss  %s\n' "$color" "$r" "$C_OFF" "${STEP_SECONDS[$i]}" "${STEP_NAMES[$i]}"
  done
  return "$failed"
}

# --- small utilities -----------------------------------------------------------------------------

# free_port START: first TCP port >= START that nothing listens on (127.0.0.1)
free_port() {
  python3 - "$1" <<'EOF'
import socket, sys
p = int(sys.argv[1])
while p < 65535:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
        print(p)
        break
    except OSError:
        p += 1
    finally:
        s.close()
EOF
}

random_token() { python3 -c 'import secrets; print(secrets.token_hex(12))'; }

sha_of() { sha256sum "$@" | sha256sum | cut -c1-16; }

have() { command -v "$1" >/dev/null 2>&1; }

APT_UPDATED=0
apt_install() {
  have apt-get || die "apt-get not available; install $* by hand"
  if [ "$APT_UPDATED" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq || return 1
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

# --- dependencies --------------------------------------------------------------------------------

# Sets PG_BIN to the newest /usr/lib/postgresql/*/bin (installing Debian's postgresql if needed).
ensure_postgres() {
  PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
  if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/initdb" ] || [ ! -x "$PG_BIN/pg_ctl" ]; then
    log "installing PostgreSQL (apt-get install postgresql)"
    apt_install postgresql || return 1
    PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
  fi
  [ -x "$PG_BIN/initdb" ] || { echo "initdb not found after install" >&2; return 1; }
  if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres || return 1
  fi
  echo "PostgreSQL binaries: $PG_BIN ($("$PG_BIN/postgres" --version))"
}

# .venv with the pinned conformance requirements; reinstalls only when requirements.txt changes.
ensure_venv() {
  local req="$ROOT/conformance/python/requirements.txt"
  local stamp="$ROOT/.venv/.sluice-requirements" want
  want=$(sha_of "$req")
  if [ -x "$ROOT/.venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    echo "python venv up to date ($ROOT/.venv)"
    return 0
  fi
  if [ ! -x "$ROOT/.venv/bin/python" ]; then
    python3 -m venv "$ROOT/.venv" || {
      warn "python3 -m venv failed; installing python3-venv"
      rm -rf "$ROOT/.venv"
      apt_install python3-venv && python3 -m venv "$ROOT/.venv"
    } || return 1
  fi
  "$ROOT/.venv/bin/python" -m pip install -q --disable-pip-version-check -r "$req" || return 1
  echo "$want" >"$stamp"
  "$ROOT/.venv/bin/python" -c 'import stripe, pytest, jsonschema; print("stripe", stripe.VERSION, "pytest", pytest.__version__)'
}

# conformance/node/node_modules from package-lock.json (npm ci); redone only when the lock changes.
ensure_node_deps() {
  have node || { echo "node not found (need Node.js >= 20)" >&2; return 1; }
  have npm || { echo "npm not found" >&2; return 1; }
  local dir="$ROOT/conformance/node"
  local stamp="$dir/node_modules/.sluice-lock" want
  want=$(sha_of "$dir/package.json" "$dir/package-lock.json")
  if [ -d "$dir/node_modules/stripe" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    echo "node modules up to date (node $(node --version))"
    return 0
  fi
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) || return 1
  echo "$want" >"$stamp"
  echo "installed stripe@$(node -p 'require("'"$dir"'/node_modules/stripe/package.json").version') for node $(node --version)"
}

# --- throwaway PostgreSQL --------------------------------------------------------------------------

PG_PORT=""
PG_DATA=""
PG_SOCK=""

as_postgres() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# start_postgres WORKDIR [SERVER_OPTIONS]: initdb + start on 127.0.0.1:$PG_PORT, trust auth,
# socket in WORKDIR. Without options, a test cluster: durability off for speed (it is deleted
# afterwards).
PG_TEST_OPTIONS="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
start_postgres() {
  local work=$1 options=${2:-$PG_TEST_OPTIONS}
  PG_DATA="$work/pgdata"
  PG_SOCK="$work/pgsock"
  mkdir -p "$PG_DATA" "$PG_SOCK"
  chmod 755 "$work"
  if [ "$(id -u)" = 0 ]; then chown postgres: "$PG_DATA" "$PG_SOCK"; fi
  chmod 700 "$PG_DATA"
  PG_PORT=$(free_port "${SLUICE_TEST_PG_PORT:-54329}")
  as_postgres "$PG_BIN/initdb" -D "$PG_DATA" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync \
    >"$work/initdb.log" 2>&1 || { cat "$work/initdb.log"; return 1; }
  as_postgres "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_SOCK/postgres.log" -w -t 60 start -o \
    "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_SOCK -c max_connections=300 $options" \
    >/dev/null || { cat "$PG_SOCK/postgres.log"; return 1; }
  pg_createdb sluice_test || return 1
  echo "PostgreSQL listening on 127.0.0.1:$PG_PORT (data $PG_DATA)"
}

pg_createdb() {
  as_postgres "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres "$1"
}

pg_url() { echo "postgres://postgres@127.0.0.1:$PG_PORT/$1"; }

stop_postgres() {
  if [ -n "$PG_DATA" ] && [ -f "$PG_DATA/postmaster.pid" ]; then
    as_postgres "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
  fi
}

# --- sluice server -------------------------------------------------------------------------------

SERVER_PID=""

# start_server LOGFILE ARGS...: starts target/release/sluice serve ARGS in the background
start_server() {
  local logfile=$1
  shift
  "$SLUICE_BIN" serve "$@" >"$logfile" 2>&1 &
  SERVER_PID=$!
}

# wait_http BASE KEY LOGFILE: poll GET BASE/v1/customers until 200 (60 s), failing early if the
# server process exits
wait_http() {
  local base=$1 key=$2 logfile=$3 i
  for i in $(seq 1 240); do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      echo "sluice exited before answering HTTP; last log lines:" >&2
      tail -n 60 "$logfile" >&2
      SERVER_PID=""
      return 1
    fi
    if python3 - "$base" "$key" <<'EOF' 2>/dev/null; then
import sys, urllib.request
req = urllib.request.Request(sys.argv[1] + "/v1/customers?limit=1", headers={"Authorization": "Bearer " + sys.argv[2]})
sys.exit(0 if urllib.request.urlopen(req, timeout=2).status == 200 else 1)
EOF
      echo "sluice answers on $base (after ~$((i / 4))s)"
      return 0
    fi
    sleep 0.25
  done
  echo "sluice did not answer 200 on $base/v1/customers within 60s; last log lines:" >&2
  tail -n 60 "$logfile" >&2
  return 1
}

stop_server() {
  [ -n "$SERVER_PID" ] || return 0
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    local i
    for i in $(seq 1 40); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.25
    done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
      warn "sluice (pid $SERVER_PID) ignored SIGTERM for 10s; killing"
      kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
  fi
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}
