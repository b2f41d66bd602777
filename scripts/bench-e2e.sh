#!/usr/bin/env bash
# bench-e2e: measure the whole path on this machine and print the figures
# the closing notes report.
#
#   scripts/bench-e2e.sh [jetstream|rabbitmq|clickhouse] [seconds] [concurrency]
#
#   jetstream   zero configuration: embedded JetStream → DuckDB
#   rabbitmq    BROKER=rabbitmq → DuckDB
#   clickhouse  BROKER=rabbitmq SINK=clickhouse, and the ceiling: the same
#               rows inserted again by clickhouse-client (Native format)
#
# It builds the binary, starts it on a fresh DATA_DIR (and a fresh
# ClickHouse database), runs `event-grpc bench --batch 50`, then waits until
# every accepted event has landed, and prints: the bench line, events per
# broker message, and rows landed per second (first row to last row).
set -euo pipefail
mode="${1:-jetstream}"
secs="${2:-20}"
conc="${3:-16}"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
work="$(mktemp -d -t egbench.XXXXXX)"
bin="$work/event-grpc"
go build -o "$bin" ./cmd/event-grpc

export DATA_DIR="$work/data" PORT="${PORT:-18017}" GIN_PORT="${GIN_PORT:-18019}" LOG_LEVEL=warn
db="egbench_$(date +%s)"
case "$mode" in
  jetstream) ;;
  rabbitmq) export BROKER=rabbitmq ;;
  clickhouse)
    scripts/ensure-clickhouse.sh >/dev/null
    export BROKER=rabbitmq SINK=clickhouse CLICKHOUSE_DB_NAMES="$db" ;;
  *) echo "unknown mode $mode" >&2; exit 2 ;;
esac
if [ "${BROKER:-}" = rabbitmq ]; then
  scripts/ensure-rabbitmq.sh >/dev/null
  export RABBIT_VHOST="$db"
  rabbitmqctl -q add_vhost "$db" && rabbitmqctl -q set_permissions -p "$db" guest '.*' '.*' '.*'
fi
"$bin" >"$work/server.log" 2>&1 &
pid=$!
cleanup() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  [ "${BROKER:-}" = rabbitmq ] && rabbitmqctl -q delete_vhost "$db" || true
  [ "$mode" = clickhouse ] && clickhouse-client -q "DROP DATABASE IF EXISTS $db" && clickhouse-client -q "DROP DATABASE IF EXISTS ${db}_ceiling" || true
  rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 1 100); do curl -fs "127.0.0.1:$GIN_PORT/heartbeat" >/dev/null && break; sleep 0.1; done

q() { "$bin" query --format tsv --http "127.0.0.1:$GIN_PORT" "$1" | tail -n +2; }  # the value, without the header row
final=""; [ "$mode" = clickhouse ] && final=" FINAL"
# Poll the row count once a second while the load runs and drains.
( while :; do echo "$(date +%s.%N) $(q "SELECT count() FROM event" 2>/dev/null || echo 0)"; sleep 1; done ) >"$work/landed.txt" &
poller=$!
"$bin" bench --target "127.0.0.1:$PORT" --concurrency "$conc" --batch 50 --duration "${secs}s" --json 2>"$work/bench.err" | tee "$work/bench.out"
acked="$(sed -n 2p "$work/bench.out" | sed -E 's/.*"acked":([0-9]+).*/\1/')"
for _ in $(seq 1 600); do
  n="$(q "SELECT count() FROM event$final")"
  [ "$n" -ge "$acked" ] && break
  sleep 0.5
done
sleep 1.5
kill "$poller"
# Landing rate: rows from the first poll that saw rows to the first poll
# that saw them all.
rate="$(awk -v all="$n" '$2>0 && !t0 {t0=$1; c0=$2} $2>=all && !t1 {t1=$1; c1=$2} END {if (t1>t0) printf "%.0f", (c1-c0)/(t1-t0); else print "n/a"}' "$work/landed.txt")"
msgs="$(curl -s "127.0.0.1:$GIN_PORT/metrics" | awk '/^eventgrpc_publish_messages_total/ {print $2}')"
# The service's CPU time (user + system, from /proc) per thousand events,
# ingest and landing together: steadier than the rates when the machine's
# two cores are shared with the broker and the load generator.
cpu_ms="$(awk -v hz="$(getconf CLK_TCK)" '{printf "%.0f", ($14+$15)*1000/hz}' "/proc/$pid/stat")"
echo "mode=$mode acked=$acked stored=$n broker_messages=$msgs events_per_message=$(awk "BEGIN{printf \"%.1f\", $acked/$msgs}") broker_messages_per_s=$(awk "BEGIN{printf \"%.0f\", $msgs/$secs}") rows_landed_per_s=$rate service_cpu_ms_per_1k_events=$(awk "BEGIN{printf \"%.1f\", $cpu_ms*1000/$acked}")"
if [ "$mode" = clickhouse ]; then
  # The ceiling: the same rows, inserted by clickhouse-client in one go.
  clickhouse-client -q "CREATE DATABASE ${db}_ceiling"
  clickhouse-client -q "CREATE TABLE ${db}_ceiling.event AS $db.event"
  clickhouse-client -q "SELECT * FROM $db.event FORMAT Native" >"$work/rows.native"
  start=$(date +%s.%N)
  clickhouse-client -q "INSERT INTO ${db}_ceiling.event FORMAT Native" <"$work/rows.native"
  end=$(date +%s.%N)
  rows="$(clickhouse-client -q "SELECT count() FROM ${db}_ceiling.event")"
  echo "ceiling: clickhouse-client inserted $rows rows in $(awk "BEGIN{printf \"%.2f\", $end-$start}") s = $(awk "BEGIN{printf \"%.0f\", $rows/($end-$start)}") rows/s"
fi
