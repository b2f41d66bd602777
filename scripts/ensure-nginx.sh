#!/usr/bin/env bash
# ensure-nginx: nginx from Debian (nginx-light) for the proxy test
# (test/proxy), which runs its own nginx on private ports with its own -p
# prefix and -c config. Idempotent; fails loudly when nginx cannot be had:
# the proxy test never skips. The package's own service is not wanted.
set -euo pipefail
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  echo "ensure-nginx: installing nginx-light from Debian" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends nginx-light >&2
  if command -v systemctl >/dev/null 2>&1; then systemctl disable --now nginx >/dev/null 2>&1 || true; fi
fi
PATH="$PATH:/usr/sbin" nginx -v 2>&1 >&2
