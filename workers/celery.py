"""The Celery app as a worker starts it: `celery -A workers worker …`. Celery imports the package `workers`
first, which loads llama.cpp before Django, numpy or any other C++ library (workers/__init__.py);
the app itself is the project's one (leaderboard/celery.py).

A worker whose llama.cpp was built with a backend the project rules out (AMX: it segfaults) does not start:
every run it took would crash (workers/engine/llamacpp/cpu_path.py)."""
from leaderboard.celery import app
from workers.engine.llamacpp.cpu_path import build_problem

_problem = build_problem()
if _problem:
    raise RuntimeError(_problem)

__all__ = ["app"]
