#!/usr/bin/env bash
# One node of a cluster of scripts/cluster/up.sh, for chaos tests:
#
#   scripts/cluster/node.sh rabbitmq kill N        kill -9 node rqN
#   scripts/cluster/node.sh rabbitmq leader QUEUE [VHOST]  print N of the node leading quorum queue QUEUE
#   scripts/cluster/node.sh rabbitmq ctl N ARGS... rabbitmqctl against rqN
#   scripts/cluster/node.sh rabbitmq-tls start CA CERT KEY   a lone node taking only amqps (prints its port)
#   scripts/cluster/node.sh rabbitmq-tls stop
#   scripts/cluster/node.sh nats kill N            kill -9 node nN
#   scripts/cluster/node.sh nats stop N            stop node nN (SIGTERM)
#   scripts/cluster/node.sh clickhouse kill N      kill -9 replica chN
#
# A killed node comes back with scripts/cluster/up.sh (which starts what is down).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

kill9() { # PIDFILE
  alive "$1" || die "not running: $1"
  kill -9 "$(cat "$1")"
  for _ in $(seq 100); do kill -0 "$(cat "$1")" 2>/dev/null || { rm -f "$1"; return 0; }; sleep 0.05; done
  die "still running after kill -9: $1"
}

case "${1:-}/${2:-}" in
  rabbitmq/kill) kill9 "$RMQ/rq$3/rq$3.pid" ;;
  rabbitmq/ctl) n=$3; shift 3; rmqctl "$n" "$@" ;;
  rabbitmq/leader)
    for n in 1 2 3; do
      rmq_running "$n" || continue
      line=$(rmqctl "$n" list_queues -p "${4:-/}" name leader --no-table-headers 2>/dev/null | awk -v q="$3" '$1 == q {print $2}')
      [ -n "$line" ] || continue
      echo "${line#rq}" | sed 's/@.*//'
      exit 0
    done
    die "no leader found for queue $3" ;;
  rabbitmq-tls/start) rmq_tls_start "$3" "$4" "$5"; echo "$RMQ_TLS_PORT" ;;
  rabbitmq-tls/stop) rmq_tls_stop ;;
  nats/kill) kill9 "$NATS/n$3/nats.pid" ;;
  nats/stop) stop_pid "$NATS/n$3/nats.pid" TERM 10 ;;
  clickhouse/kill) kill9 "$CH/ch$3/ch.pid" ;;
  *) die "usage: node.sh rabbitmq kill|leader|ctl … | nats kill N | clickhouse kill N" ;;
esac
