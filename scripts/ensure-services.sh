#!/usr/bin/env bash
# ensure-services: make sure every server the tests talk to is up —
# RabbitMQ, PostgreSQL, Redis, NATS (JetStream) and ClickHouse (installed
# from Debian when missing). Idempotent; fails loudly when a server cannot
# be had, so no test ever runs (or skips) without its server.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

answers() { # host port
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

wait_port() { # name port seconds
  for _ in $(seq 1 $(( $3 * 10 ))); do
    answers 127.0.0.1 "$2" && return 0
    sleep 0.1
  done
  echo "ensure-services: $1 does not answer on 127.0.0.1:$2" >&2
  return 1
}

"$here/ensure-rabbitmq.sh"
"$here/ensure-postgres.sh"

if ! answers 127.0.0.1 6379; then
  echo "ensure-services: starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_port Redis 6379 20
fi

if ! answers 127.0.0.1 4222; then
  echo "ensure-services: starting NATS"
  mkdir -p /var/lib/nats-server
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
  wait_port NATS 4222 20
fi

"$here/ensure-clickhouse.sh"
echo "ensure-services: RabbitMQ, PostgreSQL, Redis, NATS and ClickHouse are up"
