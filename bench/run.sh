#!/usr/bin/env bash
# bench/run.sh: compare this library (ours), Debian's cnats and a raw-socket client.
#
#   bench/run.sh                 # full run (~10 minutes on 2 cores)
#   QUICK=1 bench/run.sh         # ~1-2 minutes: N/10, RUNS=3
#
# Environment:
#   RUNS=7          runs per library and row (libraries alternate run by run)
#   QUICK=1         smaller N, RUNS defaults to 3
#   ROWS="pub/16 req/128 ..."   only these rows (default: all)
#   OURS_LIB=path   use this libnats.so instead of building with cargo
#   NO_CARGO=1      do not run `cargo build --release`; use the newest built library
#   RUN_TIMEOUT=120 seconds before a single run is killed (reported as a hang)
#   STALL=20        natsbench gives up after this many seconds without progress
#   NATS_SERVER_BIN nats-server binary (default: nats-server on PATH)
#   CC, CFLAGS      C compiler and flags for the benchmark programs
#   REPORT=path     Markdown report (default: bench/results.md after a full run; a
#                   partial one, QUICK, ROWS or RUNS below 5, writes bench/.build/report.md
#                   so that it never replaces the committed table)
#
# Writes the report (and raw lines in bench/.build/results.txt).
# Benchmarks report; nothing here asserts timing.
set -u
set -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
OUT=$BENCH/.build
QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then RUNS=${RUNS:-3}; else RUNS=${RUNS:-7}; fi
RUN_TIMEOUT=${RUN_TIMEOUT:-120}
STALL=${STALL:-20}
CC=${CC:-cc}
CFLAGS=${CFLAGS:--O2 -g}
SERVER_BIN=${NATS_SERVER_BIN:-$(command -v nats-server || true)}

log() { printf '%s\n' "$*" >&2; }
die() { log "run.sh: $*"; exit 1; }

mkdir -p "$OUT/ours" || die "cannot create $OUT"
[ -n "$SERVER_BIN" ] || die "nats-server not found (set NATS_SERVER_BIN)"
command -v python3 >/dev/null || die "python3 is needed for the report"
pkg-config --exists libnats || die "system cnats not found (pkg-config libnats)"

# ---------------------------------------------------------------- build
if [ -n "${OURS_LIB:-}" ]; then
    SRC_LIB=$OURS_LIB
else
    if [ "${NO_CARGO:-0}" != 1 ]; then
        log "== cargo build --release"
        if ! (cd "$ROOT" && cargo build --release >&2); then
            log "run.sh: WARNING: cargo build failed; using the last built library"
        fi
    fi
    SRC_LIB=
    for cand in "$ROOT/target/release/libnats.so" "$ROOT/build/lib/libnats.so.3.13.0"; do
        [ -f "$cand" ] || continue
        if [ -z "$SRC_LIB" ] || [ "$cand" -nt "$SRC_LIB" ]; then SRC_LIB=$cand; fi
    done
fi
[ -n "$SRC_LIB" ] && [ -f "$SRC_LIB" ] || die "no libnats.so found (cargo build --release failed?)"
# Snapshot the library: others may rebuild target/ while we run.
rm -f "$OUT/ours/"libnats.so*
cp "$SRC_LIB" "$OUT/ours/libnats.so.3.13" || die "copy $SRC_LIB"
ln -s libnats.so.3.13 "$OUT/ours/libnats.so"
LIB_DESC="$SRC_LIB ($(date -r "$SRC_LIB" '+%Y-%m-%d %H:%M:%S'))"

log "== compiling benchmark programs"
$CC $CFLAGS -Wall -I "$ROOT/include" -o "$OUT/natsbench_ours" "$BENCH/natsbench.c" \
    -L "$OUT/ours" -Wl,-rpath,"$OUT/ours" -lnats -lpthread || die "compile natsbench (ours)"
# shellcheck disable=SC2046
$CC $CFLAGS -Wall -o "$OUT/natsbench_cnats" "$BENCH/natsbench.c" \
    $(pkg-config --cflags --libs libnats) -lpthread || die "compile natsbench (cnats)"
$CC $CFLAGS -Wall -o "$OUT/rawclient" "$BENCH/rawclient.c" -lpthread || die "compile rawclient"
case $(ldd "$OUT/natsbench_ours") in *"$OUT/ours/libnats.so.3.13"*) ;; *) die "natsbench_ours does not load our library" ;; esac

# ---------------------------------------------------------------- server
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
PORT=$(free_port)
URL=nats://127.0.0.1:$PORT
"$SERVER_BIN" -a 127.0.0.1 -p "$PORT" >"$OUT/server.log" 2>&1 &
SERVER_PID=$!
cleanup() { kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; }
trap cleanup EXIT
trap 'exit 130' INT TERM
for _ in $(seq 100); do
    (echo >/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null && break
    sleep 0.1
done
(echo >/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null || die "nats-server did not start (see $OUT/server.log)"
SERVER_VER=$("$SERVER_BIN" --version 2>/dev/null | head -1)
log "== nats-server $SERVER_VER on $URL"

# ---------------------------------------------------------------- rows
# n per size for the throughput modes. Publish-only runs take 4 times as many: at these
# sizes they finish in 0.15-0.3 s otherwise, and the machine's speed drifts over seconds:
# twelve short runs in a row of the raw client at 1 KB ranged from 1.4M to 3.6M msgs/s.
n_pub() {
    local n
    n=$(n_for "$1")
    [ "$1" -le 1024 ] && n=$((n * 4))
    echo "$n"
}
n_for() {
    local n
    case $1 in
        16) n=2000000 ;; 128) n=1000000 ;; 1024) n=500000 ;; 65536) n=20000 ;; *) n=100000 ;;
    esac
    [ "$QUICK" = 1 ] && n=$((n / 10))
    echo "$n"
}
REQ_N=${REQ_N:-$([ "$QUICK" = 1 ] && echo 1000 || echo 5000)}

# row spec: name|mode args|size|n|variants
ALL_ROWS=()
for s in 16 128 1024 65536; do ALL_ROWS+=("pub/$s|pub|$s|$(n_pub $s)|ours cnats raw"); done
for s in 16 128 1024 65536; do ALL_ROWS+=("pubsub/$s|pubsub|$s|$(n_for $s)|ours cnats raw"); done
for s in 16 128 1024 65536; do ALL_ROWS+=("sync/$s|sync|$s|$(n_for $s)|ours cnats"); done
for s in 16 128 1024 65536; do ALL_ROWS+=("req/$s|req|$s|$REQ_N|ours ours-asap cnats cnats-asap raw"); done
ALL_ROWS+=("queue4/128|queue 4|128|$(n_for 128)|ours cnats")
ALL_ROWS+=("fanout4/128|fanout 4|128|$(( $(n_for 128) / 2 ))|ours cnats")
ALL_ROWS+=("threads|threads|128|1|ours cnats")
ALL_ROWS+=("subs1000|subs1000|128|1|ours cnats")

want_row() {
    [ -z "${ROWS:-}" ] && return 0
    local r
    for r in $ROWS; do [ "$r" = "$1" ] && return 0; done
    return 1
}

# CPU time the server used (user + system, clock ticks), read around each run: in a row
# the server bounds, each client gets as far as the server's CPU per message allows.
CLK_TCK=$(getconf CLK_TCK)
server_ticks() { awk '{print $14 + $15}' "/proc/$SERVER_PID/stat" 2>/dev/null || echo 0; }
# Time the server's threads spent ready to run but waiting for a CPU (ns, summed over its
# threads; the second field of each thread's schedstat). On a machine where the client and
# the server share few cores, this is what a client's own CPU use costs the server.
server_wait_ns() { cat /proc/"$SERVER_PID"/task/*/schedstat 2>/dev/null | awk '{w += $2} END {printf "%.0f\n", w}'; }

RESULTS=$OUT/results.txt
ERRLOG=$OUT/stderr.log
: >"$RESULTS"
: >"$ERRLOG"
START=$(date +%s)

run_one() { # row variant run mode-args size n
    local row=$1 variant=$2 run=$3 margs=$4 size=$5 n=$6 bin extra=() out rc line
    case $variant in
        ours)       bin=$OUT/natsbench_ours ;;
        ours-asap)  bin=$OUT/natsbench_ours;  extra=(-asap) ;;
        cnats)      bin=$OUT/natsbench_cnats ;;
        cnats-asap) bin=$OUT/natsbench_cnats; extra=(-asap) ;;
        raw)        bin=$OUT/rawclient ;;
    esac
    local stallarg=(-stall "$STALL") t0 t1 w0 w1
    echo "### row=$row variant=$variant run=$run" >>"$ERRLOG"
    t0=$(server_ticks)
    w0=$(server_wait_ns)
    # shellcheck disable=SC2086
    out=$(timeout -k 5 "$RUN_TIMEOUT" "$bin" -url "$URL" -lib "$variant" -n "$n" -size "$size" \
          "${stallarg[@]}" "${extra[@]}" $margs 2>>"$ERRLOG")
    rc=$?
    t1=$(server_ticks)
    w1=$(server_wait_ns)
    line=$(printf '%s\n' "$out" | grep '^RESULT ' | tail -1)
    [ -n "$line" ] || line="RESULT lib=$variant status=noresult"
    line="$line server_cpu_ms=$(( (t1 - t0) * 1000 / CLK_TCK ))"
    # (A server thread that ended during the run takes its count with it: no value then.)
    if [ -n "$w0" ] && [ -n "$w1" ] && [ "$w1" -ge "$w0" ]; then
        line="$line server_wait_ms=$(( (w1 - w0) / 1000000 ))"
    fi
    printf 'row=%s variant=%s run=%s rc=%s %s\n' "$row" "$variant" "$run" "$rc" "${line#RESULT }" >>"$RESULTS"
    printf '  %-12s %-10s run %s rc=%s %s\n' "$row" "$variant" "$run" "$rc" \
        "$(printf '%s' "$line" | grep -o ' status=[a-z]*\|msgs_per_sec=[0-9]*\|p50_us=[0-9.]*\|threads=[0-9]*' | tr '\n' ' ')" >&2
}

for spec in "${ALL_ROWS[@]}"; do
    IFS='|' read -r row margs size n variants <<<"$spec"
    want_row "$row" || continue
    log "== $row (n=$n, $RUNS runs each: $variants)"
    read -r -a vs <<<"$variants"
    for run in $(seq "$RUNS"); do
        # Each round starts with the next variant: none always runs right after another.
        for i in $(seq 0 $(( ${#vs[@]} - 1 ))); do
            v=${vs[$(( (i + run - 1) % ${#vs[@]} ))]}
            run_one "$row" "$v" "$run" "$margs" "$size" "$n"
        done
    done
done
ELAPSED=$(( $(date +%s) - START ))

# ---------------------------------------------------------------- report
MACHINE_NPROC=$(nproc)
MACHINE_CPU=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
MACHINE_KERNEL=$(uname -srm)
MACHINE_DATE=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
CNATS_VER=$(pkg-config --modversion libnats)
GIT_REV=$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
GIT_DIRTY=$(cd "$ROOT" && git status --porcelain -- src 2>/dev/null | wc -l)

export RESULTS RUNS QUICK MACHINE_NPROC MACHINE_CPU MACHINE_KERNEL MACHINE_DATE CNATS_VER \
       GIT_REV GIT_DIRTY LIB_DESC SERVER_VER ELAPSED REQ_N
if [ -z "${REPORT:-}" ]; then
    if [ "$QUICK" = 1 ] || [ -n "${ROWS:-}" ] || [ "$RUNS" -lt 5 ]; then
        REPORT=$OUT/report.md
    else
        REPORT=$BENCH/results.md
    fi
fi
python3 "$BENCH/report.py" "$RESULTS" "$REPORT"
