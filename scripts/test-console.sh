#!/usr/bin/env bash
# test-console: the status page's browser test. Builds the server, starts it
# (ports 18800/18801, temp DATA_DIR, a RabbitMQ virtual host of its own so
# that the test can publish poison messages the way other services do),
# puts it under load with `event-grpc bench`, publishes a poison message,
# and runs test/console/console.test.mjs in headless Chromium. Screenshots
# land in test/console/artifacts/ (gitignored).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$here/.."
cd "$root"
pwdir="$("$here/ensure-browser.sh")"
"$here/ensure-rabbitmq.sh" >/dev/null

tmp="$(mktemp -d /tmp/event-grpc-console.XXXXXX)"
art="$root/test/console/artifacts"
mkdir -p "$art"
vhost="egconsole_$$_$(date +%s)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rabbitmqctl delete_vhost "$vhost" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

if ss -ltn 2>/dev/null | grep -qE ':1880[01]\b'; then
  echo "test-console: port 18800 or 18801 is already in use" >&2; exit 1
fi
go build -o "$tmp/event-grpc" ./cmd/event-grpc
go build -o "$tmp/poison" ./test/console/poison
rabbitmqctl add_vhost "$vhost" >/dev/null
rabbitmqctl set_permissions -p "$vhost" guest '.*' '.*' '.*' >/dev/null

PORT=18800 GIN_PORT=18801 DATA_DIR="$tmp/data" BROKER=rabbitmq RABBIT_VHOST="$vhost" LOG_LEVEL=warn \
  "$tmp/event-grpc" >"$art/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  curl -fs http://127.0.0.1:18801/heartbeat >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fs http://127.0.0.1:18801/heartbeat >/dev/null || { echo "test-console: server did not become ready" >&2; cat "$art/server.log" >&2; exit 1; }

"$tmp/event-grpc" bench --target 127.0.0.1:18800 --rate 40 --duration 170s --quiet >"$art/bench.log" 2>&1 &
pids+=($!)
"$tmp/poison" -url "amqp://guest:guest@127.0.0.1:5672/$vhost" -n 3

BASE=http://127.0.0.1:18801 PLAYWRIGHT_DIR="$pwdir" ARTIFACTS="$art" USER_DATA_DIR="$tmp/chromium" \
  node --test "$root/test/console/console.test.mjs"
