"""gunicorn settings shared by `make run` and docker-compose's web service (gunicorn -c this file)."""
import os

workers = int(os.environ.get("LEADERBOARD_WEB_WORKERS", "2"))
# an imatrix upload is checked in a child process for up to 2 x UPLOAD_CHECK_CPU_SECONDS
timeout = int(os.environ.get("LEADERBOARD_WEB_TIMEOUT", "60"))
graceful_timeout = 30
# request line and headers are capped here; bodies by leaderboard/middleware.py from Content-Length
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
forwarded_allow_ips = os.environ.get("LEADERBOARD_FORWARDED_ALLOW_IPS", "127.0.0.1")
