#!/usr/bin/env bash
# ensure-rabbitmq: make sure a RabbitMQ broker answers on 127.0.0.1:5672
# (guest/guest), starting the Debian rabbitmq-server if it does not.
# Idempotent: a running broker is left alone. Exits non-zero, saying why,
# when the broker cannot be started; tests must then fail, not skip.
#
# Environment:
#   RABBIT_HOST          host to probe (default 127.0.0.1)
#   RABBIT_PORT          AMQP port to probe (default 5672)
#   RABBIT_WAIT_SECONDS  how long to wait for the port after starting (default 60)
set -euo pipefail

host="${RABBIT_HOST:-127.0.0.1}"
port="${RABBIT_PORT:-5672}"
wait_seconds="${RABBIT_WAIT_SECONDS:-60}"

answers() {
  # A TCP connect is enough: the node accepts AMQP connections only once
  # the rabbit application is running.
  timeout 2 bash -c "exec 3<>/dev/tcp/$host/$port" 2>/dev/null
}

if answers; then
  echo "ensure-rabbitmq: $host:$port answers"
  exit 0
fi

if ! command -v rabbitmq-server >/dev/null 2>&1 || ! command -v rabbitmqctl >/dev/null 2>&1; then
  echo "ensure-rabbitmq: $host:$port does not answer and rabbitmq-server is not installed" >&2
  echo "ensure-rabbitmq: install it with: apt-get install -y rabbitmq-server" >&2
  exit 1
fi

# The node may be up with the rabbit application stopped (rabbitmqctl
# stop_app): start the application rather than a second node.
if rabbitmqctl -q status >/dev/null 2>&1; then
  echo "ensure-rabbitmq: node is running but $host:$port does not answer; starting the app"
  if ! rabbitmqctl -q start_app; then
    echo "ensure-rabbitmq: rabbitmqctl start_app failed" >&2
    exit 1
  fi
else
  echo "ensure-rabbitmq: starting rabbitmq-server"
  if ! rabbitmq-server -detached; then
    echo "ensure-rabbitmq: rabbitmq-server -detached failed" >&2
    exit 1
  fi
fi

if ! timeout "$wait_seconds" rabbitmqctl -q await_startup; then
  echo "ensure-rabbitmq: the node did not finish starting within ${wait_seconds}s" >&2
  echo "ensure-rabbitmq: see /var/log/rabbitmq/ for the reason" >&2
  exit 1
fi

for _ in $(seq 1 "$wait_seconds"); do
  if answers; then
    echo "ensure-rabbitmq: $host:$port answers"
    exit 0
  fi
  sleep 1
done
echo "ensure-rabbitmq: the node started but $host:$port still does not answer after ${wait_seconds}s" >&2
exit 1
