#!/usr/bin/env bash
# ensure-postgres: make sure PostgreSQL answers on 127.0.0.1:5432 with the
# database `test` (trust auth). Starts the Debian cluster if it is not
# running, creates the database if it is missing, and waits until
# `psql -c 'select 1'` answers. Idempotent: when the server already answers
# it does nothing. Tests call it from TestMain.
#
# Environment:
#   POSTGRES_WAIT  seconds to wait for the server to answer (default 30)
#   PGUSER         the role to connect as (default: postgres, else root)
# Exit status: 0 when the server answers; non-zero with a message otherwise.
set -euo pipefail

WAIT="${POSTGRES_WAIT:-30}"
HOST=127.0.0.1
PORT=5432
DB=test

log() { echo "ensure-postgres: $*" >&2; }

user_answers() {
  psql -X -q -h "$HOST" -p "$PORT" -U "$1" -d "$DB" -tAc 'select 1' >/dev/null 2>&1
}

answers() {
  command -v psql >/dev/null 2>&1 || return 1
  if [ -n "${PGUSER:-}" ]; then
    user_answers "$PGUSER"
    return
  fi
  user_answers postgres || user_answers root
}

if answers; then
  exit 0
fi

if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  log "PostgreSQL is not installed (no pg_ctlcluster); install the Debian postgresql package"
  exit 1
fi

listening() { (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null; }

if ! listening; then
  version="$(ls /etc/postgresql | sort -V | tail -n 1)"
  if [ -z "$version" ]; then
    log "no cluster under /etc/postgresql"
    exit 1
  fi
  log "starting cluster $version/main"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
fi

deadline=$((SECONDS + WAIT))
until listening && psql -X -q -h "$HOST" -p "$PORT" -U postgres -d postgres -tAc 'select 1' >/dev/null 2>&1; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    log "PostgreSQL did not answer on $HOST:$PORT within ${WAIT}s"
    exit 1
  fi
  sleep 0.2
done

if ! answers; then
  # The server answers but the database is missing.
  if [ "$(psql -X -h "$HOST" -p "$PORT" -U postgres -d postgres -tAc "select 1 from pg_database where datname = '$DB'")" != 1 ]; then
    log "creating database $DB"
    psql -X -q -h "$HOST" -p "$PORT" -U postgres -d postgres -c "CREATE DATABASE $DB"
  fi
  if ! answers; then
    log "PostgreSQL answers but 'select 1' on database $DB fails"
    exit 1
  fi
fi
log "PostgreSQL answers on $HOST:$PORT database $DB"
