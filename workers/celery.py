"""The Celery app as a worker starts it: `celery -A workers worker …`. Celery imports the package `workers`
first, which loads llama.cpp before Django, numpy or any other C++ library (workers/__init__.py);
the app itself is the project's one (leaderboard/celery.py)."""
from leaderboard.celery import app

__all__ = ["app"]
