#!/usr/bin/env bash
# Makes sure the PostgreSQL and Redis the tests use are up (127.0.0.1:5432, 127.0.0.1:6379);
# starts them with the machine's own service commands if not, and fails loudly if they can't be.
set -euo pipefail

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
redis_up() { [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = "PONG" ]; }

if ! pg_up; then
  echo "PostgreSQL is down; starting it"
  if command -v pg_ctlcluster >/dev/null && ls /etc/postgresql >/dev/null 2>&1; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  fi
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
fi
if ! redis_up; then
  echo "Redis is down; starting it"
  if command -v redis-server >/dev/null; then
    mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
  fi
  for _ in $(seq 1 30); do redis_up && break; sleep 1; done
fi

pg_up || { echo "FATAL: PostgreSQL is not reachable at 127.0.0.1:5432 and could not be started" >&2; exit 1; }
redis_up || { echo "FATAL: Redis is not reachable at 127.0.0.1:6379 and could not be started" >&2; exit 1; }
psql -h 127.0.0.1 -d test -tAc "SELECT 1" >/dev/null \
  || { echo "FATAL: PostgreSQL is up but database 'test' is not usable (trust auth expected)" >&2; exit 1; }
echo "services: PostgreSQL and Redis are up"
