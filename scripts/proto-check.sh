#!/usr/bin/env bash
# proto-check: lint the protos, generate code into a temporary directory and
# compare it with the committed gen/. Fails when anything differs, so CI
# catches a proto change without `make proto` (or a hand-edited gen/ file).
#
# Run it through make, which pins the tools and passes them in:
#   make proto-check
# Environment:
#   BUF        command that runs buf (default: buf on PATH)
#   PROTO_BIN  directory holding protoc-gen-go, protoc-gen-go-grpc and
#              protoc-gen-connect-go; put first on PATH (default: .bin in the
#              repo root)
#   CONNECT_GO_VERSION  the protoc-gen-connect-go version make installed;
#              must equal connectrpc.com/connect in go.mod
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUF="${BUF:-buf}"
PROTO_BIN="${PROTO_BIN:-$root/.bin}"
export PATH="$PROTO_BIN:$PATH"

for plugin in protoc-gen-go protoc-gen-go-grpc protoc-gen-connect-go; do
  if ! command -v "$plugin" >/dev/null 2>&1; then
    echo "proto-check: $plugin not found; run it via 'make proto-check'" >&2
    exit 2
  fi
done

# The generated Connect code calls the connect runtime of go.mod; a plugin of
# another version can generate code that the runtime does not build with.
if [ -n "${CONNECT_GO_VERSION:-}" ]; then
  runtime="$(cd "$root" && go list -m -f '{{.Version}}' connectrpc.com/connect)"
  if [ "$runtime" != "$CONNECT_GO_VERSION" ]; then
    echo "proto-check: protoc-gen-connect-go $CONNECT_GO_VERSION but go.mod has connectrpc.com/connect $runtime" >&2
    exit 1
  fi
fi

cd "$root/proto"

echo "proto-check: buf lint"
if ! $BUF lint; then
  echo "proto-check: buf lint failed" >&2
  exit 1
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# buf.gen.yaml writes to ../gen relative to proto/. --output prefixes each
# plugin's out, so "$tmp/proto" + "../gen" lands in "$tmp/gen", and the
# template stays the single source of truth for plugins and options.
echo "proto-check: generating into a temporary directory"
mkdir -p "$tmp/proto"
$BUF generate --output "$tmp/proto"

if [ ! -d "$tmp/gen" ]; then
  echo "proto-check: buf generate wrote nothing to $tmp/gen" >&2
  exit 1
fi

echo "proto-check: comparing with gen/"
if ! diff -r "$tmp/gen" "$root/gen" >"$tmp/diff.txt" 2>&1; then
  head -n 200 "$tmp/diff.txt" >&2
  echo "" >&2
  echo "generated code is stale: run make proto" >&2
  exit 1
fi
echo "proto-check: OK, gen/ is up to date"
