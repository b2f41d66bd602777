#!/usr/bin/env bash
# scripts/release-ts.sh DIST — the TypeScript SDK's npm package into DIST
# (npm pack of clients/ts after npm ci and the build): ES modules and
# CommonJS, each with type declarations, the browser bundle, the sources
# and LICENSE. Checks the tarball holds them and that both require() and
# import load it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dist=$(cd "${1:?usage: release-ts.sh DIST}" && pwd)
cd "$root/clients/ts"
cp "$root/LICENSE" LICENSE
npm ci --no-audit --no-fund --loglevel=error
npm run --silent build
tgz=$(npm pack --silent --pack-destination "$dist" | tail -1)
files=$(tar -tzf "$dist/$tgz")
for f in package/dist/index.js package/dist/index.d.ts package/dist/cjs/index.js package/dist/cjs/index.d.ts \
  package/dist/cjs/package.json package/dist/event-grpc.browser.js package/LICENSE package/package.json; do
  grep -qx "$f" <<<"$files" || { echo "release-ts: $tgz lacks $f" >&2; exit 1; }
done
# Both module systems load what was packed (the package by its own name).
node -e 'const c = require("@event-grpc/client"); if (typeof c.createClient !== "function") process.exit(1)'
node --input-type=module -e 'const c = await import("@event-grpc/client"); if (typeof c.createClient !== "function") process.exit(1)'
echo "release-ts: $dist/$tgz"
