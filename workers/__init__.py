"""What a worker machine runs. Importing this package loads llama.cpp's libraries first of all (before
numpy can be imported by anything else): see workers/engine/llamacpp/__init__.py."""
from workers.engine import llamacpp  # noqa: F401
