#!/usr/bin/env bash
# scripts/test-java.sh — build the Java SDK (clients/java) and run its tests
# here, with Debian's packages only (no Maven registry):
#   1. apt-installs what is missing: a JDK (javac), protobuf-compiler,
#      libprotobuf-java, junit5;
#   2. generates the message classes (clients/java/generate.sh) and
#      compiles them with javac against /usr/share/java/protobuf.jar
#      (cached in the build dir by the proto's hash);
#   3. compiles the SDK into build/event-grpc-client.jar and the tests;
#   4. builds the Go server (go build ./cmd/event-grpc) for the
#      integration tests, which start it zero-config themselves on ports
#      JAVA_IT_PORT_BASE..+5 (default 18700..18705) with temp DATA_DIRs;
#   5. runs every test with JUnit's console launcher and prints its
#      summary and a closing "N passed, N failed" line.
# Exits non-zero when anything fails; never skips a test.
#   JAVA_BUILD_DIR  build directory (default clients/java/build)
#   BENCH=1         also run the per-event overhead benchmark (TrackBenchmark)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=${JAVA_BUILD_DIR:-$root/clients/java/build}
port_base=${JAVA_IT_PORT_BASE:-18700}
start=$(date +%s)
say() { echo "test-java: [$(( $(date +%s) - start )) s] $*"; }

# --- 1. Debian packages ---------------------------------------------------
need=()
command -v javac >/dev/null || need+=(default-jdk-headless)
command -v protoc >/dev/null || need+=(protobuf-compiler)
# google/protobuf/struct.proto, which the proto imports (generic events).
[ -f /usr/include/google/protobuf/struct.proto ] || need+=(libprotobuf-dev)
[ -f /usr/share/java/protobuf.jar ] || need+=(libprotobuf-java)
[ -f /usr/share/java/junit-platform-console-standalone.jar ] || need+=(junit5)
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 "${need[@]}"; then
    apt-get update -q -o DPkg::Lock::Timeout=300
    apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 "${need[@]}"
  fi
fi

# protoc's generated code must match the runtime jar's version.
protoc_v=$(protoc --version | awk '{print $2}')
jar_v=$(basename "$(readlink -f /usr/share/java/protobuf.jar)" .jar)
jar_v=${jar_v#protobuf-}
if [ "$protoc_v" != "$jar_v" ]; then
  echo "test-java: protoc $protoc_v does not match protobuf-java $jar_v (/usr/share/java/protobuf.jar)" >&2
  exit 1
fi
junit=/usr/share/java/junit-platform-console-standalone.jar
cp_proto=/usr/share/java/protobuf.jar
# javac is a short-lived JVM: C1 only and the serial GC halve its CPU time.
javac_jvm=(-J-XX:TieredStopAtLevel=1 -J-XX:+UseSerialGC)
javac_flags=("${javac_jvm[@]}" --release 11 -encoding UTF-8 -Xlint:all -Xlint:-serial -Xlint:-processing -Werror)

# --- 2. generated message classes (cached) ---------------------------------
mkdir -p "$build"
key=$( (cat proto/eventgrpc/v1/eventservice.proto clients/java/generate.sh; echo "$protoc_v"; javac -version 2>&1) | sha256sum | cut -c1-16)
gen_classes=$build/proto-classes
if [ "$(cat "$build/proto.key" 2>/dev/null)" != "$key" ]; then
  say "generating and compiling the message classes (protoc $protoc_v)"
  rm -rf "$build/gen" "$gen_classes" "$build/proto.key"
  clients/java/generate.sh "$build/gen"
  find "$build/gen" -name '*.java' >"$build/gen.list"
  # Generated code is compiled without -Werror: its warnings are protoc's.
  javac "${javac_jvm[@]}" --release 11 -encoding UTF-8 -nowarn -d "$gen_classes" -cp "$cp_proto" @"$build/gen.list"
  echo "$key" >"$build/proto.key"
fi

# --- 3. the SDK and its tests ----------------------------------------------
say "compiling the SDK and its tests"
rm -rf "$build/classes" "$build/test-classes"
find clients/java/src/main/java -name '*.java' >"$build/main.list"
javac "${javac_flags[@]}" -d "$build/classes" -cp "$cp_proto:$gen_classes" @"$build/main.list"
jar --create --file "$build/event-grpc-client.jar" -C "$gen_classes" . -C "$build/classes" .
find clients/java/src/test/java -name '*.java' >"$build/test.list"
javac "${javac_flags[@]}" -d "$build/test-classes" \
  -cp "$cp_proto:$build/event-grpc-client.jar:$junit" @"$build/test.list"

# --- 4. the Go server for the integration tests ----------------------------
say "building the server (go build ./cmd/event-grpc)"
go build -o "$build/event-grpc" ./cmd/event-grpc

# --- 5. run -----------------------------------------------------------------
it_dir=$(mktemp -d /tmp/test-java-it.XXXXXX)
cleanup() {
  # Servers a crashed test run left behind (the tests stop their own).
  for f in "$it_dir"/*/server.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null && [ "$(readlink -f "/proc/$pid/exe" 2>/dev/null)" = "$(readlink -f "$build/event-grpc")" ]; then
      kill "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$it_dir"
}
trap cleanup EXIT
log=$build/junit.log
say "running the tests"
set +e
java -Deventgrpc.server.bin="$build/event-grpc" -Deventgrpc.it.dir="$it_dir" \
  -Deventgrpc.it.portBase="$port_base" \
  -jar "$junit" --disable-banner --disable-ansi-colors --fail-if-no-tests --details=tree \
  --class-path "$cp_proto:$build/event-grpc-client.jar:$build/test-classes" \
  --select-package io.eventgrpc.client --include-classname '.*Test' \
  --reports-dir "$build/test-reports" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" -ne 0 ]; then
  # Keep the servers' logs of a failed run.
  mkdir -p "$build/server-logs"
  find "$it_dir" -name server.log -exec sh -c 'cp "$1" "$2/$(basename "$(dirname "$1")").log"' _ {} "$build/server-logs" \;
  echo "test-java: server logs in $build/server-logs" >&2
fi
passed=$(sed -n 's/.*\[ *\([0-9]*\) tests successful *\].*/\1/p' "$log" | tail -1)
failed=$(sed -n 's/.*\[ *\([0-9]*\) tests failed *\].*/\1/p' "$log" | tail -1)
echo "java: ${passed:-0} passed, ${failed:-0} failed"
if [ "$rc" -eq 0 ] && [ "${BENCH:-0}" = 1 ]; then
  java -cp "$cp_proto:$build/event-grpc-client.jar:$build/test-classes" io.eventgrpc.client.TrackBenchmark
fi
say "done"
if [ "$rc" -ne 0 ] || [ -z "$passed" ] || [ "${failed:-1}" != 0 ]; then
  exit 1
fi
