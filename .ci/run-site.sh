#!/usr/bin/env bash
# `make run`'s last step: one Celery worker (gpu + default queues), beat for the stalled-run reaper, the web server.
set -euo pipefail
host=$1 port=$2
mkdir -p var/log
.venv/bin/celery -A leaderboard worker -Q gpu,default --concurrency 1 --prefetch-multiplier 1 \
  --loglevel INFO --logfile var/log/worker.log > var/log/worker.out 2>&1 &
worker=$!
.venv/bin/celery -A leaderboard beat --loglevel INFO --logfile var/log/beat.log --schedule var/celerybeat-schedule \
  > var/log/beat.out 2>&1 &
beat=$!
trap 'kill $worker $beat 2>/dev/null' EXIT
echo
echo "  Site:   http://$host:$port/   (demo login: demo / demo-password)"
echo "  Worker log: var/log/worker.log"
echo
.venv/bin/python manage.py runserver "$host:$port" --noreload
