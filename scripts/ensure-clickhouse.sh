#!/usr/bin/env bash
# ensure-clickhouse: make sure a ClickHouse server answers on 127.0.0.1:9000
# (native protocol). Installs Debian's clickhouse-server/clickhouse-client if
# missing, starts the server if it is not running, and waits until
# `clickhouse-client -q 'SELECT 1'` answers. Idempotent: when the server
# already answers it does nothing. Tests call it from TestMain.
#
# Environment:
#   CLICKHOUSE_WAIT  seconds to wait for the server to answer (default 30)
# Exit status: 0 when the server answers; non-zero with a message otherwise.
set -euo pipefail

WAIT="${CLICKHOUSE_WAIT:-30}"
HOST=127.0.0.1
PORT=9000
CONFIG=/etc/clickhouse-server/config.xml

log() { echo "ensure-clickhouse: $*" >&2; }

answers() {
  command -v clickhouse-client >/dev/null 2>&1 &&
    clickhouse-client --host "$HOST" --port "$PORT" -q 'SELECT 1' >/dev/null 2>&1
}

if answers; then
  exit 0
fi

if ! command -v clickhouse-server >/dev/null 2>&1 || ! command -v clickhouse-client >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    log "clickhouse-server is not installed and installing it needs root"
    exit 1
  fi
  log "installing clickhouse-server and clickhouse-client"
  install() {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q clickhouse-server clickhouse-client >/dev/null
  }
  if ! install; then
    log "install failed; running apt-get update and trying again"
    apt-get update -q >/dev/null
    install
  fi
fi

# The server may be running but still starting; only start it when nothing
# listens on the port.
listening() { (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null; }

if ! listening; then
  if [ "$(id -u)" -ne 0 ]; then
    log "the server is not running and starting it needs root"
    exit 1
  fi
  if ! id clickhouse >/dev/null 2>&1; then
    log "the clickhouse user does not exist (the package should have created it)"
    exit 1
  fi
  for d in /var/lib/clickhouse /var/log/clickhouse-server; do
    mkdir -p "$d"
    chown -R clickhouse:clickhouse "$d"
  done
  log "starting clickhouse-server"
  # A pid file of its own: the cluster replicas of scripts/cluster run the
  # same executable, and --exec alone would take them for this server.
  start-stop-daemon --start --background --chuid clickhouse:clickhouse \
    --pidfile /run/event-grpc-clickhouse.pid --make-pidfile \
    --exec /usr/sbin/clickhouse-server -- --config-file="$CONFIG"
fi

deadline=$((SECONDS + WAIT))
until answers; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    log "clickhouse-server did not answer 'SELECT 1' on $HOST:$PORT within ${WAIT}s"
    log "see /var/log/clickhouse-server/clickhouse-server.err.log"
    tail -n 20 /var/log/clickhouse-server/clickhouse-server.err.log >&2 2>/dev/null || true
    exit 1
  fi
  sleep 0.2
done
log "clickhouse-server answers on $HOST:$PORT ($(clickhouse-client --host "$HOST" --port "$PORT" -q 'SELECT version()'))"
