#!/usr/bin/env bash
# The main demo: builds the library and the C examples, starts a local nats-server on a free
# loopback port, and runs examples_c/connevents, which prints connection events and
# pub/sub traffic; the server is restarted half way so that the disconnected and
# reconnected events show.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target connevents >/dev/null

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
server=${NATS_SERVER_BIN:-nats-server}
"$server" -a 127.0.0.1 -p "$port" >/tmp/nats-demo-server.log 2>&1 &
spid=$!
trap 'kill $spid 2>/dev/null || true' EXIT
for _ in $(seq 50); do (echo >/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.1; done

build/examples_c/connevents -s "nats://127.0.0.1:$port" -count 6 -interval 500 &
cpid=$!
sleep 1.5
echo "demo: restarting nats-server"
kill "$spid"; wait "$spid" 2>/dev/null || true
sleep 1
"$server" -a 127.0.0.1 -p "$port" >>/tmp/nats-demo-server.log 2>&1 &
spid=$!
wait "$cpid"
