#!/usr/bin/env bash
# scripts/release.sh — build a release into dist/ (`make release`):
#
#   dist/event-grpc-VERSION-linux-amd64      the server, cgo (DuckDB), stripped
#   dist/event-grpc-VERSION-linux-arm64      the same, cross-compiled with
#                                            Debian's aarch64-linux-gnu gcc/g++
#                                            against duckdb-go-bindings' prebuilt
#                                            linux-arm64 library
#   dist/event-grpc-client-X.Y.Z.tgz         the TypeScript SDK (npm pack: ESM,
#                                            CJS and type declarations)
#   dist/event-grpc-client-X.Y.Z.jar         the Java SDK (with its message classes)
#   dist/event-grpc-client-X.Y.Z-sources.jar its sources
#   dist/event-grpc-client-X.Y.Z.pom         its Maven metadata
#   dist/SHA256SUMS                          sha256sum -c checks them all
#
# VERSION defaults to `git describe --tags --always --dirty`; the binaries
# carry it, the commit and its time (-ldflags -X …/internal/buildinfo),
# so `event-grpc version`, the status page and eventgrpc_build_info say it.
#
#   scripts/release.sh               everything above
#   scripts/release.sh --binaries    the two server binaries and SHA256SUMS only
#   scripts/release.sh --smoke       build the amd64 binary into a temporary
#                                    directory and smoke-test it: `version`,
#                                    a zero-config start on private ports, one
#                                    dispatch (accepted, then stored), /heartbeat,
#                                    /metrics' build info, a clean SIGTERM stop.
#                                    `make test` runs this (about a minute).
#   DIST=dir                         another output directory
#   SMOKE_PORT_BASE=N                smoke ports N, N+1 (default: random 20000–29999)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
start=$(date +%s)
say() { echo "release: [$(( $(date +%s) - start )) s] $*"; }
die() { echo "release: $*" >&2; exit 1; }

mode=all
case "${1:-}" in
  "") ;;
  --binaries) mode=binaries ;;
  --smoke) mode=smoke ;;
  -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) die "unknown option $1 (--binaries, --smoke, --help)" ;;
esac

version=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo devel)}
revision=$(git rev-parse HEAD 2>/dev/null || echo "")
if [ -n "$revision" ] && [ -z "$(git status --porcelain 2>/dev/null)" ]; then
  vcs_time=$(git log -1 --format=%cI HEAD)
else
  vcs_time=$(date -u +%Y-%m-%dT%H:%M:%SZ) # a modified tree: the build's time
  [ -n "$revision" ] && revision="$revision-dirty"
fi
pkg=github.com/event-grpc/event-grpc/internal/buildinfo
ldflags="-s -w -X $pkg.version=$version -X $pkg.revision=$revision -X $pkg.buildTime=$vcs_time"

# build_server ARCH OUT [FLAGS…]: one cgo binary for linux/ARCH (glibc and
# libstdc++ linked dynamically: a glibc base such as Debian bookworm).
build_server() {
  local arch=$1 out=$2
  shift 2
  local env=(GOOS=linux GOARCH="$arch" CGO_ENABLED=1)
  if [ "$arch" = arm64 ] && [ "$(go env GOHOSTARCH)" != arm64 ]; then
    if ! command -v aarch64-linux-gnu-gcc >/dev/null || ! command -v aarch64-linux-gnu-g++ >/dev/null; then
      say "installing Debian's aarch64 cross compilers"
      export DEBIAN_FRONTEND=noninteractive
      apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=600 gcc-aarch64-linux-gnu g++-aarch64-linux-gnu >/dev/null ||
        { apt-get update -q -o DPkg::Lock::Timeout=600 >/dev/null &&
          apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=600 gcc-aarch64-linux-gnu g++-aarch64-linux-gnu >/dev/null; }
    fi
    env+=(CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++)
  fi
  say "building $out (linux/$arch, version $version)"
  env "${env[@]}" go build "$@" -buildvcs=false -ldflags "$ldflags" -o "$out" ./cmd/event-grpc
  # The binary must be what it says.
  local want
  case $arch in amd64) want="X86-64" ;; arm64) want="AArch64" ;; esac
  readelf -h "$out" | grep -q "Machine:.*$want" || die "$out is not a linux/$arch executable: $(readelf -h "$out" | grep Machine)"
}

# smoke BIN: the release binary runs, starts zero-config, takes an event.
smoke() {
  local bin=$1 work base grpc_port http_port pid
  work=$(mktemp -d /tmp/release-smoke.XXXXXX)
  base=${SMOKE_PORT_BASE:-$(( 20000 + RANDOM % 9990 ))}
  grpc_port=$base http_port=$(( base + 1 ))
  pid=
  cleanup_smoke() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
    rm -rf "$work"
  }
  trap cleanup_smoke EXIT
  fail() { echo "release smoke: $*" >&2; [ -f "$work/server.log" ] && tail -n 30 "$work/server.log" >&2; exit 1; }

  say "smoke: $bin version"
  "$bin" version >"$work/version.txt" || fail "version exited non-zero"
  cat "$work/version.txt"
  grep -qx "version=$version" "$work/version.txt" || fail "version does not say version=$version"
  grep -qx "revision=$revision" "$work/version.txt" || fail "version does not say revision=$revision"
  "$bin" --version | head -1 | grep -qx "event-grpc $version" || fail "--version does not say event-grpc $version"

  say "smoke: zero-config start on 127.0.0.1:$grpc_port/$http_port"
  (cd "$work" && exec env -i PATH="$PATH" HOME="$work" PORT="$grpc_port" GIN_PORT="$http_port" "$bin" >"$work/server.log" 2>&1) &
  pid=$!
  local ok=
  for _ in $(seq 1 120); do
    kill -0 "$pid" 2>/dev/null || fail "the server exited at start"
    if curl -fs "http://127.0.0.1:$http_port/heartbeat" >/dev/null 2>&1; then ok=1; break; fi
    sleep 0.5
  done
  [ -n "$ok" ] || fail "/heartbeat not 200 within 60 s"
  grep -q 'msg="event-grpc ready"' "$work/server.log" || fail "no 'event-grpc ready' log line"
  if grep -q 'level=WARN' "$work/server.log"; then fail "a zero-config start warns: $(grep 'level=WARN' "$work/server.log")"; fi

  say "smoke: one dispatch over Connect"
  local id ts answer
  id=$(printf '018f0c1e-%04x-7000-8000-%012d' $((RANDOM)) "$RANDOM")
  ts=$(( $(date +%s) * 1000 ))
  answer=$(curl -fsS "http://127.0.0.1:$http_port/eventgrpc.v1.EventService/dispatch" -H 'Content-Type: application/json' \
    -d '{"header":{"userId":"release-smoke"},"events":[{"id":"'"$id"'","timestamp":"'"$ts"'","launchEvent":{}}]}') ||
    fail "dispatch failed"
  echo "$answer"
  echo "$answer" | grep -q '"accepted":true' || fail "the event was not accepted: $answer"
  local n=
  for _ in $(seq 1 60); do
    n=$("$bin" query --http "127.0.0.1:$http_port" --format tsv "SELECT count(*) FROM event WHERE event_id = '$id'" | tail -n 1) || true
    [ "$n" = 1 ] && break
    sleep 0.5
  done
  [ "$n" = 1 ] || fail "the event was not stored within 30 s (count $n)"
  curl -fs "http://127.0.0.1:$http_port/heartbeat" >/dev/null || fail "/heartbeat not 200 after the dispatch"
  curl -fs "http://127.0.0.1:$http_port/metrics" | grep -F "eventgrpc_build_info{goversion=\"$(go env GOVERSION)\",revision=\"$revision\",version=\"$version\"} 1" >/dev/null ||
    fail "/metrics has no eventgrpc_build_info for $version $revision"

  say "smoke: SIGTERM"
  kill -TERM "$pid"
  local rc=0
  wait "$pid" || rc=$?
  pid=
  [ "$rc" = 0 ] || fail "the server exited $rc after SIGTERM"
  grep -q 'stopped cleanly' "$work/server.log" || fail "no 'stopped cleanly'"
  say "smoke: OK ($version, stored event $id)"
  cleanup_smoke
  trap - EXIT
}

if [ "$mode" = smoke ]; then
  tmp=$(mktemp -d /tmp/release-bin.XXXXXX)
  # Without -trimpath: the build cache `go test` filled serves it, so the
  # smoke test takes about a minute, not a full rebuild.
  build_server amd64 "$tmp/event-grpc"
  (smoke "$tmp/event-grpc") || { rm -rf "$tmp"; exit 1; }
  rm -rf "$tmp"
  exit 0
fi

dist=${DIST:-$root/dist}
rm -rf "$dist"
mkdir -p "$dist"
for arch in amd64 arm64; do
  build_server "$arch" "$dist/event-grpc-$version-linux-$arch" -trimpath
done
smoke "$dist/event-grpc-$version-linux-amd64"

if [ "$mode" = all ]; then
  say "TypeScript SDK (npm pack)"
  scripts/release-ts.sh "$dist"
  say "Java SDK (jar, sources jar, pom)"
  scripts/release-java.sh "$dist"
fi

(cd "$dist" && sha256sum -- * | grep -v ' SHA256SUMS$' >SHA256SUMS && sha256sum -c --quiet SHA256SUMS)
say "done: $dist"
ls -l "$dist"
