#!/usr/bin/env bash
# Load test on loopback: gunicorn (as `make run` serves it) against PostgreSQL holding 10,000 runs, driven by
# wrk. Prints requests/s, p99 latency and errors per URL; the last line is the summary.
# Usage: bench/load.sh [PATH ...]   (default: the home page, a recipe page and the recipe list API)
# Rate limits are raised for the run: this measures the server, not the limiter.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null)
export LEADERBOARD_DB_NAME=${LEADERBOARD_DB_NAME:-lb_load_bench} LEADERBOARD_DEBUG=0
export LEADERBOARD_SECRET_KEY=${LEADERBOARD_SECRET_KEY:-load-bench-$(python3 -c 'import secrets; print(secrets.token_hex(24))')}
export LEADERBOARD_THROTTLE_USER=100000000/min LEADERBOARD_THROTTLE_ADDRESS=100000000/min
psql -h 127.0.0.1 -U postgres -tAc "select 1 from pg_database where datname='$LEADERBOARD_DB_NAME'" | grep -q 1 \
  || createdb -h 127.0.0.1 -U postgres "$LEADERBOARD_DB_NAME"
.venv/bin/python manage.py migrate --noinput >/dev/null
.venv/bin/python bench/load_seed.py >&2
recipe=$(psql -h 127.0.0.1 -U postgres -d "$LEADERBOARD_DB_NAME" -tAc "select id from recipes_recipe order by id limit 1")
paths=("$@")
[ ${#paths[@]} -gt 0 ] || paths=("/" "/recipes/$recipe/" "/api/recipes/?limit=50")
port=${LOAD_PORT:-8716}
.venv/bin/gunicorn leaderboard.wsgi --config gunicorn.conf.py --bind "127.0.0.1:$port" 2>/dev/null &
web=$!
trap 'kill $web' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/static/site.css" >/dev/null && break; sleep 0.2; done
total_errors=0 summary=()
for path in "${paths[@]}"; do
  out=$(wrk -t 2 -c 8 -d "${LOAD_SECONDS:-15}s" --timeout 10s --latency "http://127.0.0.1:$port$path")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  non_2xx=$(awk '/Non-2xx/ {print $5}' <<<"$out")
  socket=$(awk -F'[ ,]+' '/Socket errors/ {print $5+$7+$9+$11}' <<<"$out")
  errors=$(( ${non_2xx:-0} + ${socket:-0} ))
  echo "$path: $rps requests/s, p99 $p99, $errors errors"
  total_errors=$((total_errors + errors))
  summary+=("$path $rps/s p99 $p99")
done
echo "load: ${summary[*]}; errors: $total_errors"
