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
echo "  Site:     http://$host:$port/   (demo login: demo / demo-password)"
# where this site's state lives, as the settings resolve it (LEADERBOARD_* variables; passwords left out)
.venv/bin/python - <<'PY'
import os
from urllib.parse import urlsplit

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leaderboard.settings")
import django

django.setup()
from django.conf import settings as s


def bare(url):
    u = urlsplit(url)
    return f"{u.scheme}://{u.hostname}:{u.port or 6379}{u.path}"


db = s.DATABASES["default"]
print(f"  Database: PostgreSQL {db['NAME']} on {db['HOST']}:{db['PORT']} (user {db['USER']})")
print(f"  Redis:    broker {bare(s.CELERY_BROKER_URL)}, cache {bare(s.CACHES['default']['LOCATION'])}")
print(f"  Var dir:  {s.VAR_DIR} (models, teachers, media, secret_key)")
PY
echo "  Logs:     var/log/ (JSON lines; worker-cpu.log: plans, worker-gpu.log: reproductions, web.log, access.log)"
echo "  Settings: every LEADERBOARD_* variable, docs/deploy.md (\"Settings\")"
echo
.venv/bin/gunicorn leaderboard.wsgi --config gunicorn.conf.py --bind "$host:$port" \
  --access-logfile var/log/access.log 2> var/log/web.log
