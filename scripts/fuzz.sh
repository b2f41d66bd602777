#!/usr/bin/env bash
# fuzz: run every Fuzz* target of the module for the given time each
# (default 10s). A crash fails the run and leaves the input under the
# package's testdata/fuzz for a regression test.
#
# Go 1.26's fuzz coordinator can fail a target with a bare "context
# deadline exceeded" at the -fuzztime boundary when a worker is still busy
# (go.dev/issue/75804, fixed in Go 1.27); slow targets such as the one that
# publishes to RabbitMQ meet it on a loaded machine. Such a failure wrote no
# failing input. It is told apart from a finding (a failing input is
# written, or any other message), and the target is then fuzzed once more:
# a second bare deadline is still a failure.
set -euo pipefail
fuzztime="${1:-10s}"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
found=0
raced=0
fuzz() { # pkg name → 0 ok, 2 the coordinator's deadline race, 1 a finding
  local pkg="$1" name="$2" out rc=0 written
  out="$(mktemp)"
  go test -run '^$' -fuzz "^${2}\$" -fuzztime "$fuzztime" -fuzzminimizetime 2s "$pkg" 2>&1 | tee "$out" || rc=$?
  if [ "$rc" -ne 0 ]; then
    written="$(grep -c 'Failing input written to' "$out" || true)"
    if [ "$written" -eq 0 ] && grep -qE '^\s+context deadline exceeded$' "$out" &&
      [ "$(grep -cE '^\s+[a-z_]+\.go:[0-9]+:' "$out" || true)" -eq 0 ]; then
      rc=2
    else
      rc=1
    fi
  fi
  rm -f "$out"
  return "$rc"
}
while IFS= read -r line; do
  file="${line%%:*}"
  name="$(sed -E 's/^func (Fuzz[A-Za-z0-9_]*).*/\1/' <<<"${line#*:}")"
  pkg="./$(dirname "$file")"
  echo "fuzz: $pkg $name for $fuzztime"
  rc=0
  fuzz "$pkg" "$name" || rc=$?
  if [ "$rc" -eq 2 ]; then
    raced=$((raced + 1))
    echo "fuzz: $name stopped on the coordinator's deadline race with no failing input; fuzzing it again"
    rc=0
    fuzz "$pkg" "$name" || rc=$?
  fi
  if [ "$rc" -ne 0 ]; then
    echo "fuzz: $pkg $name failed" >&2
    exit 1
  fi
  found=$((found + 1))
done < <(grep -rHE '^func Fuzz[A-Za-z0-9_]*\(' --include='*_test.go' internal cmd | sort)
if [ "$found" -eq 0 ]; then
  echo "fuzz: no fuzz targets found" >&2
  exit 1
fi
echo "fuzz: $found target(s) ran for $fuzztime each without a crash ($raced stopped once on the coordinator's deadline race and passed when fuzzed again)"
