"""Settings, all overridable from the environment (LEADERBOARD_*), so web and worker machines share one file.
docs/deploy.md ("Settings") lists every one; a variable no setting reads, or one a production site needs
but did not set, is logged when a process starts (leaderboard/apps.py, leaderboard/domain/settings_check.py)."""
import os
from pathlib import Path

import plotly

BASE_DIR = Path(__file__).resolve().parent.parent
# Every LEADERBOARD_<NAME> read through env(), with its default: what "unknown variable" is measured against.
SETTINGS_READ: dict[str, str] = {}


def env(name: str, default: str) -> str:
    SETTINGS_READ.setdefault(name, str(default))
    return os.environ.get(f"LEADERBOARD_{name}", default)


VAR_DIR = Path(env("VAR_DIR", str(BASE_DIR / "var")))


def _secret_key() -> str:
    """LEADERBOARD_SECRET_KEY, else the machine's own var/secret_key (`make run` writes it once). Empty
    otherwise: Django then refuses to sign anything rather than sign with a key everyone knows."""
    key_file = VAR_DIR / "secret_key"
    return env("SECRET_KEY", "") or (key_file.read_text().strip() if key_file.exists() else "")


SECRET_KEY = _secret_key()
# Off unless asked for: a debug page shows the settings and the environment to whoever triggers an error.
DEBUG = env("DEBUG", "0") == "1"
ALLOWED_HOSTS = env("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",")
# Behind a TLS-terminating proxy (LEADERBOARD_HTTPS=1): cookies only over HTTPS, HSTS, redirect plain HTTP.
HTTPS = env("HTTPS", "0") == "1"
HSTS_SECONDS = int(env("HSTS_SECONDS", str(365 * 24 * 3600)))
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # the orchestrator probes plain HTTP inside the network
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = HSTS_SECONDS
    SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_PRELOAD = True
    CSRF_TRUSTED_ORIGINS = [f"https://{host}" for host in ALLOWED_HOSTS]
X_FRAME_OPTIONS = "DENY"

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
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files served from /static/, as the CSP asks
    "leaderboard.basemodels",
    "leaderboard.recipes",
    "leaderboard.runs",
    "leaderboard.frontiers",
    "leaderboard.experiments",
    "django.contrib.postgres",
    "leaderboard.accounts",
    "leaderboard.api",
    "leaderboard.benchmarks",
    "leaderboard.predictors",
    "leaderboard.sweeps",
    "leaderboard.allocators",
    "leaderboard",  # reports the environment's unknown and missing settings at start (leaderboard/apps.py)
]

MIDDLEWARE = [
    "leaderboard.middleware.RequestGuardMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "leaderboard.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "leaderboard.accounts.login_limits.LoginLockedMiddleware",
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
    "CONN_MAX_AGE": int(env("DB_CONN_MAX_AGE", "60")),
    "CONN_HEALTH_CHECKS": True,
    # a database that does not answer turns into a quick error (503 on pages), not a hung request
    "OPTIONS": {"connect_timeout": int(env("DB_CONNECT_TIMEOUT", "5")),
                "options": f"-c statement_timeout={int(env('DB_STATEMENT_TIMEOUT_MS', '30000'))}"},
}}

# Shared by every web process: throttling and login-failure counts (Django's Redis backend).
CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                      "LOCATION": env("CACHE_URL", "redis://127.0.0.1:6379/1"),
                      "KEY_PREFIX": env("DB_NAME", "leaderboard"),
                      "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2}}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = ["leaderboard.accounts.login_limits.RateLimitedModelBackend"]
# Failed logins allowed in LOGIN_FAILURE_WINDOW_SECONDS per (username, address), per address, and per username
# over all addresses (then refused only to addresses that failed for it): leaderboard/accounts/login_limits.py.
LOGIN_FAILURES_ALLOWED = int(env("LOGIN_FAILURES_ALLOWED", "10"))
LOGIN_ADDRESS_FAILURES_ALLOWED = int(env("LOGIN_ADDRESS_FAILURES_ALLOWED", "30"))
LOGIN_USER_FAILURES_ALLOWED = int(env("LOGIN_USER_FAILURES_ALLOWED", "100"))
LOGIN_FAILURE_WINDOW_SECONDS = int(env("LOGIN_FAILURE_WINDOW_SECONDS", "900"))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_TZ = True

STATIC_URL = "static/"
# plotly.js is served from the plotly package itself (static/plotly/plotly.min.js): no CDN, no copy in the repo.
STATICFILES_DIRS = [BASE_DIR / "static", ("plotly", Path(plotly.__file__).parent / "package_data")]
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
    "DEFAULT_PAGINATION_CLASS": "leaderboard.api.pagination.BoundedLimitOffsetPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "leaderboard.api.exceptions.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": [
        "leaderboard.api.throttling.UserOrAddressRateThrottle",
        "leaderboard.api.throttling.AddressRateThrottle",
        "leaderboard.api.throttling.WriteRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "user_or_address": env("THROTTLE_USER", "120/min"),  # every request, per user (per address when anonymous)
        "address": env("THROTTLE_ADDRESS", "300/min"),  # every request, per client address, whoever is logged in
        "write": env("THROTTLE_WRITE", "30/hour"),  # submissions and reproduction requests, per user
    },
    "NUM_PROXIES": int(env("NUM_PROXIES", "0")),  # proxies in front of gunicorn that set X-Forwarded-For
}
SPECTACULAR_SETTINGS = {
    "TITLE": "GGUF proving ground API",
    "DESCRIPTION": "Recipes, plans, reproductions and their measurements. Prose: docs/api.md.",
    "VERSION": "1",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "SERVE_INCLUDE_SCHEMA": False,
    # schema warnings are for `manage.py spectacular`; check --deploy stays about deployment (and at zero)
    "ENABLE_DJANGO_DEPLOY_CHECK": False,
}
# Reproductions waiting for a worker: at most this many per user (a recipe has at most one queued per corpus).
RUN_MAX_QUEUED_PER_USER = int(env("RUN_MAX_QUEUED_PER_USER", "5"))
# a sweep queues one variant at a time, so it holds one of the user's queued places; this caps running sweeps
SWEEP_MAX_RUNNING_PER_USER = int(env("SWEEP_MAX_RUNNING_PER_USER", "1"))
# each defined sweep makes up to 256 recipes and plans: a cap on those not yet finished
SWEEP_MAX_UNFINISHED_PER_USER = int(env("SWEEP_MAX_UNFINISHED_PER_USER", "5"))

# Experiments (leaderboard/experiments): the technique vocabulary, and the bounds of one experiment's runs.
EXPERIMENT_TAGS = ["GPTQ family", "AWQ", "lattice", "trellis", "product VQ", "finetune recovery", "Hadamard rotation",
                   "mixed precision", "imatrix", "KV-cache", "other"]
EXPERIMENT_MAX_ARMS = int(env("EXPERIMENT_MAX_ARMS", "8"))
EXPERIMENT_MAX_TARGET = int(env("EXPERIMENT_MAX_TARGET", "10"))
# An experiment queues all its missing runs at once; a user's experiments together wait for at most this many.
EXPERIMENT_MAX_QUEUED_PER_USER = int(env("EXPERIMENT_MAX_QUEUED_PER_USER", "80"))
# pg_trgm similarity of two hypotheses on one base model above which they are flagged as near-duplicates
EXPERIMENT_DUPLICATE_SIMILARITY = float(env("EXPERIMENT_DUPLICATE_SIMILARITY", "0.6"))
# The untrusted-GGUF probe a worker runs before measuring an uploaded file (workers/engine/llamacpp/probe.py)
GGUF_PROBE_MEMORY_BYTES = int(env("GGUF_PROBE_MEMORY_BYTES", str(8 * 1024 * 1024 * 1024)))
GGUF_PROBE_SECONDS = int(env("GGUF_PROBE_SECONDS", "120"))

# A recipe is verified on a profile when it has at least min_runs successful reproductions there whose mean KLD
# and PPL agree within z times their combined measured uncertainty, and (require_bit_identical) runs of one
# build and platform made the same file. See leaderboard/domain/reproduction.py.
VERIFIED_POLICY = {
    "min_runs": int(env("VERIFIED_MIN_RUNS", "2")),
    "z": float(env("VERIFIED_Z", "1.96")),
    "require_bit_identical": env("VERIFIED_REQUIRE_BIT_IDENTICAL", "1") == "1",
}

# Uploads: an imatrix for a 270M model is ~1 MB; for 70B models tens of MB.
IMATRIX_MAX_BYTES = int(env("IMATRIX_MAX_BYTES", str(64 * 1024 * 1024)))
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024  # any body but a multipart upload (leaderboard/middleware.py)
# An experiment arm's uploaded GGUF (a 270M model at 4 bits is ~250 MB; larger files go by https URL).
ARM_GGUF_MAX_BYTES = int(env("ARM_GGUF_MAX_BYTES", str(1024 * 1024 * 1024)))
# a multipart submission: an imatrix, an override file (64 KiB at most) and the form fields
MAX_UPLOAD_REQUEST_BYTES = IMATRIX_MAX_BYTES + 2 * 1024 * 1024
# filing an experiment: an arm's GGUF and the form fields
MAX_MODEL_UPLOAD_REQUEST_BYTES = ARM_GGUF_MAX_BYTES + 2 * 1024 * 1024
# Uploaded GGUF files are parsed only in a child process with these limits (leaderboard/files/gguf_check.py).
UPLOAD_CHECK_MEMORY_BYTES = int(env("UPLOAD_CHECK_MEMORY_BYTES", str(512 * 1024 * 1024)))
UPLOAD_CHECK_CPU_SECONDS = int(env("UPLOAD_CHECK_CPU_SECONDS", "10"))

# Logs: JSON lines on stderr for every process (leaderboard/jsonlog.py); Celery leaves the root logger to us.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "leaderboard.jsonlog.JsonFormatter"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json"}},
    "root": {"handlers": ["stderr"], "level": env("LOG_LEVEL", "INFO")},
}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_WORKER_REDIRECT_STDOUTS = False  # our stderr handler writes the JSON lines itself

# --- Celery: Redis broker; the Run row in the database is the source of truth for a run's state ---
CELERY_BROKER_URL = env("BROKER_URL", "redis://127.0.0.1:6379/0")
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
# A broker that does not answer costs a web request seconds, not the length of the freeze: socket timeouts,
# and one quick retry when publishing (a run or plan whose message was lost is re-sent by the reaper).
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": int(env("VISIBILITY_TIMEOUT", "3600")),
                                   "socket_timeout": 5, "socket_connect_timeout": 5}
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 1, "interval_max": 1}
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
# Split each run's KLD into what the file loses and what the backend's arithmetic loses (docs/metrics.md):
# three more passes (the quant dequantized to F32: its teacher, its own measurement) per run.
MEASURE_KLD_SPLIT = env("MEASURE_KLD_SPLIT", "1") == "1"
RUN_HEARTBEAT_SECONDS = int(env("RUN_HEARTBEAT_SECONDS", "10"))
RUN_STALLED_AFTER_SECONDS = int(env("RUN_STALLED_AFTER_SECONDS", "120"))
RUN_RESEND_QUEUED_AFTER_SECONDS = int(env("RUN_RESEND_QUEUED_AFTER_SECONDS", "900"))
RUN_MAX_ATTEMPTS = int(env("RUN_MAX_ATTEMPTS", "3"))
# /healthz fails when no worker was seen for this long (workers note themselves every 30 s).
WORKER_SEEN_WITHIN_SECONDS = int(env("WORKER_SEEN_WITHIN_SECONDS", "180"))
# How long a worker keeps retrying a run's write while the database is unreachable (then the reaper takes over).
RUN_WRITE_RETRY_SECONDS = int(env("RUN_WRITE_RETRY_SECONDS", "300"))
PLAN_RESEND_AFTER_SECONDS = int(env("PLAN_RESEND_AFTER_SECONDS", "900"))
PLAN_MAX_ATTEMPTS = int(env("PLAN_MAX_ATTEMPTS", "3"))
RUN_SOFT_TIME_LIMIT = int(env("RUN_SOFT_TIME_LIMIT", "3000"))
RUN_TIME_LIMIT = int(env("RUN_TIME_LIMIT", "3300"))
PLAN_SOFT_TIME_LIMIT = int(env("PLAN_SOFT_TIME_LIMIT", "540"))
PLAN_TIME_LIMIT = int(env("PLAN_TIME_LIMIT", "600"))
# --- Generation health check (thresholds measured on sound and broken quants: docs/metrics.md) ---
HEALTH_MAX_TOKENS = int(env("HEALTH_MAX_TOKENS", "96"))
HEALTH_SECONDS_PER_PROMPT = float(env("HEALTH_SECONDS_PER_PROMPT", "20"))
HEALTH_MIN_DISTINCT_2 = float(env("HEALTH_MIN_DISTINCT_2", "0.15"))
HEALTH_MIN_TOKENS = int(env("HEALTH_MIN_TOKENS", "32"))
# --- Predictors (leaderboard/predictors): when a stock Q2_K counts as failed, besides degenerate output.
# 1 nat, fixed before any Q2_K outcome was looked at: on a token its base is sure of, a mean KLD of 1 nat means
# the quant gives the base's token about e^-1 = 37 % (geometric mean) — it no longer says what its base says.
PREDICTOR_Q2K_FAIL_MEAN_KLD = float(env("PREDICTOR_Q2K_FAIL_MEAN_KLD", "1.0"))
WHITENOISE_USE_FINDERS = True
# The largest file a user's base-model proposal may be (any logged-in user can propose one; an F16 of a
# ~30B model fits); an operator registers a larger base by path or `register_base_model`.
PROPOSAL_MAX_BYTES = int(env("PROPOSAL_MAX_BYTES", str(64 * 1024 ** 3)))

# LEADERBOARD_* variables read outside this file, not through env(): gunicorn.conf.py, the fetcher (it has no
# Django: leaderboard/files/fetch.py), the test settings and the test suite.
READ_ELSEWHERE = {
    "WEB_WORKERS": "2", "WEB_TIMEOUT": "60", "FORWARDED_ALLOW_IPS": "127.0.0.1",
    "FETCH_ALLOWED_NETWORKS": "", "FETCH_CONNECT_TIMEOUT": "10", "FETCH_READ_TIMEOUT": "30",
    "FETCH_MAX_BYTES": str(256 * 1024 ** 3), "FETCH_MAX_REDIRECTS": "5",
    "FETCH_MIN_BYTES_PER_SECOND": str(256 * 1024), "FETCH_RATE_WINDOW": "60",
    "TEST_BROKER_URL": "redis://127.0.0.1:6379/15", "SHARED_DATA": "../shared/data",
}
# Log the environment's problems when a process starts (off in the test settings, whose values are not
# the environment's).
REPORT_SETTINGS_PROBLEMS = True
