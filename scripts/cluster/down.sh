#!/usr/bin/env bash
# Stop the clusters of scripts/cluster/up.sh by PID (idempotent):
#
#   scripts/cluster/down.sh [rabbitmq] [nats] [clickhouse] [--purge]
#
# --purge also deletes their data under $CLUSTER_DIR.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

purge=0; want=()
for a in "$@"; do [ "$a" = --purge ] && purge=1 || want+=("$a"); done
[ ${#want[@]} -eq 0 ] && want=(rabbitmq nats clickhouse)

down_rabbitmq() {
  for n in 3 2 1; do
    if alive "$RMQ/rq$n/rq$n.pid"; then
      rmqctl "$n" stop "$RMQ/rq$n/rq$n.pid" >/dev/null 2>&1 || stop_pid "$RMQ/rq$n/rq$n.pid" TERM 20
    fi
    stop_pid "$RMQ/rq$n/rq$n.pid" TERM 5
  done
  # The private epmd last: a CLI call still running would start another.
  stop_pid "$RMQ/epmd.pid" TERM 5
  [ $purge = 1 ] && rm -rf "$RMQ"
  log "rabbitmq: down"
}
down_nats() {
  for n in 1 2 3; do stop_pid "$NATS/n$n/nats.pid" TERM 10; done
  [ $purge = 1 ] && rm -rf "$NATS"
  log "nats: down"
}
down_clickhouse() {
  for n in 1 2; do stop_pid "$CH/ch$n/ch.pid" TERM 20; done
  stop_pid "$ZK/zk.pid" TERM 10
  [ $purge = 1 ] && rm -rf "$CH" "$ZK"
  log "clickhouse: down"
}
for c in "${want[@]}"; do
  case $c in
    rabbitmq) down_rabbitmq ;;
    nats) down_nats ;;
    clickhouse) down_clickhouse ;;
    *) die "unknown cluster $c (rabbitmq, nats, clickhouse)" ;;
  esac
done
