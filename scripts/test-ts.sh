#!/usr/bin/env bash
# test-ts: build and test the TypeScript SDK (clients/ts), end to end:
#   1. npm ci (exact versions from package-lock.json, npm registry only)
#   2. the generated code in clients/ts/src/gen matches the protos
#   3. tsc (ES modules + type declarations) and the browser bundle (esbuild)
#   4. the published types checked against typical use (test/types), unit
#      tests (node --test)
#   5. the end-to-end tests against the real server, built from this
#      checkout and started zero-config on 18600/18601 (embedded broker and
#      store: no shared server, so no lock): headless Chromium (keepalive
#      flush on close, CORS) and Node (server down, then rate limited)
# Exits non-zero on any failure; nothing is skipped. `make ts` runs it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ts="$root/clients/ts"
cd "$ts"

command -v node >/dev/null || { echo "test-ts: node not found (Node 20+ needed)" >&2; exit 2; }
command -v npm >/dev/null || { echo "test-ts: npm not found" >&2; exit 2; }
major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$major" -ge 20 ] || { echo "test-ts: Node $major; 20+ needed" >&2; exit 2; }

step() { echo "== test-ts: $* ($(date +%T))"; }

step "npm ci"
npm ci --no-audit --no-fund --loglevel=error

step "generated code is current"
scripts/gen.sh --check

step "build"
npm run --silent build

step "type declarations (test/types: what users write must type-check)"
npx --no-install tsc -p test/types

step "unit tests"
node --test test/unit/

step "browser"
BROWSER_TOOLS_DIR="$("$root/scripts/ensure-browser.sh")"
export BROWSER_TOOLS_DIR

step "build the server (go build ./cmd/event-grpc)"
bindir="$(mktemp -d)"
trap 'rm -rf "$bindir"' EXIT
(cd "$root" && go build -o "$bindir/event-grpc" ./cmd/event-grpc)
export EVENT_GRPC_BIN="$bindir/event-grpc"

step "end-to-end (headless Chromium and Node, real server)"
node --test --test-concurrency=1 test/e2e/

step "OK"
