import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leaderboard.settings")

app = Celery("leaderboard")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_routes = {"runs.reproduce": {"queue": "gpu"}}
# Tasks live in workers/tasks.py; the web side only sends them by name (leaderboard/dispatch.py).
app.conf.imports = ("workers.tasks",)
