#!/usr/bin/env bash
# Shared helpers of scripts/cluster/{up,down}.sh: a 3-node RabbitMQ, a 3-node
# NATS JetStream and a 2-replica ClickHouse with ZooKeeper, on one machine,
# on private loopback ports, from Debian packages. Every process is started
# under $CLUSTER_DIR and stopped by its PID; the shared servers (RabbitMQ
# 5672, NATS 4222, ClickHouse 9000) are never touched.
set -euo pipefail

CLUSTER_DIR=${CLUSTER_DIR:-/tmp/event-grpc-cluster}
mkdir -p "$CLUSTER_DIR"

log() { echo "cluster: $*" >&2; }
die() { echo "cluster: $*" >&2; exit 1; }

apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=300 install -y -q "${missing[@]}" >/dev/null 2>&1 ||
    { apt-get -o DPkg::Lock::Timeout=300 update -q >/dev/null 2>&1; apt-get -o DPkg::Lock::Timeout=300 install -y -q "${missing[@]}" >/dev/null; }
}

# alive PIDFILE: the process of the pid file runs.
alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# stop_pid PIDFILE [SIGNAL] [SECONDS]: signal the process and wait for it to go (then SIGKILL).
stop_pid() {
  local f=$1 sig=${2:-TERM} secs=${3:-15}
  alive "$f" || { rm -f "$f"; return 0; }
  local pid; pid=$(cat "$f")
  kill -"$sig" "$pid" 2>/dev/null || true
  for _ in $(seq $((secs * 10))); do kill -0 "$pid" 2>/dev/null || { rm -f "$f"; return 0; }; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$f"
}

# port_free PORT: nothing listens on 127.0.0.1:PORT.
port_free() { ! (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; }

# wait_tcp PORT SECONDS
wait_tcp() {
  for _ in $(seq $(($2 * 10))); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done
  return 1
}

# wait_http URL SECONDS [EXPECT]
wait_http() {
  for _ in $(seq $(($2 * 10))); do
    out=$(curl -fsS --max-time 1 "$1" 2>/dev/null) && { [ -z "${3:-}" ] || [[ $out == *"$3"* ]]; } && return 0
    sleep 0.1
  done
  return 1
}

# ---------------------------------------------------------------- RabbitMQ
RMQ=$CLUSTER_DIR/rmq
RMQ_EPMD_PORT=4380
rmq_env() { # N
  local n=$1
  export HOME=$RMQ/home ERL_EPMD_PORT=$RMQ_EPMD_PORT ERL_EPMD_ADDRESS=127.0.0.1
  export RABBITMQ_NODENAME=rq$n@localhost RABBITMQ_NODE_PORT=570$n RABBITMQ_DIST_PORT=2570$n
  export RABBITMQ_CONF_ENV_FILE=$RMQ/rq$n/rabbitmq-env.conf RABBITMQ_CONFIG_FILE=$RMQ/rq$n/rabbitmq.conf
  export RABBITMQ_ENABLED_PLUGINS_FILE=$RMQ/rq$n/enabled_plugins RABBITMQ_MNESIA_BASE=$RMQ/rq$n/mnesia
  export RABBITMQ_LOG_BASE=$RMQ/rq$n/log RABBITMQ_PID_FILE=$RMQ/rq$n/rq$n.pid
  export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
  export RABBITMQ_CTL_DIST_PORT_MIN=3570$n RABBITMQ_CTL_DIST_PORT_MAX=3579$n
}
rmqctl() { # N args...
  local n=$1; shift
  (rmq_env "$n"; /usr/lib/rabbitmq/bin/rabbitmqctl -q -n "rq$n@localhost" "$@")
}
rmq_running() { # N
  alive "$RMQ/rq$1/rq$1.pid" && rmqctl "$1" status >/dev/null 2>&1
}
rmq_start_node() { # N
  local n=$1 d=$RMQ/rq$1
  mkdir -p "$d/log" "$d/mnesia"
  printf 'listeners.tcp.default = 127.0.0.1:570%s\nloopback_users = none\nlog.console = false\nlog.file.level = warning\n' "$n" >"$d/rabbitmq.conf"
  echo '[].' >"$d/enabled_plugins"
  : >"$d/rabbitmq-env.conf"
  (rmq_env "$n"; cd "$d"; setsid nohup /usr/lib/rabbitmq/bin/rabbitmq-server >"$d/log/stdout.log" 2>&1 </dev/null &)
}
rmq_wait_node() { # N
  local n=$1
  for _ in $(seq 300); do [ -s "$RMQ/rq$n/rq$n.pid" ] && break; sleep 0.1; done
  rmqctl "$n" wait "$RMQ/rq$n/rq$n.pid" --timeout 120 >/dev/null || die "rq$n did not start (see $RMQ/rq$n/log)"
}
rmq_epmd() {
  if [ -s "$RMQ/epmd.pid" ] && kill -0 "$(cat "$RMQ/epmd.pid")" 2>/dev/null; then return 0; fi
  mkdir -p "$RMQ/home"
  epmd -port $RMQ_EPMD_PORT -address 127.0.0.1 >/dev/null 2>&1 &
  echo $! >"$RMQ/epmd.pid"
  wait_tcp $RMQ_EPMD_PORT 10 || die "epmd did not listen on $RMQ_EPMD_PORT"
}

# ---------------------------------------------------------------- NATS
NATS=$CLUSTER_DIR/nats
nats_conf() { # N
  local n=$1 d=$NATS/n$1
  mkdir -p "$d/store"
  cat >"$d/nats.conf" <<CONF
server_name: n$n
listen: 127.0.0.1:423$n
http: 127.0.0.1:823$n
jetstream { store_dir: "$d/store", max_memory_store: 256MB, max_file_store: 1TB }
cluster {
  name: scale
  listen: 127.0.0.1:623$n
  routes: [nats-route://127.0.0.1:6231, nats-route://127.0.0.1:6232, nats-route://127.0.0.1:6233]
}
CONF
}
nats_start_node() { # N
  local n=$1 d=$NATS/n$1
  nats_conf "$n"
  nats-server -c "$d/nats.conf" -l "$d/nats.log" >/dev/null 2>&1 &
  echo $! >"$d/nats.pid"
}

# ---------------------------------------------------------------- ZooKeeper + ClickHouse
ZK=$CLUSTER_DIR/zk
CH=$CLUSTER_DIR/ch
zk_start() {
  mkdir -p "$ZK/data" "$ZK/conf"
  cat >"$ZK/conf/zoo.cfg" <<CONF
tickTime=500
initLimit=10
syncLimit=5
dataDir=$ZK/data
clientPort=2191
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=ruok,stat,mntr,srvr
CONF
  java -Xms64m -Xmx256m -XX:+UseSerialGC -cp "$ZK/conf:/usr/share/java/zookeeper.jar:/usr/share/java/zookeeper-jute.jar:/usr/share/java/slf4j-simple.jar" \
    -Dzookeeper.admin.enableServer=false org.apache.zookeeper.server.quorum.QuorumPeerMain "$ZK/conf/zoo.cfg" >"$ZK/zk.log" 2>&1 &
  echo $! >"$ZK/zk.pid"
}
# ZooKeeper serves sessions: `srvr` names its mode (ruok answers imok
# before it does, and a ClickHouse 18.16 whose first ZooKeeper session fails
# can crash in its DDL worker).
zk_ok() { (exec 3<>/dev/tcp/127.0.0.1/2191 && printf srvr >&3 && timeout 1 cat <&3) 2>/dev/null | grep -q '^Mode: '; }

ch_conf() { # N
  local n=$1 d=$CH/ch$1
  mkdir -p "$d/data" "$d/tmp" "$d/user_files" "$d/format_schemas" "$d/log"
  echo '<yandex></yandex>' >"$d/metrika.xml"
  cp /etc/clickhouse-server/users.xml "$d/users.xml"
  sed -e "s#<tcp_port>9000</tcp_port>#<tcp_port>910$n</tcp_port>#" \
      -e "s#<http_port>8123</http_port>#<http_port>812$((3 + n))</http_port>#" \
      -e "s#<interserver_http_port>9009</interserver_http_port>#<interserver_http_port>901$n</interserver_http_port>#" \
      -e "s#<path>/var/lib/clickhouse/</path>#<path>$d/data/</path>#" \
      -e "s#<tmp_path>/var/lib/clickhouse/tmp/</tmp_path>#<tmp_path>$d/tmp/</tmp_path>#" \
      -e "s#<user_files_path>/var/lib/clickhouse/user_files/</user_files_path>#<user_files_path>$d/user_files/</user_files_path>#" \
      -e "s#<format_schema_path>/var/lib/clickhouse/format_schemas/</format_schema_path>#<format_schema_path>$d/format_schemas/</format_schema_path>#" \
      -e "s#/var/log/clickhouse-server/#$d/log/#g" \
      -e "s#<users_config>users.xml</users_config>#<users_config>$d/users.xml</users_config>#" \
      -e "s#<mark_cache_size>[0-9]*</mark_cache_size>#<mark_cache_size>268435456</mark_cache_size>#" \
      -e "s#<uncompressed_cache_size>[0-9]*</uncompressed_cache_size>#<uncompressed_cache_size>268435456</uncompressed_cache_size>#" \
      -e "/<interserver_http_host>/d" -e "/<listen_host>/d" -e "/<include_from>/d" -e "/<remote_servers/,/<\/remote_servers>/d" \
      -e "/<zookeeper incl/d" -e "/<macros incl/d" \
      /etc/clickhouse-server/config.xml >"$d/config.xml.tmp"
  # Our own settings, inserted before the closing tag.
  local extra
  extra="<listen_host>127.0.0.1</listen_host><interserver_http_host>127.0.0.1</interserver_http_host>
<include_from>$d/metrika.xml</include_from>
<remote_servers><scale><shard><internal_replication>true</internal_replication>
<replica><host>127.0.0.1</host><port>9101</port></replica>
<replica><host>127.0.0.1</host><port>9102</port></replica></shard></scale></remote_servers>
<zookeeper><node><host>127.0.0.1</host><port>2191</port></node><session_timeout_ms>3000</session_timeout_ms></zookeeper>
<macros><shard>01</shard><replica>ch$n</replica><cluster>scale</cluster></macros>"
  awk -v extra="$extra" '/<\/yandex>/ && !done {print extra; done=1} {print}' "$d/config.xml.tmp" >"$d/config.xml"
  rm -f "$d/config.xml.tmp"
}
ch_start_node() { # N
  local n=$1 d=$CH/ch$1 pid
  # A replica whose pid file was lost (an interrupted start) is adopted,
  # not started twice.
  if pid=$(pgrep -f -- "--config-file=$d/config.xml" | head -1) && [ -n "$pid" ]; then
    echo "$pid" >"$d/ch.pid"
    return 0
  fi
  ch_conf "$n"
  chown -R clickhouse:clickhouse "$d" 2>/dev/null || true
  setsid start-stop-daemon --start --background --make-pidfile --pidfile "$d/ch.pid" --chuid clickhouse:clickhouse \
    --exec /usr/sbin/clickhouse-server -- --config-file="$d/config.xml" >/dev/null 2>&1
}
ch_ok() { curl -fsS --max-time 1 "http://127.0.0.1:812$((3 + $1))/ping" >/dev/null 2>&1; }
# Replica N has a ZooKeeper session (its DDL worker and replicated tables
# need one).
ch_zk_ok() { curl -fsS --max-time 2 "http://127.0.0.1:812$((3 + $1))/" --data-binary "SELECT count() FROM system.zookeeper WHERE path = '/'" >/dev/null 2>&1; }

# ---------------------------------------------------------------- RabbitMQ over TLS
# A single node rqtls (not clustered) that takes only amqps on
# 127.0.0.1:$RMQ_TLS_PORT, with the certificate files given to rmq_tls_start.
RMQ_TLS_PORT=${RMQ_TLS_PORT:-5771}
rmq_tls_env() {
  rmq_env tls
  export RABBITMQ_NODENAME=rqtls@localhost RABBITMQ_NODE_PORT=5770 RABBITMQ_DIST_PORT=25770
  export RABBITMQ_CTL_DIST_PORT_MIN=35770 RABBITMQ_CTL_DIST_PORT_MAX=35779
}
rmq_tls_start() { # CA CERT KEY
  local d=$RMQ/rqtls
  mkdir -p "$d/log" "$d/mnesia" "$RMQ/home"
  [ -s "$RMQ/home/.erlang.cookie" ] || { head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$RMQ/home/.erlang.cookie"; chmod 400 "$RMQ/home/.erlang.cookie"; }
  cat >"$d/rabbitmq.conf" <<CONF
listeners.tcp = none
listeners.ssl.default = 127.0.0.1:$RMQ_TLS_PORT
ssl_options.cacertfile = $1
ssl_options.certfile = $2
ssl_options.keyfile = $3
ssl_options.verify = verify_none
ssl_options.fail_if_no_peer_cert = false
loopback_users = none
log.console = false
log.file.level = warning
CONF
  echo '[].' >"$d/enabled_plugins"
  : >"$d/rabbitmq-env.conf"
  rmq_epmd
  (rmq_tls_env; cd "$d"; setsid nohup /usr/lib/rabbitmq/bin/rabbitmq-server >"$d/log/stdout.log" 2>&1 </dev/null &)
  for _ in $(seq 300); do [ -s "$d/rqtls.pid" ] && break; sleep 0.1; done
  (rmq_tls_env; /usr/lib/rabbitmq/bin/rabbitmqctl -q -n rqtls@localhost wait "$d/rqtls.pid" --timeout 120 >/dev/null) || die "rqtls did not start (see $d/log)"
}
rmq_tls_stop() {
  local d=$RMQ/rqtls
  if alive "$d/rqtls.pid"; then
    (rmq_tls_env; /usr/lib/rabbitmq/bin/rabbitmqctl -q -n rqtls@localhost stop "$d/rqtls.pid" >/dev/null 2>&1) || stop_pid "$d/rqtls.pid" TERM 20
  fi
  stop_pid "$d/rqtls.pid" TERM 5
  rm -rf "$d/mnesia"
}
