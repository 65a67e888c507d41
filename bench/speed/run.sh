#!/usr/bin/env bash
# The speed benchmark: how close the app that cargo-users generates comes to the limits of this
# machine, in one run. For each cell (backend x database: jwt and session, SQLite and PostgreSQL by
# default), with release builds and `RATE_LIMITS=off`:
#
#   me     authed GET /users/me, wrk with 16 connections: the generated app against the *floor*, a
#          minimal hand-written axum + sqlx route (floor.rs) on the same database, and against the
#          same route running the app's own look-up statement (floor.rs with FLOOR_QUERY=app);
#   login  POST /login rotating over the accounts, wrk with 4 connections: the generated app
#          against the parallel Argon2 limit (argon2_limit.rs: every core verifying at once, the
#          argon2 crate's defaults);
#   flood  GET /users/me latency from an open-loop probe (probe.py) while a 16-connection login
#          flood runs, against the same probe with no flood.
#
# Only the expected status counts (200 for GET /users/me, 201 for POST /login): any other answer, a
# timeout or a socket error fails the run. Every server gets the same warm-up; the two sides of a
# ratio run back to back (alternating which goes first), BENCH_RUNS times; the table gives the
# median and the spread [min .. max]. See README.md beside this file.
#
#   bench/speed/run.sh
#
# Environment (all optional):
#   BENCH_DURATION      seconds per measurement (default 5)
#   BENCH_RUNS          pairs of measurements per figure (default 5)
#   BENCH_CELLS         cells to run (default "jwt:sqlite session:sqlite jwt:postgres session:postgres")
#   BENCH_HANDLERS      handlers of the generated app (default auth,register,verify,current-user,
#                       password-reset,role-management)
#   BENCH_ACCOUNTS      accounts the login scripts rotate over (default 100)
#   BENCH_POSTGRES_URL  PostgreSQL server (default postgres://postgres@127.0.0.1:5432); the benchmark
#                       creates and drops its own databases cargo_users_bench_<backend> there
#   CARGO_TARGET_DIR    target dir for cargo-users and the generated apps (default bench/speed/target)
#   CARGO_USERS         a cargo-users binary to use instead of building this checkout
#   BENCH_KEEP=1        keep the temporary folder (generated apps, databases, every log)
#   BENCH_REUSE         the temporary folder of an earlier run kept with BENCH_KEEP=1: measure its
#                       apps again instead of generating and building them
#   BENCH_BUILD_ONLY=1  generate and build, keep the folder for BENCH_REUSE, measure nothing
#   BENCH_NICE          niceness of every measured process: servers, wrk, the probe and the Argon2
#                       limit (default -10 as root, else 0), so that other work on the machine
#                       disturbs the measurements less; the same for both sides of every ratio
#
# Everything listens on and talks to 127.0.0.1 only; every load run is bounded by wrk's -d.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
WRK_SCRIPTS=$REPO/bench/compare/wrk
PROBE=$REPO/bench/compare/probe.py
DURATION=${BENCH_DURATION:-5}
RUNS=${BENCH_RUNS:-5}
CELLS=${BENCH_CELLS:-jwt:sqlite session:sqlite jwt:postgres session:postgres}
HANDLERS=${BENCH_HANDLERS:-auth,register,verify,current-user,password-reset,role-management}
ACCOUNTS=${BENCH_ACCOUNTS:-100}
PG_URL=${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HERE/target}
PASSWORD='correct horse battery staple'
MAIN_EMAIL=main@example.com
ME_CONNS=16
LOGIN_CONNS=4
FLOOD_CONNS=16
PROBE_RATE=100  # GET /users/me per second from probe.py, with and without the flood
if [ -z "${BENCH_NICE:-}" ]; then
    if [ "$(id -u)" = 0 ]; then BENCH_NICE=-10; else BENCH_NICE=0; fi
fi
NICE=(nice -n "$BENCH_NICE")

log() { printf '\n== %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# --- tools -------------------------------------------------------------------------------------
for tool in cargo python3 curl; do command -v $tool >/dev/null || die "$tool is needed"; done
if ! command -v wrk >/dev/null; then
    log "installing wrk (apt-get)"
    SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq wrk >/dev/null
fi
case " $CELLS " in *:postgres*) command -v psql >/dev/null || die "psql is needed for the PostgreSQL cells";; esac

WORK=$(mktemp -d "${TMPDIR:-/tmp}/cargo-users-speed.XXXXXX")
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
mkdir -p "$WORK/logs"

# --- build -------------------------------------------------------------------------------------
if [ -z "${CARGO_USERS:-}" ] && [ -z "${BENCH_REUSE:-}" ]; then
    log "building cargo-users (release, CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
    (cd "$REPO" && cargo build --release --quiet)
    CARGO_USERS=$CARGO_TARGET_DIR/release/cargo-users
fi

# Each cell's app is generated as it comes, then gets two extra binaries (the floor and the Argon2
# limit) in src/bin/, so that all three are built from the same lock file, features and profile.
build_cell() { # build_cell <backend> <db>
    local backend=$1 db=$2 dir=$WORK/$1-$2
    mkdir -p "$dir/bin"
    if [ -n "${BENCH_REUSE:-}" ]; then
        log "reusing the app built in $BENCH_REUSE/$backend-$db"
        cp -r "$BENCH_REUSE/$backend-$db/bin" "$BENCH_REUSE/$backend-$db/benchapp" "$dir/"
        return
    fi
    log "generating and building the app: --backend $backend --db $db --handlers $HANDLERS"
    (cd "$dir" && NO_COLOR=1 "$CARGO_USERS" users new benchapp --yes --backend "$backend" --db "$db" \
        --handlers "$HANDLERS" >"$WORK/logs/generate-$backend-$db.txt" 2>&1) \
        || { cat "$WORK/logs/generate-$backend-$db.txt" >&2; die "generation failed"; }
    mkdir -p "$dir/benchapp/src/bin"
    cp "$HERE/floor.rs" "$dir/benchapp/src/bin/bench_floor.rs"
    cp "$HERE/argon2_limit.rs" "$dir/benchapp/src/bin/bench_argon2.rs"
    (cd "$dir/benchapp" && cargo build --release --quiet --bins)
    local bin
    for bin in benchapp bench_floor bench_argon2; do cp "$CARGO_TARGET_DIR/release/$bin" "$dir/bin/"; done
}
for cell in $CELLS; do build_cell "${cell%%:*}" "${cell##*:}"; done
if [ "${BENCH_BUILD_ONLY:-0}" = 1 ]; then
    BENCH_KEEP=1
    echo "built; measure with BENCH_REUSE=$WORK" >&2
    exit 0
fi

# --- helpers -----------------------------------------------------------------------------------
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
USERS_SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(32))')

wait_ready() { # wait_ready <url>: until GET /users/me answers 401 without a credential (60 s at most)
    local i
    for i in $(seq 1 120); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "$1/users/me")" = 401 ] && return 0
        sleep 0.5
    done
    die "$1 did not come up"
}
start() { # start <name> <port> <command...>: a server in the background, ready when this returns
    local name=$1 port=$2; shift 2
    (cd "$APP_DIR" && exec env DATABASE_URL="$DB_URL" USERS_SECRET="$USERS_SECRET" \
        BIND_ADDR="127.0.0.1:$port" APP_URL="http://127.0.0.1:$port" RATE_LIMITS=off RUST_LOG=warn \
        "${NICE[@]}" "$@" \
        >"$WORK/logs/server-$CELL-$name.txt" 2>&1) &
    PIDS+=($!)
    LAST_PID=$!
    wait_ready "http://127.0.0.1:$port"
}
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

RESULTS=$WORK/results.txt
: >"$RESULTS"
# check <file> <expected status>: the RESULT line of a wrk or probe run, which must have answers and
# only answers of that status (no other status, no timeout, no socket error).
check() {
    python3 - "$1" "$2" <<'EOF'
import sys
line = next((l for l in open(sys.argv[1]) if l.startswith("RESULT")), None)
if line is None:
    sys.exit(f"no RESULT line in {sys.argv[1]}")
values = dict(item.split("=", 1) for item in line.split()[1:])
expected = f"status_{sys.argv[2]}"
bad = {k: v for k, v in values.items() if (k.startswith("status_") and k != expected) or k in ("timeouts", "errors")}
bad = {k: v for k, v in bad.items() if float(v) != 0}
if bad or float(values.get(expected, 0)) == 0 or values.get(expected) != values["requests"]:
    sys.exit(f"{sys.argv[1]}: answers other than {sys.argv[2]}: {line.strip()}")
EOF
}
record() { # record <label> <file> <expected status>
    check "$2" "$3" || die "run $1 failed (see $2)"
    grep '^RESULT' "$2" | sed "s/^/$CELL $1 /" >>"$RESULTS"
    printf '  %-28s %s\n' "$CELL $1" "$(grep '^RESULT' "$2" | cut -c8-)" >&2
}
wrk_run() { # wrk_run <label> <conns> <seconds> <url> <script> [script args...]
    local label=$1 conns=$2 seconds=$3 url=$4 script=$5; shift 5
    local out=$WORK/logs/wrk-$CELL-$label.txt
    "${NICE[@]}" wrk --timeout 10s -t2 -c"$conns" -d"${seconds}s" -s "$WRK_SCRIPTS/$script" "$url" -- "$@" >"$out" 2>&1
    echo "$out"
}
me() { # me <label> <url> <header name> <header value>
    record "$1" "$(wrk_run "$1" "$ME_CONNS" "$DURATION" "$2" me.lua "$3" "$4")" 200
}
login() { # login <label> <url> <conns> <seconds>
    record "$1" "$(wrk_run "$1" "$3" "$4" "$2" login.lua bench "$ACCOUNTS" "$PASSWORD")" 201
}
argon2_limit() { # argon2_limit <label>
    local out=$WORK/logs/argon2-$CELL-$1.txt
    "${NICE[@]}" "$BIN/bench_argon2" "$DURATION" >"$out" 2>&1
    record "$1" "$out" 200
}
probe() { # probe <label> <port> <header>
    local out=$WORK/logs/probe-$CELL-$1.txt
    "${NICE[@]}" python3 "$PROBE" 127.0.0.1 "$2" "$3" "$DURATION" "$PROBE_RATE" 10 >"$out" 2>&1 || true
    record "$1" "$out" 200
}
warm() { # warm <url> <header name> <header value>: the same 2 s of load for every server
    "${NICE[@]}" wrk -t2 -c"$ME_CONNS" -d2s -s "$WRK_SCRIPTS/me.lua" "$1" -- "$2" "$3" >/dev/null 2>&1
}

# --- one cell ----------------------------------------------------------------------------------
run_cell() { # run_cell <backend> <db>
    local backend=$1 db=$2
    CELL=$backend-$db
    BIN=$WORK/$CELL/bin
    APP_DIR=$WORK/$CELL/benchapp
    if [ "$db" = sqlite ]; then
        DB_URL=sqlite://$WORK/$CELL.db
    else
        local name=cargo_users_bench_$backend
        psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS $name WITH (FORCE)" >/dev/null
        DB_URL=$PG_URL/$name
    fi
    log "cell $CELL: users"
    local users_log=$WORK/logs/users-$CELL.txt
    (cd "$APP_DIR" && env DATABASE_URL="$DB_URL" USERS_SECRET="$USERS_SECRET" RUST_LOG=warn \
        "$BIN/benchapp" users create-user --email "$MAIN_EMAIL" --password "$PASSWORD" --verified) >"$users_log"
    seq 0 $((ACCOUNTS - 1)) | (cd "$APP_DIR" && env DATABASE_URL="$DB_URL" USERS_SECRET="$USERS_SECRET" \
        RUST_LOG=warn xargs -P 2 -I{} "$BIN/benchapp" users create-user --email "bench{}@example.com" \
        --password "$PASSWORD" --verified) >>"$users_log"
    [ "$(grep -c . "$users_log")" -ge $((ACCOUNTS + 1)) ] || die "creating users failed ($users_log)"

    log "cell $CELL: servers"
    local app_port floor_port
    app_port=$(free_port); floor_port=$(free_port)
    start app "$app_port" "$BIN/benchapp"
    local app_pid=$LAST_PID app=http://127.0.0.1:$app_port
    start floor "$floor_port" "$BIN/bench_floor"
    local floor_pid=$LAST_PID floor=http://127.0.0.1:$floor_port
    local same_port; same_port=$(free_port)
    start floor-app-query "$same_port" env FLOOR_QUERY=app "$BIN/bench_floor"
    local same_pid=$LAST_PID same=http://127.0.0.1:$same_port

    # The main user logs in on the app; the floor gets the stored hash of that very credential.
    local headers token name value
    headers=$(curl -s -D - -o "$WORK/logs/login-$CELL.json" -H 'content-type: application/json' \
        -d "{\"email\":\"$MAIN_EMAIL\",\"password\":\"$PASSWORD\"}" "$app/login")
    grep -q '^HTTP/1.1 201' <<<"$headers" || die "login failed: $(head -1 <<<"$headers")"
    if [ "$backend" = jwt ]; then
        token=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["access_token"])' \
            "$WORK/logs/login-$CELL.json")
        name=Authorization value="Bearer $token"
    else
        token=$(grep -i '^set-cookie:' <<<"$headers" | head -1 | sed -e 's/^[Ss]et-[Cc]ookie: *//' -e 's/;.*//')
        name=Cookie value=$token
    fi
    local floor_bearer
    floor_bearer=$(python3 - "$backend" "$token" <<'EOF'
import base64, hashlib, json, sys
backend, token = sys.argv[1], sys.argv[2]
if backend == "jwt":
    payload = token.split(".")[1]
    secret = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["jti"]
else:
    secret = token.split("=", 1)[1]
print(base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest()).decode().rstrip("="))
EOF
)
    curl -s -f -H "$name: $value" "$app/users/me" | grep -q "\"$MAIN_EMAIL\"" || die "GET /users/me on the app failed"
    curl -s -f -H "Authorization: Bearer $floor_bearer" "$floor/users/me" | grep -q "\"$MAIN_EMAIL\"" \
        || die "GET /users/me on the floor failed"
    curl -s -f -H "Authorization: Bearer $floor_bearer" "$same/users/me" | grep -q "\"$MAIN_EMAIL\"" \
        || die "GET /users/me on the floor with the app's query failed"

    log "cell $CELL: GET /users/me, $ME_CONNS connections, app and floor back to back, $RUNS times"
    warm "$app" "$name" "$value"
    warm "$floor" Authorization "Bearer $floor_bearer"
    warm "$same" Authorization "Bearer $floor_bearer"
    local run
    for run in $(seq 1 "$RUNS"); do
        if [ $((run % 2)) = 1 ]; then
            me "me.app.$run" "$app" "$name" "$value"; me "me.floor.$run" "$floor" Authorization "Bearer $floor_bearer"
            me "me.same.$run" "$same" Authorization "Bearer $floor_bearer"
        else
            me "me.same.$run" "$same" Authorization "Bearer $floor_bearer"
            me "me.floor.$run" "$floor" Authorization "Bearer $floor_bearer"; me "me.app.$run" "$app" "$name" "$value"
        fi
    done
    stop "$floor_pid"
    stop "$same_pid"

    log "cell $CELL: POST /login, $LOGIN_CONNS connections, and the parallel Argon2 limit, $RUNS times"
    login login.warm "$app" "$LOGIN_CONNS" 2
    for run in $(seq 1 "$RUNS"); do
        if [ $((run % 2)) = 1 ]; then
            login "login.app.$run" "$app" "$LOGIN_CONNS" "$DURATION"; argon2_limit "login.argon2.$run"
        else
            argon2_limit "login.argon2.$run"; login "login.app.$run" "$app" "$LOGIN_CONNS" "$DURATION"
        fi
    done

    log "cell $CELL: GET /users/me probe ($PROBE_RATE/s) without and during a $FLOOD_CONNS-connection login flood, $RUNS times"
    local flood_pid flood_out
    for run in $(seq 1 "$RUNS"); do
        probe "p99.idle.$run" "$app_port" "$name: $value"
        flood_out=$WORK/logs/wrk-$CELL-p99.flood-login.$run.txt
        "${NICE[@]}" wrk --timeout 10s -t2 -c"$FLOOD_CONNS" -d"$((DURATION + 2))s" -s "$WRK_SCRIPTS/login.lua" "$app" -- \
            bench "$ACCOUNTS" "$PASSWORD" >"$flood_out" 2>&1 &
        flood_pid=$!
        sleep 1
        probe "p99.flood.$run" "$app_port" "$name: $value"
        wait "$flood_pid"
        record "p99.flood-login.$run" "$flood_out" 201
        sleep 1
    done
    stop "$app_pid"
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
for cell in $CELLS; do run_cell "${cell%%:*}" "${cell##*:}"; done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# --- the table ---------------------------------------------------------------------------------
OUT=$HERE/results/$(date -u +%Y%m%dT%H%M%SZ).txt
mkdir -p "$HERE/results"
cp "$RESULTS" "${OUT%.txt}.raw"
{
    if [ -n "${BENCH_REUSE:-}" ]; then
        echo "cargo-users speed: $(date -u '+%Y-%m-%d %H:%M UTC'), the apps built by the run kept in $BENCH_REUSE"
    else
        echo "cargo-users speed: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$REPO" rev-parse --short HEAD)$(git -C "$REPO" diff --quiet HEAD -- templates || echo ' (templates modified)')"
    fi
    echo "machine: nproc=$(nproc), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(uname -sr)"
    echo "load average (1/5/15 min) at start $LOAD_START, at end $LOAD_END (the load generators run on the same cores); measured processes at niceness $BENCH_NICE"
    echo "generated apps: --handlers $HANDLERS, release build, RATE_LIMITS=off, RUST_LOG=warn; $(rustc --version | cut -d' ' -f1-2)"
    echo "each figure: median [min .. max] of $RUNS runs of ${DURATION}s; the two sides of a ratio ran back to back; only 200 (GET) and 201 (login) answers counted, anything else fails the run"
    echo
    python3 "$HERE/report.py" "$RESULTS" "$ME_CONNS" "$LOGIN_CONNS" "$FLOOD_CONNS" "$PROBE_RATE"
} | tee "$OUT"
echo >&2
echo "saved to $OUT" >&2
