#!/usr/bin/env bash
# deploy: replace a running event-grpc without losing or refusing events.
#
#   heartbeat off → wait for the load balancer → SIGTERM (drain) → wait for
#   exit → start the new binary → wait until ready → heartbeat on
#
# The seed system's deploy killed the process with -9; this one lets it
# drain: in-flight requests finish, batches commit and are acked.
#
# Environment:
#   HTTP_ADDR     the instance's HTTP address            (default 127.0.0.1:8019)
#   LB_WAIT       seconds for the load balancer to notice (default 15)
#   STOP_TIMEOUT  seconds to wait for the drain to finish (default 60; keep above SHUTDOWN_TIMEOUT)
#   READY_TIMEOUT seconds to wait for the new process     (default 60)
#   SERVICE       systemd unit to restart (e.g. event-grpc); when unset:
#   PIDFILE       pid file of the running process        (default /run/event-grpc.pid)
#   START_CMD     command that starts the new process in the background and
#                 writes PIDFILE (default: nohup ./event-grpc, logs to event-grpc.log)
set -euo pipefail

HTTP_ADDR="${HTTP_ADDR:-127.0.0.1:8019}"
LB_WAIT="${LB_WAIT:-15}"
STOP_TIMEOUT="${STOP_TIMEOUT:-60}"
READY_TIMEOUT="${READY_TIMEOUT:-60}"
PIDFILE="${PIDFILE:-/run/event-grpc.pid}"

say() { echo "deploy: $*"; }
die() { echo "deploy: $*" >&2; exit 1; }

# Outside ENV=local PUT /heartbeat needs ADMIN_TOKEN (or HTTP_ADDR naming the operator listener, ADMIN_ADDR).
heartbeat() { curl -fsS -X PUT ${ADMIN_TOKEN:+-H "Authorization: Bearer $ADMIN_TOKEN"} "http://$HTTP_ADDR/heartbeat?beat=$1" >/dev/null; }
ready() { curl -fsS "http://$HTTP_ADDR/heartbeat" >/dev/null 2>&1; }

start_new() {
  if [ -n "${SERVICE:-}" ]; then
    systemctl start "$SERVICE"
  elif [ -n "${START_CMD:-}" ]; then
    bash -c "$START_CMD"
  else
    nohup ./event-grpc >>event-grpc.log 2>&1 &
    echo $! >"$PIDFILE"
  fi
}

running_pid() {
  if [ -n "${SERVICE:-}" ]; then
    systemctl show -p MainPID --value "$SERVICE"
  elif [ -f "$PIDFILE" ]; then
    cat "$PIDFILE"
  fi
}

pid="$(running_pid || true)"
if [ -n "$pid" ] && [ "$pid" != 0 ] && kill -0 "$pid" 2>/dev/null; then
  say "heartbeat off on $HTTP_ADDR"
  heartbeat false || die "could not turn the heartbeat off; is the instance at $HTTP_ADDR?"
  say "waiting ${LB_WAIT}s for the load balancer to stop sending traffic"
  sleep "$LB_WAIT"
  say "SIGTERM to $pid (drain)"
  if [ -n "${SERVICE:-}" ]; then
    systemctl stop --no-block "$SERVICE"
  else
    kill -TERM "$pid"
  fi
  for _ in $(seq 1 $((STOP_TIMEOUT * 10))); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    die "process $pid still running after ${STOP_TIMEOUT}s; not starting a second one (investigate, then kill it)"
  fi
  say "old process exited"
else
  say "no running instance found; starting one"
fi

start_new
say "waiting up to ${READY_TIMEOUT}s for the new instance to be ready"
for _ in $(seq 1 $((READY_TIMEOUT * 10))); do
  if ready; then
    heartbeat true
    say "ready; heartbeat on"
    exit 0
  fi
  sleep 0.1
done
die "the new instance did not become ready in ${READY_TIMEOUT}s; heartbeat left off"
