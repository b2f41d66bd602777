#!/usr/bin/env bash
# test-console: the status page's browser test. Builds the server, starts it
# (ports 18800/18801, temp DATA_DIR, a RabbitMQ virtual host of its own so
# that the test can publish poison messages the way other services do),
# puts it under load with `event-grpc bench`, publishes a poison message,
# and runs test/console/console.test.mjs in headless Chromium. A second
# server (ports 18802/18803, the zero-config embedded JetStream and DuckDB,
# opened to the network with QUERY_ALLOW_REMOTE and a generated
# ADMIN_TOKEN) takes a burst of events and a rejected one before
# test/console/console-remote.test.mjs opens its page through a TLS proxy
# (port 18804, a self-signed certificate made here with openssl), logs in
# and checks the history, the queue bytes/cap and disk panels and the
# rejected-event sample. Screenshots land in test/console/artifacts/
# (gitignored).
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

if ss -ltn 2>/dev/null | grep -qE ':1880[0-4]\b'; then
  echo "test-console: a port of 18800-18804 is already in use" >&2; exit 1
fi
command -v openssl >/dev/null || { export DEBIAN_FRONTEND=noninteractive; apt-get install -y -qq openssl >&2; }
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

# The remote operator's server: a burst and a rejected event before any
# page is open.
admin_token="$(openssl rand -hex 24)"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=console.example \
  -addext subjectAltName=DNS:console.example -keyout "$tmp/tls.key" -out "$tmp/tls.crt" >/dev/null 2>&1
PORT=18802 GIN_PORT=18803 DATA_DIR="$tmp/data2" QUERY_ALLOW_REMOTE=true ADMIN_TOKEN="$admin_token" LOG_LEVEL=warn \
  "$tmp/event-grpc" >"$art/server-remote.log" 2>&1 &
pids+=($!)
for _ in $(seq 150); do
  curl -fs http://127.0.0.1:18803/heartbeat >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fs http://127.0.0.1:18803/heartbeat >/dev/null || { echo "test-console: the second server did not become ready" >&2; cat "$art/server-remote.log" >&2; exit 1; }
code="$(curl -s -o "$art/rejected.json" -w '%{http_code}' http://127.0.0.1:18803/v1/events -H 'Content-Type: application/json' \
  -d '{"events":[{"id":"rejected-by-console-test","timestamp":"1000","customEvent":{"name":"too_old"}}]}')"
[ "$code" = 422 ] || { echo "test-console: the rejected event got HTTP $code, want 422: $(cat "$art/rejected.json")" >&2; exit 1; }
burst_rate=100 burst_batch=20 burst_secs=4
"$tmp/event-grpc" bench --target 127.0.0.1:18802 --rate "$burst_rate" --batch "$burst_batch" --duration "${burst_secs}s" --quiet >"$art/bench-burst.log" 2>&1
"$tmp/poison" -url "amqp://guest:guest@127.0.0.1:5672/$vhost" -n 3

BASE=http://127.0.0.1:18801 PLAYWRIGHT_DIR="$pwdir" ARTIFACTS="$art" USER_DATA_DIR="$tmp/chromium" \
  node --test "$root/test/console/console.test.mjs"
BASE_REMOTE=http://127.0.0.1:18803 ADMIN_TOKEN="$admin_token" TLS_KEY="$tmp/tls.key" TLS_CERT="$tmp/tls.crt" PROXY_PORT=18804 \
  BURST_EVENTS=$((burst_rate * burst_batch * burst_secs)) PLAYWRIGHT_DIR="$pwdir" ARTIFACTS="$art" USER_DATA_DIR="$tmp/chromium-remote" \
  node --test "$root/test/console/console-remote.test.mjs"
