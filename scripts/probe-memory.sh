#!/usr/bin/env bash
# probe-memory: run the memory attacks of issue 18 against a built
# binary under MEMORY_LIMIT=512MiB and AUTH_MODE=apikey, and print the
# server's peak RSS during each (sampled VmRSS, and VmHWM so far), how many
# calls of a legitimate client on its own connection were served meanwhile,
# the answers the attack streams got, and the refusal metrics.
#
#   scripts/probe-memory.sh
#
# The attacks (scripts/probe-memory/main.go), each without and then with
# valid credentials:
#   16 concurrent gRPC calls, each a 4 MB message of 2,000,000 empty events;
#   2 connections x 256 gRPC streams that send 4,193,800 of 4,194,000
#     declared bytes and never finish, held PROBE_HOLD (default 12s, past
#     INGEST_READ_TIMEOUT's 10s);
#   200 h2c POST /v1/events bodies declared 4,194,000 bytes, sent but for
#     the last 200, likewise held.
# Target: every attack keeps the server's RSS under 600 MB.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
work="$(mktemp -d -t egprobe.XXXXXX)"
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
go build -o "$work/event-grpc" ./cmd/event-grpc
go build -o "$work/probe" ./scripts/probe-memory
port=$((20000 + RANDOM % 9000))
gport=$((port + 1))
key="probe-key-$(date +%s%N)"
MEMORY_LIMIT=512MiB AUTH_MODE=apikey AUTH_API_KEYS="probe:$key" PORT="$port" GIN_PORT="$gport" \
  DATA_DIR="$work/data" LOG_LEVEL=warn "$work/event-grpc" >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 1 200); do
  if curl -fs "127.0.0.1:$gport/heartbeat" >/dev/null 2>&1; then break; fi
  sleep 0.1
done
curl -fs "127.0.0.1:$gport/heartbeat" >/dev/null || { echo "probe-memory: server did not come up:" >&2; tail -20 "$work/server.log" >&2; exit 1; }
echo "probe-memory: event-grpc pid $pid, MEMORY_LIMIT=512MiB AUTH_MODE=apikey, gRPC :$port, HTTP :$gport"
"$work/probe" -grpc "127.0.0.1:$port" -http "127.0.0.1:$gport" -pid "$pid" -client probe -key "$key" -hold "${PROBE_HOLD:-12s}"
