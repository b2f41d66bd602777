#!/usr/bin/env bash
# test-segment: the public Segment SDKs, unmodified but for their endpoint,
# against the real server's Segment API (test/segment/):
#   - @segment/analytics-node and @rudderstack/rudder-sdk-node (Node)
#   - @segment/analytics-next in headless Chromium (Debian's chromium,
#     playwright-core), loaded from a local bundle with cdnSettings inline
# npm ci installs the exact versions of test/segment/package-lock.json. The
# server is built from this checkout and started zero-config (embedded
# JetStream and DuckDB, a temporary DATA_DIR) on 18950/18951 with
# AUTH_MODE=apikey; the tests read the rows back through /v1/query. The
# analytics-go test is a Go test (internal/ingest/segment). `make segment`
# runs this; `make test` includes it. Nothing is skipped.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="$root/test/segment"
command -v node >/dev/null || { echo "test-segment: node not found (Node 20+ needed)" >&2; exit 2; }
major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$major" -ge 20 ] || { echo "test-segment: Node $major; 20+ needed" >&2; exit 2; }
step() { echo "== test-segment: $* ($(date +%T))"; }

step "chromium"
"$root/scripts/ensure-browser.sh" >/dev/null

step "npm ci"
(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)

tmp="$(mktemp -d /tmp/event-grpc-segment.XXXXXX)"
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

step "build the server"
(cd "$root" && go build -o "$tmp/event-grpc" ./cmd/event-grpc)
if ss -ltn 2>/dev/null | grep -qE ':1895[01]\b'; then
  echo "test-segment: port 18950 or 18951 is already in use" >&2; exit 1
fi
key="segment-sdk-test-write-key-$$"
PORT=18950 GIN_PORT=18951 DATA_DIR="$tmp/data" LOG_LEVEL=warn AUTH_MODE=apikey AUTH_API_KEYS="sdk:$key" \
  "$tmp/event-grpc" >"$tmp/server.log" 2>&1 &
pid=$!
for _ in $(seq 150); do
  curl -fs http://127.0.0.1:18951/heartbeat >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fs http://127.0.0.1:18951/heartbeat >/dev/null || { echo "test-segment: server did not become ready" >&2; cat "$tmp/server.log" >&2; exit 1; }

step "SDK tests"
rc=0
BASE=http://127.0.0.1:18951 WRITE_KEY="$key" node --test --test-concurrency=1 "$dir"/*.test.mjs || rc=$?
if [ "$rc" -ne 0 ]; then
  echo "test-segment: failed; server log:" >&2
  tail -50 "$tmp/server.log" >&2
  exit "$rc"
fi
step "OK"
