#!/usr/bin/env bash
# chaos: the full chaos suite (test/chaos) against real RabbitMQ and
# ClickHouse — SIGKILL ×3 and SIGTERM under load, a RabbitMQ stop/start, a
# 30 s ClickHouse outage, 1% poison events, two instances with one killed —
# then a summary: one line per scenario,
#   scenario=… sent=… acked=… refused=… stored=… duplicates_before_dedupe=… lost=…
# Extra arguments go to `go test` (e.g. -run 'TestChaos/kill9').
# The short version runs with every `go test ./...`.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log="$(mktemp -t chaos.XXXXXX.log)"
go test ./test/chaos/ -run TestChaos -v -count=1 -timeout 60m "$@" -args -chaos.full 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

echo
echo "chaos summary (full output in $log):"
if ! grep -E '^scenario=' "$log"; then
  echo "chaos: no scenario line was printed" >&2
  [ "$status" -ne 0 ] || status=1
fi
if [ "$status" -eq 0 ]; then
  echo "chaos: PASS"
else
  echo "chaos: FAIL (exit $status)"
fi
exit "$status"
