#!/usr/bin/env bash
# ensure-browser: headless Chromium (Debian's package) and playwright-core
# (npm) for the browser tests: the TypeScript SDK's end-to-end test and the
# status page's. Idempotent; prints the directory whose node_modules holds
# playwright-core. Fails loudly when either cannot be had: a browser test
# never skips.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PLAYWRIGHT_VERSION="${PLAYWRIGHT_VERSION:-1.64.1}"
dir="${BROWSER_TOOLS_DIR:-$here/../.cache/browser}"

if ! command -v chromium >/dev/null 2>&1; then
  echo "ensure-browser: installing chromium from Debian" >&2
  export DEBIAN_FRONTEND=noninteractive
  log="$(mktemp)"
  if ! { apt-get update -qq && apt-get install -y -qq chromium; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "ensure-browser: could not install chromium" >&2
    exit 1
  fi
  rm -f "$log"
fi
chromium --version >&2

mkdir -p "$dir"
if [ ! -f "$dir/node_modules/playwright-core/package.json" ] ||
   ! grep -q "\"version\": \"$PLAYWRIGHT_VERSION\"" "$dir/node_modules/playwright-core/package.json"; then
  echo "ensure-browser: installing playwright-core@$PLAYWRIGHT_VERSION" >&2
  [ -f "$dir/package.json" ] || echo '{"name":"event-grpc-browser-tools","private":true}' > "$dir/package.json"
  (cd "$dir" && npm install --no-audit --no-fund --silent "playwright-core@$PLAYWRIGHT_VERSION" >&2)
fi
cd "$dir" && pwd
