#!/usr/bin/env bash
# Sourced by .ci/run: PostgreSQL and Redis for the tests that need them. Uses the local
# services, starting them if they are installed but down. If one is still down, stop
# here with the reason: its tests would skip, and a skip fails the run anyway
# (MTPONTE_FAIL_ON_SKIP), but only after the whole suite. MTPONTE_CI_PG_PORT /
# MTPONTE_CI_REDIS_PORT say where to look (5432 / 6379); tests/ops/test_ci_services.py
# points the PostgreSQL one at a closed port to check the refusal.
PG_PORT="${MTPONTE_CI_PG_PORT:-5432}"
REDIS_PORT="${MTPONTE_CI_REDIS_PORT:-6379}"
port_open() { python3 -c "import socket,sys; s=socket.socket(); s.settimeout(1); sys.exit(s.connect_ex(('127.0.0.1', $1)))"; }
if ! port_open "$PG_PORT" && command -v pg_ctlcluster >/dev/null 2>&1; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
fi
if ! port_open "$REDIS_PORT" && command -v redis-server >/dev/null 2>&1; then
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no || true
fi
if [ -z "${MTPONTE_TEST_DATABASE_URL:-}" ]; then
  port_open "$PG_PORT" || { echo "PostgreSQL is not answering on 127.0.0.1:$PG_PORT and could not be started: its tests cannot run" >&2; exit 1; }
  export MTPONTE_TEST_DATABASE_URL="postgresql://postgres@127.0.0.1:$PG_PORT/test"
fi
if [ -z "${MTPONTE_TEST_REDIS_URL:-}" ]; then
  port_open "$REDIS_PORT" || { echo "Redis is not answering on 127.0.0.1:$REDIS_PORT and could not be started: its tests cannot run" >&2; exit 1; }
  export MTPONTE_TEST_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/15"
fi
