#!/usr/bin/env bash
# gen.sh: generate src/gen from ../../proto with the local protoc-gen-es.
#   scripts/gen.sh            regenerate src/gen in place
#   scripts/gen.sh --check    generate into a temporary directory and fail if
#                             src/gen differs (a proto change without a regen,
#                             or a hand-edited generated file)
# buf runs as `go run` at the version Makefile.proto.mk pins (one pin for the
# whole repo); BUF overrides the command.
set -euo pipefail
ts="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
root="$(cd "$ts/../.." && pwd)"
if [ -z "${BUF:-}" ]; then
  v="$(sed -n 's/^BUF_VERSION *:= *//p' "$root/Makefile.proto.mk")"
  [ -n "$v" ] || { echo "gen.sh: no BUF_VERSION in Makefile.proto.mk" >&2; exit 2; }
  BUF="go run github.com/bufbuild/buf/cmd/buf@$v"
fi
export PATH="$ts/node_modules/.bin:$PATH"
command -v protoc-gen-es >/dev/null || { echo "gen.sh: protoc-gen-es missing: run npm ci in clients/ts" >&2; exit 2; }
cd "$ts"
if [ "${1:-}" = "--check" ]; then
  tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
  # --output prefixes the template's out (src/gen): lands in $tmp/src/gen.
  $BUF generate "$root/proto" --template buf.gen.yaml --output "$tmp"
  if ! diff -r "$tmp/src/gen" src/gen >&2; then
    echo "gen.sh: clients/ts/src/gen is stale: run clients/ts/scripts/gen.sh" >&2
    exit 1
  fi
  echo "gen.sh: src/gen is up to date"
else
  $BUF generate "$root/proto" --template buf.gen.yaml
fi
