#!/usr/bin/env bash
# `make run`'s last step, served the way production serves: gunicorn with whitenoise for static files,
# DEBUG off, this machine's own secret key (var/secret_key, made once), one Celery worker for the
# `default` queue (plans, housekeeping) and one for the `gpu` queue (reproductions) so plans never wait
# behind a reproduction, and beat for the stalled-work reaper.
set -euo pipefail
host=$1 port=$2
mkdir -p var/log
if [ ! -s var/secret_key ]; then
  (umask 077 && .venv/bin/python -c "import secrets; print(secrets.token_urlsafe(50))" > var/secret_key)
fi
export LEADERBOARD_DEBUG=0 LEADERBOARD_ALLOWED_HOSTS="$host,localhost,127.0.0.1"
.venv/bin/celery -A workers worker -Q default -n cpu@%h --concurrency 1 --prefetch-multiplier 1 \
  --loglevel INFO > var/log/worker-cpu.log 2>&1 &
cpu_worker=$!
.venv/bin/celery -A workers worker -Q gpu -n gpu@%h --concurrency 1 --prefetch-multiplier 1 \
  --loglevel INFO > var/log/worker-gpu.log 2>&1 &
gpu_worker=$!
.venv/bin/celery -A leaderboard beat --loglevel INFO --schedule var/celerybeat-schedule > var/log/beat.log 2>&1 &
beat=$!
trap 'kill $cpu_worker $gpu_worker $beat 2>/dev/null' EXIT
echo
echo "  Site:   http://$host:$port/   (demo login: demo / demo-password)"
echo "  Logs:   var/log/ (JSON lines; worker-cpu.log: plans, worker-gpu.log: reproductions, web.log, access.log)"
echo
.venv/bin/gunicorn leaderboard.wsgi --config gunicorn.conf.py --bind "$host:$port" \
  --access-logfile var/log/access.log 2> var/log/web.log
