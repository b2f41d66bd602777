#!/usr/bin/env bash
# ensure-prometheus: promtool (from Debian's prometheus package) for checking
# deploy/prometheus/alerts.yml and running its unit tests. Idempotent; fails
# loudly when it cannot be had: the alert checks never skip.
set -euo pipefail
if ! command -v promtool >/dev/null 2>&1; then
  echo "ensure-prometheus: installing prometheus (for promtool) from Debian" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends prometheus >&2
  # The package's service is not wanted: only the promtool binary is.
  if command -v systemctl >/dev/null 2>&1; then systemctl disable --now prometheus >/dev/null 2>&1 || true; fi
fi
promtool --version >&2
