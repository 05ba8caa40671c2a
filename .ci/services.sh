#!/usr/bin/env bash
# Make sure Redis and PostgreSQL answer on 127.0.0.1 (install and start them when they do not).
set -euo pipefail

need_apt_update=1
apt_install() {
  if [ $need_apt_update = 1 ]; then apt-get update -qq; need_apt_update=0; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
  command -v redis-server >/dev/null || apt_install redis-server
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 50); do redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break; sleep 0.1; done
fi

if ! pg_isready -h 127.0.0.1 -q 2>/dev/null; then
  command -v pg_ctlcluster >/dev/null || apt_install postgresql
  version=$(ls /etc/postgresql | sort -n | tail -1)
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 100); do pg_isready -h 127.0.0.1 -q && break; sleep 0.2; done
fi

# The project's database (tests create their own test_ database beside it).
if ! psql -h 127.0.0.1 -U postgres -tAc "select 1 from pg_database where datname='leaderboard'" | grep -q 1; then
  createdb -h 127.0.0.1 -U postgres leaderboard
fi
