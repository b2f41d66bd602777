#!/usr/bin/env bash
# Start clusters on this machine, on private loopback ports, from Debian
# packages (see docs/PRODUCTION.md's cluster section and CLUSTERS.md's recipe):
#
#   scripts/cluster/up.sh [rabbitmq] [nats] [clickhouse]     (no argument: all three)
#
#   rabbitmq    3 nodes rq1..rq3, AMQP 127.0.0.1:5701-5703 (private epmd on 4380)
#   nats        3 JetStream nodes n1..n3, clients 127.0.0.1:4231-4233
#   clickhouse  ZooKeeper 127.0.0.1:2191, replicas ch1/ch2 native 9101/9102,
#               HTTP 8124/8125, cluster name "scale", one shard
#
# Idempotent: a cluster already up is left as it is. State, data and logs
# live under $CLUSTER_DIR (default /tmp/event-grpc-cluster); the service
# environment for the clusters is written to $CLUSTER_DIR/env.
# scripts/cluster/down.sh stops them by PID.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

want=("$@"); [ ${#want[@]} -eq 0 ] && want=(rabbitmq nats clickhouse)

up_rabbitmq() {
  if rmq_running 1 && rmq_running 2 && rmq_running 3; then log "rabbitmq: already up"; return 0; fi
  for n in 1 2 3; do
    alive "$RMQ/rq$n/rq$n.pid" && continue
    port_free 570$n && port_free 2570$n || die "rabbitmq: port 570$n or 2570$n is taken"
  done
  mkdir -p "$RMQ/home"
  [ -s "$RMQ/home/.erlang.cookie" ] || { head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$RMQ/home/.erlang.cookie"; chmod 400 "$RMQ/home/.erlang.cookie"; }
  rmq_epmd
  local fresh=()
  for n in 1 2 3; do
    alive "$RMQ/rq$n/rq$n.pid" && continue
    [ -d "$RMQ/rq$n/mnesia/rq$n@localhost" ] || fresh+=("$n")
    rmq_start_node "$n"
  done
  for n in 1 2 3; do rmq_wait_node "$n"; done
  for n in "${fresh[@]}"; do
    [ "$n" = 1 ] && continue
    rmqctl "$n" stop_app >/dev/null
    rmqctl "$n" join_cluster rq1@localhost >/dev/null 2>&1
    rmqctl "$n" start_app >/dev/null
  done
  local members
  members=$(rmqctl 1 eval 'length(rabbit_nodes:all_running()).' 2>/dev/null || echo 0)
  [ "$members" = 3 ] || die "rabbitmq: $members of 3 nodes running in the cluster"
  log "rabbitmq: 3 nodes up on 127.0.0.1:5701-5703"
}

up_nats() {
  local all=1
  for n in 1 2 3; do alive "$NATS/n$n/nats.pid" || all=0; done
  if [ $all = 1 ]; then log "nats: already up"; return 0; fi
  local any=0
  for n in 1 2 3; do alive "$NATS/n$n/nats.pid" && any=1; done
  if [ $any = 0 ]; then
    # A cold start: streams left by earlier runs would hold their byte
    # reservations (JetStream reserves max_bytes per replica) until the
    # store is full; a test cluster starts empty. A node restarted while
    # the others run keeps its store, so it catches up as in production.
    rm -rf "$NATS"/n*/store
  fi
  for n in 1 2 3; do
    alive "$NATS/n$n/nats.pid" && continue
    port_free 423$n && port_free 623$n && port_free 823$n || die "nats: a port of n$n is taken"
    nats_start_node "$n"
  done
  for n in 1 2 3; do wait_http "http://127.0.0.1:823$n/healthz?js-enabled=true" 30 || die "nats: n$n not healthy (see $NATS/n$n/nats.log)"; done
  for _ in $(seq 100); do
    leader=$(curl -fsS "http://127.0.0.1:8231/jsz" 2>/dev/null | grep -o '"leader": *"[^"]*"' | head -1 || true)
    [ -n "$leader" ] && break; sleep 0.1
  done
  [ -n "$leader" ] || die "nats: no JetStream meta leader"
  log "nats: 3 nodes up on 127.0.0.1:4231-4233 ($leader)"
}

up_clickhouse() {
  apt_install zookeeper clickhouse-server clickhouse-client
  if alive "$ZK/zk.pid" && zk_ok && alive "$CH/ch1/ch.pid" && ch_ok 1 && ch_zk_ok 1 && alive "$CH/ch2/ch.pid" && ch_ok 2 && ch_zk_ok 2; then
    log "clickhouse: already up"; return 0
  fi
  if ! alive "$ZK/zk.pid"; then
    port_free 2191 || die "zookeeper: port 2191 is taken"
    zk_start
  fi
  for _ in $(seq 300); do zk_ok && break; sleep 0.1; done
  zk_ok || die "zookeeper: no imok on 2191 (see $ZK/zk.log)"
  for try in 1 2 3; do
    for n in 1 2; do
      alive "$CH/ch$n/ch.pid" && continue
      if ! pgrep -f -- "--config-file=$CH/ch$n/config.xml" >/dev/null; then
        port_free 910$n && port_free 812$((3 + n)) && port_free 901$n || die "clickhouse: a port of ch$n is taken"
      fi
      ch_start_node "$n"
    done
    # Wait while the processes live and do not answer yet (a busy machine
    # can take a minute); a process that died is started again below.
    for n in 1 2; do
      for _ in $(seq 1200); do
        ch_ok "$n" && break
        alive "$CH/ch$n/ch.pid" || break
        sleep 0.1
      done
    done
    # A start right after a fresh ZooKeeper can abort (CLUSTERS.md): wait
    # until each replica has a ZooKeeper session, check the processes still
    # live a moment later, and try again if not.
    for n in 1 2; do
      for _ in $(seq 300); do
        ch_zk_ok "$n" && break
        alive "$CH/ch$n/ch.pid" || break
        sleep 0.1
      done
    done
    sleep 1.5
    ok=1
    for n in 1 2; do
      alive "$CH/ch$n/ch.pid" && ch_ok "$n" && ch_zk_ok "$n" && continue
      ok=0
      stop_pid "$CH/ch$n/ch.pid" KILL 10
    done
    [ $ok = 1 ] && break
    log "clickhouse: a replica did not stay up (try $try); starting again"
    sleep 3
  done
  [ $ok = 1 ] || die "clickhouse: replicas did not start (see $CH/ch*/log)"
  log "clickhouse: replicas ch1/ch2 up on 127.0.0.1:9101/9102 (cluster scale), ZooKeeper 2191"
}

for c in "${want[@]}"; do
  case $c in
    rabbitmq) up_rabbitmq ;;
    nats) up_nats ;;
    clickhouse) up_clickhouse ;;
    *) die "unknown cluster $c (rabbitmq, nats, clickhouse)" ;;
  esac
done

cat >"$CLUSTER_DIR/env" <<ENV
# The service's environment for the clusters of scripts/cluster/up.sh.
RABBIT_ADDRS=127.0.0.1:5701,127.0.0.1:5702,127.0.0.1:5703
NATS_URL=nats://127.0.0.1:4231,nats://127.0.0.1:4232,nats://127.0.0.1:4233
NATS_STREAM_REPLICAS=3
CLICKHOUSE_ADDRS=127.0.0.1:9101,127.0.0.1:9102
CLICKHOUSE_CLUSTER=scale
ENV
log "environment for the service: $CLUSTER_DIR/env"
