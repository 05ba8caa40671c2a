"""Settings, all overridable from the environment (LEADERBOARD_*), so web and worker machines share one file."""
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("LEADERBOARD_VAR_DIR", BASE_DIR / "var"))


def env(name: str, default: str) -> str:
    return os.environ.get(f"LEADERBOARD_{name}", default)


SECRET_KEY = env("SECRET_KEY", "dev-only-insecure-key-change-me")
DEBUG = env("DEBUG", "1") == "1"
ALLOWED_HOSTS = env("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver").split(",")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "leaderboard.basemodels",
    "leaderboard.recipes",
    "leaderboard.runs",
    "leaderboard.experiments",
    "leaderboard.accounts",
    "leaderboard.api",
    "leaderboard.benchmarks",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "leaderboard.urls"
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "DIRS": [BASE_DIR / "templates"],
    "APP_DIRS": True,
    "OPTIONS": {"context_processors": [
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
    ]},
}]
WSGI_APPLICATION = "leaderboard.wsgi.application"

DATABASES = {"default": {
    "ENGINE": "django.db.backends.postgresql",
    "NAME": env("DB_NAME", "leaderboard"),
    "USER": env("DB_USER", "postgres"),
    "PASSWORD": env("DB_PASSWORD", ""),
    "HOST": env("DB_HOST", "127.0.0.1"),
    "PORT": env("DB_PORT", "5432"),
}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
MEDIA_ROOT = VAR_DIR / "media"
MEDIA_URL = "media/"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticatedOrReadOnly"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "leaderboard.api.exceptions.exception_handler",
}

# Uploads: an imatrix for a 270M model is ~1 MB; for 70B models tens of MB.
IMATRIX_MAX_BYTES = int(env("IMATRIX_MAX_BYTES", str(64 * 1024 * 1024)))
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# --- Celery: Redis broker; the Run row in the database is the source of truth for a run's state ---
CELERY_BROKER_URL = env("BROKER_URL", "redis://127.0.0.1:6379/0")
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": int(env("VISIBILITY_TIMEOUT", "3600"))}
CELERY_BEAT_SCHEDULE = {
    "requeue-stalled-work": {"task": "housekeeping.requeue_stalled", "schedule": 30.0, "options": {"queue": "default"}},
}

# --- Worker machine settings ---
MODEL_STORE = Path(env("MODEL_STORE", str(VAR_DIR / "models")))
TEACHER_CACHE = Path(env("TEACHER_CACHE", str(VAR_DIR / "teachers")))
WORK_DIR = Path(env("WORK_DIR", str(VAR_DIR / "work")))
N_THREADS = int(env("N_THREADS", str(os.cpu_count() or 1)))
# -1 offloads every layer when llama-cpp-python was built with CUDA (CMAKE_ARGS="-DGGML_CUDA=on"); 0 keeps all on CPU.
N_GPU_LAYERS = int(env("N_GPU_LAYERS", "-1"))
RUN_HEARTBEAT_SECONDS = int(env("RUN_HEARTBEAT_SECONDS", "10"))
RUN_STALLED_AFTER_SECONDS = int(env("RUN_STALLED_AFTER_SECONDS", "120"))
RUN_RESEND_QUEUED_AFTER_SECONDS = int(env("RUN_RESEND_QUEUED_AFTER_SECONDS", "900"))
RUN_MAX_ATTEMPTS = int(env("RUN_MAX_ATTEMPTS", "3"))
PLAN_RESEND_AFTER_SECONDS = int(env("PLAN_RESEND_AFTER_SECONDS", "900"))
RUN_SOFT_TIME_LIMIT = int(env("RUN_SOFT_TIME_LIMIT", "3000"))
RUN_TIME_LIMIT = int(env("RUN_TIME_LIMIT", "3300"))
PLAN_SOFT_TIME_LIMIT = int(env("PLAN_SOFT_TIME_LIMIT", "540"))
PLAN_TIME_LIMIT = int(env("PLAN_TIME_LIMIT", "600"))
# --- Generation health check (thresholds measured on sound and broken quants: docs/metrics.md) ---
HEALTH_MAX_TOKENS = int(env("HEALTH_MAX_TOKENS", "96"))
HEALTH_SECONDS_PER_PROMPT = float(env("HEALTH_SECONDS_PER_PROMPT", "20"))
HEALTH_MIN_DISTINCT_2 = float(env("HEALTH_MIN_DISTINCT_2", "0.15"))
HEALTH_MIN_TOKENS = int(env("HEALTH_MIN_TOKENS", "32"))
WHITENOISE_USE_FINDERS = True
