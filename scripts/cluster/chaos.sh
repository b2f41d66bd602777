#!/usr/bin/env bash
# The cluster chaos suite: two service instances behind haproxy on the
# clusters of scripts/cluster/up.sh, under load while a RabbitMQ quorum
# leader, a ClickHouse replica, the NATS stream leader or an instance is
# killed with SIGKILL (and one instance is drained by its heartbeat). Each
# scenario prints
#   scenario=cluster_NAME sent=N acked=N stored=N lost=N duplicates=N outage_s=X
# and fails unless lost=0 and duplicates=0.
#
#   scripts/cluster/chaos.sh          the short version (14 s of load each; make test)
#   scripts/cluster/chaos.sh --full   the long one (60 s of load each)
#
# The clusters are started if they are not up and left running;
# scripts/cluster/down.sh stops them.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
args=()
[ "${1:-}" = --full ] && args=(-args -chaos.full)
scripts/cluster/up.sh
go test -count=1 -timeout 40m -v -run TestClusterChaos ./test/chaos/ "${args[@]}" 2>&1 | tee /tmp/event-grpc-cluster-chaos.log | grep -E '^(scenario=|--- |    --- |ok|FAIL|PASS)|_test.go:[0-9]+: '
exit "${PIPESTATUS[0]}"
