"""Test settings: a separate Redis database, fast heartbeats, and var/test for files."""
from leaderboard.settings import *  # noqa: F401,F403
from leaderboard.settings import VAR_DIR, env

SECRET_KEY = "test-only-secret-key"
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "testserver"]
CELERY_BROKER_URL = env("TEST_BROKER_URL", "redis://127.0.0.1:6379/15")
# one test process: counters in its own memory, emptied before each test (tests/conftest.py)
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
MODEL_STORE = VAR_DIR / "test" / "models"
TEACHER_CACHE = VAR_DIR / "test" / "teachers"
WORK_DIR = VAR_DIR / "test" / "work"
MEDIA_ROOT = VAR_DIR / "test" / "media"
RUN_HEARTBEAT_SECONDS = 1
RUN_STALLED_AFTER_SECONDS = 5
RUN_RESEND_QUEUED_AFTER_SECONDS = int(env("RUN_RESEND_QUEUED_AFTER_SECONDS", "5"))
PLAN_RESEND_AFTER_SECONDS = 5
N_THREADS = 2
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
REPORT_SETTINGS_PROBLEMS = False  # tests set their values here, not in the environment
