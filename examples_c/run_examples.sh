#!/usr/bin/env bash
# Smoke test of the example programs against a private nats-server.
# Usage: run_examples.sh <directory containing the built examples>
# The server binary is $NATS_SERVER_BIN or `nats-server` from PATH.
set -u

BIN_DIR=${1:?usage: run_examples.sh <bin dir>}
SERVER=${NATS_SERVER_BIN:-nats-server}
WORK=$(mktemp -d /tmp/nats-examples-XXXXXX)
SRV_PID=""
PIDS=()

cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    if [ -n "$SRV_PID" ]; then kill "$SRV_PID" 2>/dev/null; wait "$SRV_PID" 2>/dev/null; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

fail() { echo "FAIL: $*"; exit 1; }

# Start the server on a random port (-p -1) and read the port from its log.
"$SERVER" -a 127.0.0.1 -p -1 > "$WORK/server.log" 2>&1 &
SRV_PID=$!
PORT=""
for _ in $(seq 1 100); do
    PORT=$(sed -n 's/.*Listening for client connections on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$WORK/server.log" | head -1)
    [ -n "$PORT" ] && break
    sleep 0.05
done
[ -n "$PORT" ] || { cat "$WORK/server.log"; fail "server did not start"; }
URL="nats://127.0.0.1:$PORT"
echo "server: $URL"

# Waits until file $1 contains $2 (up to 5 s).
wait_for() {
    for _ in $(seq 1 100); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

run() { # name expected_rc command...
    local name=$1 rc=$2; shift 2
    echo "--- $name: $*"
    "$@" > "$WORK/$name.out" 2>&1
    local got=$?
    cat "$WORK/$name.out"
    [ "$got" = "$rc" ] || fail "$name exited with $got (expected $rc)"
}

run connevents 0 "$BIN_DIR/connevents" -s "$URL" -count 3
grep -q "\[msg\] events.demo: message 3" "$WORK/connevents.out" || fail "connevents: messages"
grep -q "\[event\] connection closed" "$WORK/connevents.out" || fail "connevents: closed event"

"$BIN_DIR/subscriber" -s "$URL" -subj ex.sub -count 3 -timeout 5000 > "$WORK/sub.out" 2>&1 &
SUB=$!; PIDS+=("$SUB")
wait_for "$WORK/sub.out" "Ready" || fail "subscriber not ready"
run publisher 0 "$BIN_DIR/publisher" -s "$URL" -subj ex.sub -txt hi -count 3
wait "$SUB"; rc=$?; cat "$WORK/sub.out"
[ "$rc" = 0 ] || fail "subscriber exited with $rc"
[ "$(grep -c 'Received msg: ex.sub - hi' "$WORK/sub.out")" = 3 ] || fail "subscriber: messages"

"$BIN_DIR/subscriber" -s "$URL" -subj "ex.sync.*" -sync -count 2 -timeout 5000 > "$WORK/ssub.out" 2>&1 &
SUB=$!; PIDS+=("$SUB")
wait_for "$WORK/ssub.out" "Ready" || fail "sync subscriber not ready"
run publisher2 0 "$BIN_DIR/publisher" -s "$URL" -subj ex.sync.a -count 2
wait "$SUB"; rc=$?; cat "$WORK/ssub.out"
[ "$rc" = 0 ] || fail "sync subscriber exited with $rc"

"$BIN_DIR/replier" -s "$URL" -subj ex.svc -count 2 -timeout 5000 > "$WORK/rep.out" 2>&1 &
REP=$!; PIDS+=("$REP")
wait_for "$WORK/rep.out" "Listening" || fail "replier not ready"
run requestor 0 "$BIN_DIR/requestor" -s "$URL" -subj ex.svc -txt ping -count 2
[ "$(grep -c 'Received reply: .* - reply: ping' "$WORK/requestor.out")" = 2 ] || fail "requestor: replies"
wait "$REP"; rc=$?; cat "$WORK/rep.out"
[ "$rc" = 0 ] || fail "replier exited with $rc"

run noresponders 1 "$BIN_DIR/requestor" -s "$URL" -subj ex.nobody -timeout 1000
grep -q "No responders" "$WORK/noresponders.out" || fail "requestor: no responders"

run queuegroup 0 "$BIN_DIR/queuegroup" -s "$URL" -count 30
grep -q "Total: 30 of 30" "$WORK/queuegroup.out" || fail "queuegroup: total"

# Connection events across a server restart (the README demo).
"$BIN_DIR/connevents" -s "$URL" -count 6 -interval 300 > "$WORK/events.out" 2>&1 &
EV=$!; PIDS+=("$EV")
wait_for "$WORK/events.out" "Published 'message 2'" || fail "connevents did not start publishing"
kill "$SRV_PID"; wait "$SRV_PID" 2>/dev/null
"$SERVER" -a 127.0.0.1 -p "$PORT" >> "$WORK/server.log" 2>&1 &
SRV_PID=$!
wait "$EV"; rc=$?; echo "--- connevents (server restart)"; cat "$WORK/events.out"
[ "$rc" = 0 ] || fail "connevents (restart) exited with $rc"
grep -q "\[event\] disconnected" "$WORK/events.out" || fail "connevents: disconnected event"
grep -q "\[event\] reconnected" "$WORK/events.out" || fail "connevents: reconnected event"
# The connection events, in the order they were printed: lost (server
# stopped), back (server restarted), then closing the connected connection
# reports a disconnection followed by the closed event. Error events, if any,
# are not part of the sequence.
EVENTS=$(sed -n -E 's/^\[event\] (connection closed|disconnected|reconnected).*/\1/p' "$WORK/events.out" | paste -sd, -)
[ "$EVENTS" = "disconnected,reconnected,disconnected,connection closed" ] \
    || fail "connevents: unexpected event sequence '$EVENTS'"

run badurl 1 "$BIN_DIR/publisher" -s "nats://127.0.0.1:1"
run help 0 "$BIN_DIR/publisher" -h

echo "all examples OK"
