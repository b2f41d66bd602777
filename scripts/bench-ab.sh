#!/usr/bin/env bash
# bench-ab: compare two revisions on the same bench, alternating runs so
# that the noise of a shared machine falls on both alike.
#
#   scripts/bench-ab.sh REV [RUNS]
#
#   REV   the baseline (A): any git revision, e.g. 470972f or main
#   RUNS  runs per revision (default 3); the order is A,B,A,B,…
#
# B is the working tree's HEAD (committed state, not uncommitted edits).
# Each run starts the zero-configuration server of its revision on its own
# ports (18310–18399) and a fresh DATA_DIR, runs
#   event-grpc bench --concurrency 16 --batch 50 --duration 20s
# (override with BENCH_CONCURRENCY, BENCH_BATCH, BENCH_DURATION, or
# BENCH_ARGS for extra flags), waits until every accepted event has landed
# in the store, and prints one line per run, then the medians per revision
# and the B/A ratios.
#
# The environment passes through to both servers, so the same setting is
# compared on both sides, e.g.
#   JETSTREAM_SYNC=2m scripts/bench-ab.sh 470972f
#   BROKER=rabbitmq   scripts/bench-ab.sh 470972f   (own vhost per run)
# A revision that does not know a setting ignores it; say so when reporting.
#
# SINK=clickhouse (with BROKER=rabbitmq: the production path) gives each
# run its own ClickHouse database as well, and adds per run:
#   mq/1k,ch/1k  RabbitMQ's and ClickHouse's CPU (utime+stime of the
#            processes listening on :5672 and :9000, from /proc) over the
#            same window as cpu/1k, ms per 1,000 accepted events
#   sys/1k   service + RabbitMQ + ClickHouse CPU per 1,000 events
#   parts    parts the inserts created in the run's database (level-0
#            parts of system.parts, active or not: each insert makes one per
#            partition it touches), evparts those of the event table alone,
#            and parts/min (all tables) over the landing window
#   ceil/s   the ceiling: the same rows of the event table dumped and
#            inserted again by clickhouse-client (Native format, one go)
#            into a database of their own, rows/s; ceil% is landed/s over it
#   rss      the service's peak RSS (VmHWM), MB
#   STUCK_TAIL_B=1 opens, on each B run only, a live tail (GET /v1/tail, as
# `event-grpc tail` does) whose reader never reads (the curl is stopped
# with SIGSTOP), to show that a stuck tail does not slow ingest:
#   STUCK_TAIL_B=1 scripts/bench-ab.sh HEAD
#
# Figures per run:
#   ev/s     events accepted per second (the bench)
#   p50,p99  dispatch latency, ms (the bench)
#   landed/s rows landed per second, first row seen to last row seen,
#            polled once a second through `event-grpc query`
#   ev/msg   events per broker message: accepted events divided by the
#            service's eventgrpc_publish_messages_total
#   cpu/1k   service CPU (utime+stime from /proc/<pid>/stat) from the start
#            of the bench to the last row landed, ms per 1,000 accepted
#            events: ingest and landing together, the steadiest figure on a
#            shared machine
#   ingcpu/1k the same for the bench window only (ingest, plus whatever
#            landing ran concurrently)
#
# Both servers are driven by the same load generator, A's `event-grpc
# bench` by default (BENCH_CLIENT=b for B's): a newer bench may send event
# kinds an older server does not know, and a different mix is a different
# workload.
set -euo pipefail
rev="${1:?usage: scripts/bench-ab.sh REV [RUNS]}"
client="${BENCH_CLIENT:-a}"
case "$client" in a | b) ;; *) echo "bench-ab: BENCH_CLIENT is a or b, not $client" >&2; exit 2 ;; esac
runs="${2:-3}"
conc="${BENCH_CONCURRENCY:-16}"
batch="${BENCH_BATCH:-50}"
dur="${BENCH_DURATION:-20s}"
extra="${BENCH_ARGS:-}"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$(pwd)"
work="$(mktemp -d -t egab.XXXXXX)"
pid=""
vhosts=()
chdbs=()
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  for v in "${vhosts[@]}"; do rabbitmqctl -q delete_vhost "$v" 2>/dev/null || true; done
  for d in "${chdbs[@]}"; do clickhouse-client -q "DROP DATABASE IF EXISTS $d" 2>/dev/null || true; done
  git -C "$root" worktree remove --force "$work/src-a" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Build both binaries: A from a detached worktree of REV, B from HEAD.
build() { # name revision
  git -C "$root" worktree add --detach -q "$work/src-$1" "$2"
  (cd "$work/src-$1" && go build -o "$work/bin-$1" ./cmd/event-grpc)
}
arev="$(git -C "$root" rev-parse --short "$rev")"
brev="$(git -C "$root" rev-parse --short HEAD)"
echo "bench-ab: A=$arev B=$brev runs=$runs bench ($client's): --concurrency $conc --batch $batch --duration $dur $extra" >&2
echo "bench-ab: env: BROKER=${BROKER:-jetstream} JETSTREAM_SYNC=${JETSTREAM_SYNC:-} SINK=${SINK:-duckdb}" >&2
build a "$rev"
git -C "$root" worktree remove --force "$work/src-a"
git -C "$root" worktree add --detach -q "$work/src-b" HEAD
(cd "$work/src-b" && go build -o "$work/bin-b" ./cmd/event-grpc)
git -C "$root" worktree remove --force "$work/src-b"

if [ "${BROKER:-}" = rabbitmq ]; then scripts/ensure-rabbitmq.sh >/dev/null; fi
ch=""; [ "${SINK:-}" = clickhouse ] && ch=1
if [ -n "$ch" ]; then scripts/ensure-clickhouse.sh >/dev/null; fi
hz="$(getconf CLK_TCK)"
cpu_ms() { if [ -n "$1" ] && [ -r "/proc/$1/stat" ]; then awk -v hz="$hz" '{printf "%.0f", ($14+$15)*1000/hz}' "/proc/$1/stat"; else echo 0; fi; }
listener() { ss -ltnpH "sport = :$1" 2>/dev/null | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2 || true; }
mqpid="$(listener 5672)"; chpid="$(listener 9000)"
[ "${BROKER:-}" = rabbitmq ] && [ -z "$mqpid" ] && echo "bench-ab: no process found listening on :5672 (RabbitMQ CPU not measured)" >&2
[ -n "$ch" ] && [ -z "$chpid" ] && echo "bench-ab: no process found listening on :9000 (ClickHouse CPU not measured)" >&2

results="$work/results.txt"
: >"$results"
slot=0
run_one() { # side index
  local side="$1" i="$2" bin="$work/bin-$1"
  local port=$((18310 + 2 * (slot % 45))) gport=$((18311 + 2 * (slot % 45)))
  slot=$((slot + 1))
  local dir="$work/run-$side-$i"
  mkdir -p "$dir"
  local env=(DATA_DIR="$dir/data" PORT="$port" GIN_PORT="$gport" LOG_LEVEL=warn)
  if [ "${BROKER:-}" = rabbitmq ]; then
    local v="egab_$$_${side}_$i"
    rabbitmqctl -q add_vhost "$v" && rabbitmqctl -q set_permissions -p "$v" guest '.*' '.*' '.*'
    vhosts+=("$v")
    env+=(RABBIT_VHOST="$v")
  fi
  local db=""
  if [ -n "$ch" ]; then
    db="egab_$$_${side}_$i"
    chdbs+=("$db" "${db}_ceiling")
    env+=(CLICKHOUSE_DB_NAMES="$db")
  fi
  env "${env[@]}" "$bin" >"$dir/server.log" 2>&1 &
  pid=$!
  local up=""
  for _ in $(seq 1 200); do
    if curl -fs "127.0.0.1:$gport/heartbeat" >/dev/null 2>&1; then up=1; break; fi
    sleep 0.1
  done
  if [ -z "$up" ]; then echo "bench-ab: $side run $i: server did not come up:" >&2; tail -20 "$dir/server.log" >&2; exit 1; fi
  local tailer=""
  if [ "$side" = b ] && [ "${STUCK_TAIL_B:-}" = 1 ]; then
    curl -sN "http://127.0.0.1:$gport/v1/tail" >"$dir/tail.out" 2>&1 &
    tailer=$!
    sleep 0.5
    kill -STOP "$tailer"
  fi
  # The value without the header row (binaries before --format print none).
  q() { "$bin" query --http "127.0.0.1:$gport" "$1" 2>/dev/null | awk 'NR == 1 && !/^[0-9]/ { next } { print }'; }
  ( while :; do echo "$(date +%s.%N) $(q "SELECT count() FROM event" || echo 0)"; sleep 1; done ) >"$dir/landed.txt" &
  local poller=$!
  local c0 m0 h0; c0="$(cpu_ms "$pid")"; m0="$(cpu_ms "$mqpid")"; h0="$(cpu_ms "$chpid")"
  # shellcheck disable=SC2086
  "$work/bin-$client" bench --target "127.0.0.1:$port" --concurrency "$conc" --batch "$batch" --duration "$dur" $extra --json \
    >"$dir/bench.out" 2>"$dir/bench.err" || { echo "bench-ab: $side run $i: bench failed:" >&2; tail -5 "$dir/bench.err" >&2; }
  local c1; c1="$(cpu_ms "$pid")"
  local js; js="$(sed -n 2p "$dir/bench.out")"
  local acked p50 p99 evs
  acked="$(sed -E 's/.*"acked":([0-9]+).*/\1/' <<<"$js")"
  evs="$(sed -E 's/.*"events_per_s":([0-9.e+]+).*/\1/' <<<"$js")"
  p50="$(sed -E 's/.*"p50_ms":([0-9.e+]+).*/\1/' <<<"$js")"
  p99="$(sed -E 's/.*"p99_ms":([0-9.e+]+).*/\1/' <<<"$js")"
  local n=0 final=""
  [ -n "$ch" ] && final=" FINAL"
  for _ in $(seq 1 600); do
    n="$(q "SELECT count() FROM event$final" || echo 0)"
    [ "${n:-0}" -ge "$acked" ] && break
    sleep 0.5
  done
  local c2 m2 h2; c2="$(cpu_ms "$pid")"; m2="$(cpu_ms "$mqpid")"; h2="$(cpu_ms "$chpid")"
  local rss=0
  if [ -r "/proc/$pid/status" ]; then
    rss="$(awk '/^VmHWM/ {printf "%.0f", $2/1024}' "/proc/$pid/status")"
  else
    echo "bench-ab: $side run $i: the server exited during the run:" >&2; tail -20 "$dir/server.log" >&2
  fi
  sleep 1.5
  kill "$poller" 2>/dev/null || true; wait "$poller" 2>/dev/null || true
  # The event table takes only the events whose type routes to it; landed/s
  # is measured on it alone (the same for both revisions).
  local rate
  rate="$(awk -v all="$n" '$2>0 && !t0 {t0=$1; c0=$2} $2>=all && !t1 {t1=$1; c1=$2} END {if (t1>t0) printf "%.0f", (c1-c0)/(t1-t0); else print "0"}' "$dir/landed.txt")"
  local msgs
  msgs="$(curl -s "127.0.0.1:$gport/metrics" | awk '/^eventgrpc_publish_messages_total/ {s+=$2} END {print s+0}')"
  if [ -n "$tailer" ]; then
    tailbytes="$(stat -c %s "$dir/tail.out")"
    kill -CONT "$tailer" 2>/dev/null || true; kill "$tailer" 2>/dev/null || true; wait "$tailer" 2>/dev/null || true
    echo "bench-ab: $side run $i: stuck tail reader had read $tailbytes bytes; tail drops: $(curl -s "127.0.0.1:$gport/metrics" | awk '/^eventgrpc_tail_dropped_events_total/ {s+=$2} END {print s+0}')" >&2
  fi
  kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
  pid=""
  local chline=""
  if [ -n "$ch" ]; then
    local parts evparts pmin mq chc sys ceil cpct
    parts="$(clickhouse-client -q "SELECT count() FROM system.parts WHERE database = '$db' AND level = 0")"
    evparts="$(clickhouse-client -q "SELECT count() FROM system.parts WHERE database = '$db' AND table = 'event' AND level = 0")"
    pmin="$(awk -v p="$parts" -v all="$n" '$2>0 && !t0 {t0=$1} $2>=all && !t1 {t1=$1} END {d=(t1>t0)?t1-t0:1; if (d<1) d=1; printf "%.0f", p*60/d}' "$dir/landed.txt")"
    mq="$(awk -v a="$acked" -v c="$((m2 - m0))" 'BEGIN{if (a>0) printf "%.1f", c*1000/a; else print "0"}')"
    chc="$(awk -v a="$acked" -v c="$((h2 - h0))" 'BEGIN{if (a>0) printf "%.1f", c*1000/a; else print "0"}')"
    sys="$(awk -v a="$acked" -v c="$((c2 - c0 + m2 - m0 + h2 - h0))" 'BEGIN{if (a>0) printf "%.1f", c*1000/a; else print "0"}')"
    # The ceiling, on the same rows in the same run.
    clickhouse-client -q "CREATE DATABASE ${db}_ceiling"
    clickhouse-client -q "CREATE TABLE ${db}_ceiling.event AS $db.event"
    clickhouse-client -q "SELECT * FROM $db.event FORMAT Native" >"$dir/rows.native"
    local s0 s1 crows
    s0="$(date +%s.%N)"
    clickhouse-client -q "INSERT INTO ${db}_ceiling.event FORMAT Native" <"$dir/rows.native"
    s1="$(date +%s.%N)"
    crows="$(clickhouse-client -q "SELECT count() FROM ${db}_ceiling.event")"
    rm -f "$dir/rows.native"
    ceil="$(awk -v r="$crows" -v a="$s0" -v b="$s1" 'BEGIN{if (b>a) printf "%.0f", r/(b-a); else print 0}')"
    cpct="$(awk -v l="$rate" -v c="$ceil" 'BEGIN{if (c>0) printf "%.3f", l/c; else print 0}')"
    clickhouse-client -q "DROP DATABASE IF EXISTS ${db}_ceiling"
    clickhouse-client -q "DROP DATABASE IF EXISTS $db"
    chline=" mq/1k=$mq ch/1k=$chc sys/1k=$sys parts=$parts evparts=$evparts parts/min=$pmin ceil/s=$ceil ceil%=$cpct"
  fi
  local epm cpu ing
  epm="$(awk -v a="$acked" -v m="$msgs" 'BEGIN{if (m>0) printf "%.1f", a/m; else print "0"}')"
  cpu="$(awk -v a="$acked" -v c="$((c2 - c0))" 'BEGIN{if (a>0) printf "%.1f", c*1000/a; else print "0"}')"
  ing="$(awk -v a="$acked" -v c="$((c1 - c0))" 'BEGIN{if (a>0) printf "%.1f", c*1000/a; else print "0"}')"
  local rowok=ok; [ "${n:-0}" -ge "$acked" ] || rowok="MISSING$((acked - n))"
  printf '%s run=%d ev/s=%.0f p50=%.2f p99=%.2f landed/s=%s ev/msg=%s cpu/1k=%s ingcpu/1k=%s rss=%s%s acked=%s stored=%s(%s) msgs=%s\n' \
    "$side" "$i" "$evs" "$p50" "$p99" "$rate" "$epm" "$cpu" "$ing" "$rss" "$chline" "$acked" "$n" "$rowok" "$msgs" | tee -a "$results"
}

for i in $(seq 1 "$runs"); do
  run_one a "$i"
  run_one b "$i"
done

median() { # side field
  grep "^$1 " "$results" | tr ' ' '\n' | awk -F= -v f="$2" '$1==f {print $2+0}' | sort -g |
    awk '{v[NR]=$1} END {if (NR==0) print 0; else if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'
}
echo "medians (A=$arev, B=$brev):"
fields="ev/s p50 p99 landed/s ev/msg cpu/1k ingcpu/1k rss"
[ -n "$ch" ] && fields="$fields mq/1k ch/1k sys/1k parts evparts parts/min ceil/s ceil%"
for f in $fields; do
  a="$(median a "$f")"; b="$(median b "$f")"
  printf '  %-10s A=%-10s B=%-10s B/A=%s\n' "$f" "$a" "$b" "$(awk -v a="$a" -v b="$b" 'BEGIN{if (a>0) printf "%.2f", b/a; else print "n/a"}')"
done
