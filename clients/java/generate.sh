#!/bin/sh
# generate.sh OUT_DIR — the Java message classes of proto/eventgrpc/v1/eventservice.proto.
#
# The proto carries no Java options (the Go and TypeScript code do not need
# them), so this copies it and adds them before running protoc:
#   java_package "io.eventgrpc.v1", java_multiple_files, outer class
#   EventServiceProto.
# Options already in the proto are kept as they are. Java options do not
# change the wire format. protoc must match the protobuf-java runtime
# (3.21.x here: Debian's protobuf-compiler and libprotobuf-java).
set -eu
out=${1:?usage: generate.sh OUT_DIR}
here=$(cd "$(dirname "$0")" && pwd)
proto=$here/../../proto/eventgrpc/v1/eventservice.proto
[ -f "$proto" ] || { echo "generate.sh: $proto not found" >&2; exit 1; }
command -v protoc >/dev/null || { echo "generate.sh: protoc not found (apt-get install protobuf-compiler)" >&2; exit 1; }
[ -f /usr/include/google/protobuf/struct.proto ] || { echo "generate.sh: google/protobuf/struct.proto not found (apt-get install libprotobuf-dev)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/eventgrpc/v1" "$out"
opts=""
grep -q '^option java_package' "$proto" || opts="${opts}option java_package = \"io.eventgrpc.v1\";\n"
grep -q '^option java_multiple_files' "$proto" || opts="${opts}option java_multiple_files = true;\n"
grep -q '^option java_outer_classname' "$proto" || opts="${opts}option java_outer_classname = \"EventServiceProto\";\n"
# Insert the options right after the package statement.
awk -v opts="$opts" '{ print } /^package / && !done { printf "%s", opts; done = 1 }' "$proto" \
  >"$tmp/eventgrpc/v1/eventservice.proto"
protoc -I "$tmp" --java_out="$out" "$tmp/eventgrpc/v1/eventservice.proto"
