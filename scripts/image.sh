#!/usr/bin/env bash
# image: build the event-grpc container image and smoke-test it, with no
# container registry.
#
#   scripts/image.sh            base (once, cached) + build + smoke
#   scripts/image.sh base       only the local Debian bookworm base
#   scripts/image.sh build      base + image
#
# No registry is reachable here, so the image is built from the repository's
# Dockerfile (target runtime-prebuilt: the binary is compiled on the host,
# which has Go and a warm cache) on a local bookworm base made by debootstrap
# from the Debian mirror apt uses, imported into podman's store as
# localhost/bookworm-min (kept: later runs reuse it; REBUILD_BASE=1 redoes
# it). buildah builds with --isolation chroot (podman run cannot set rlimits
# on this machine). The smoke test runs the image's entrypoint in a
# container with `buildah run --isolation chroot` on the host network, on
# private ports, checks the image's HEALTHCHECK command passes, posts a
# dispatch to /v1/events and waits until it is a row in the embedded store
# (POST /v1/query from loopback), then stops the server with SIGTERM and
# requires a clean exit.
set -euo pipefail
cd "$(dirname "$0")/.."

BASE_IMAGE=${BASE_IMAGE:-localhost/bookworm-min}
IMAGE=${IMAGE:-localhost/event-grpc:smoke}
step=${1:-all}

log() { echo "image: $*" >&2; }

# One EXIT trap cleans up whatever was started (by PID and name, nothing else).
TMPS=() CTR="" SERVER_PID=""
cleanup() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then kill -KILL "$SERVER_PID" || true; fi
  if [[ -n "$CTR" ]]; then buildah rm "$CTR" >/dev/null 2>&1 || true; fi
  if ((${#TMPS[@]})); then rm -rf "${TMPS[@]}"; fi
}
trap cleanup EXIT

ensure_tools() {
  local missing=()
  command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
  command -v buildah >/dev/null 2>&1 || missing+=(buildah)
  command -v podman >/dev/null 2>&1 || missing+=(podman)
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  command -v ss >/dev/null 2>&1 || missing+=(iproute2)
  if ((${#missing[@]})); then
    log "installing ${missing[*]} from Debian"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq -o DPkg::Lock::Timeout=300 "${missing[@]}" >&2
  fi
}

# The Debian mirror apt already uses (deb822 sources or sources.list).
debian_mirror() {
  local m=""
  if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
    m=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
  fi
  if [[ -z "$m" && -f /etc/apt/sources.list ]]; then
    m=$(awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; exit}}' /etc/apt/sources.list)
  fi
  echo "${m:-http://deb.debian.org/debian}"
}

build_base() {
  if [[ -z "${REBUILD_BASE:-}" ]] && podman image exists "$BASE_IMAGE"; then
    log "base $BASE_IMAGE cached"
    return
  fi
  local dir mirror t0=$SECONDS
  mirror=$(debian_mirror)
  dir=$(mktemp -d /var/tmp/bookworm-min.XXXXXX)
  TMPS+=("$dir")
  log "debootstrap --variant=minbase bookworm from $mirror"
  debootstrap --variant=minbase bookworm "$dir" "$mirror" >&2
  # Make apt inside the image use the same mirror (debootstrap writes it).
  tar -C "$dir" -c . | podman import - "$BASE_IMAGE" >&2
  log "base $BASE_IMAGE imported in $((SECONDS - t0))s"
}

build_image() {
  local ctx t0=$SECONDS
  ctx=$(mktemp -d)
  TMPS+=("$ctx")
  log "go build (cgo, DuckDB)"
  # No -trimpath here: the host build reuses the warm build cache of plain
  # `go build` (the Dockerfile's source stage builds with -trimpath).
  CGO_ENABLED=1 go build -o "$ctx/event-grpc" ./cmd/event-grpc
  local previous
  previous=$(buildah images -q --no-trunc "$IMAGE" 2>/dev/null || true)
  log "buildah build $IMAGE on $BASE_IMAGE"
  buildah build --isolation chroot --format docker --layers \
    --build-arg BASE="$BASE_IMAGE" --build-arg PREBUILT=event-grpc \
    --target runtime-prebuilt -f Dockerfile -t "$IMAGE" "$ctx" >&2
  log "image $IMAGE built in $((SECONDS - t0))s"
  # The image this run replaced (130 MiB each) goes; cached layers stay.
  if [[ -n "$previous" && "$previous" != "$(buildah images -q --no-trunc "$IMAGE")" ]]; then
    buildah rmi "$previous" >/dev/null 2>&1 || log "previous image $previous still in use; kept"
  fi
}

# image_config FIELD: one field of the image's Docker config, as JSON
# (buildah 1.28's --format has no json function).
image_config() {
  buildah inspect --type image "$IMAGE" |
    python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin)["Docker"]["config"].get(sys.argv[1])))' "$1"
}

# check_config: what the Dockerfile promises is in the image's config.
check_config() {
  local cfg
  cfg=$(buildah inspect --type image "$IMAGE" | python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin)["Docker"]["config"], separators=(",", ":")))')
  for want in '"User":"10001:10001"' '"/data":{}' '"8017/tcp":{}' '"8019/tcp":{}' \
    '"Entrypoint":["/usr/local/bin/event-grpc"]' '"Cmd":["serve"]' '/heartbeat' 'DATA_DIR=/data'; do
    if [[ "$cfg" != *"$want"* ]]; then
      log "FAIL: image config lacks $want: $cfg"
      return 1
    fi
  done
}

smoke() {
  local t0=$SECONDS ctr grpc http out pid run_pid rc logf
  grpc=$((20000 + RANDOM % 5000))
  http=$((grpc + 5000))
  ctr=$(buildah from --pull-never "$IMAGE")
  CTR=$ctr
  logf=$(mktemp)
  TMPS+=("$logf")
  check_config
  local entry user
  entry=$(buildah inspect --type image "$IMAGE" |
    python3 -c 'import json, sys; c = json.load(sys.stdin)["Docker"]["config"]; print(" ".join(c["Entrypoint"] + c["Cmd"]))')
  user=$(image_config User | tr -d '"')
  log "running '$entry' as $user in $ctr, gRPC :$grpc, HTTP :$http, DATA_DIR inside the container"
  # shellcheck disable=SC2086
  buildah run --isolation chroot --network host --user "$user" \
    --env PORT="$grpc" --env GIN_PORT="$http" --env LOG_FORMAT=text \
    "$ctr" -- $entry >"$logf" 2>&1 &
  run_pid=$!
  local ok=""
  for _ in $(seq 1 120); do
    if curl -fsS "http://127.0.0.1:$http/heartbeat" >/dev/null 2>&1; then ok=1; break; fi
    if ! kill -0 "$run_pid" 2>/dev/null; then break; fi
    sleep 0.5
  done
  if [[ -z "$ok" ]]; then
    log "FAIL: not ready within 60s; its log:"; cat "$logf" >&2; return 1
  fi
  pid=$(ss -Hltnp "sport = :$http" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)
  if [[ -z "$pid" ]]; then log "FAIL: no process listens on :$http"; return 1; fi
  SERVER_PID=$pid
  log "ready after $((SECONDS - t0))s (pid $pid, uid $(stat -c %u /proc/"$pid"))"
  if [[ "$(stat -c %u /proc/"$pid")" != 10001 ]]; then log "FAIL: server runs as uid $(stat -c %u /proc/"$pid"), want 10001"; return 1; fi

  # The image's HEALTHCHECK command, run inside the container.
  local hc
  hc=$(buildah inspect --type image "$IMAGE" |
    python3 -c 'import json, sys; t = json.load(sys.stdin)["Docker"]["config"]["Healthcheck"]["Test"]; assert t[:3] == ["CMD", "bash", "-c"], t; print(t[3])')
  buildah run --isolation chroot --network host --env GIN_PORT="$http" "$ctr" -- bash -c "$hc" ||
    { log "FAIL: HEALTHCHECK command failed while ready"; return 1; }
  log "HEALTHCHECK command passes"

  local sid="smoke-$$-$RANDOM"
  out=$(curl -fsS "http://127.0.0.1:$http/v1/events" -H 'Content-Type: application/json' -d '{
    "header": {"sessionId": "'"$sid"'", "userId": "u-smoke"},
    "events": [{"searchEvent": {"query": "container smoke", "resultCount": "1"}}]}')
  log "dispatch: $out"
  [[ "$out" == *'"accepted":true'* ]] || { log "FAIL: event not accepted"; return 1; }
  local rows=""
  for _ in $(seq 1 60); do
    rows=$(curl -fsS "http://127.0.0.1:$http/v1/query" -H 'Content-Type: text/plain' -H 'X-Requested-By: image-smoke' \
      --data "SELECT count(*) FROM event WHERE session_id = '$sid'" || true)
    [[ "$rows" == *'"rows":[["1"]]'* ]] && break
    sleep 0.5
  done
  log "query: $rows"
  [[ "$rows" == *'"rows":[["1"]]'* ]] || { log "FAIL: the event did not land as one row"; cat "$logf" >&2; return 1; }

  kill -TERM "$pid"
  rc=0
  wait "$run_pid" || rc=$?
  SERVER_PID=""
  if ((rc != 0)); then log "FAIL: exit status $rc after SIGTERM; its log:"; cat "$logf" >&2; return 1; fi
  log "PASS: image $IMAGE: ready, healthy, one dispatch landed as one row, clean exit on SIGTERM ($((SECONDS - t0))s)"
}

ensure_tools
t_all=$SECONDS
case "$step" in
  base) build_base ;;
  build) build_base; build_image ;;
  all) build_base; build_image; smoke ;;
  smoke) smoke ;;
  *) echo "usage: $0 [all|base|build|smoke]" >&2; exit 2 ;;
esac
log "done in $((SECONDS - t_all))s"
