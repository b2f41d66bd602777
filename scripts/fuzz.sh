#!/usr/bin/env bash
# fuzz: run every Fuzz* target of the module for the given time each
# (default 10s). A crash fails the run and leaves the input under the
# package's testdata/fuzz for a regression test.
set -euo pipefail
fuzztime="${1:-10s}"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
found=0
while IFS= read -r line; do
  file="${line%%:*}"
  name="$(sed -E 's/^func (Fuzz[A-Za-z0-9_]*).*/\1/' <<<"${line#*:}")"
  pkg="./$(dirname "$file")"
  echo "fuzz: $pkg $name for $fuzztime"
  go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -fuzzminimizetime 2s "$pkg"
  found=$((found + 1))
done < <(grep -rHE '^func Fuzz[A-Za-z0-9_]*\(' --include='*_test.go' internal cmd | sort)
if [ "$found" -eq 0 ]; then
  echo "fuzz: no fuzz targets found" >&2
  exit 1
fi
echo "fuzz: $found target(s) ran for $fuzztime each without a crash"
