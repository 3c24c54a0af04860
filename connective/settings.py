"""Settings, all from the environment (django-environ); see README for the variables."""

from datetime import UTC, datetime
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "dev-only-insecure-key"
# Encrypts stored secrets that must be read back (SQS keys); by default derived from SECRET_KEY.
FIELD_ENCRYPTION_KEY = env("FIELD_ENCRYPTION_KEY", default="")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

PUBLIC_BASE_URL = env("PUBLIC_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
TELEPHONY_AUTOTRANSCRIBE_DEFAULT_OPERATOR_ID = env.int("TELEPHONY_AUTOTRANSCRIBE_DEFAULT_OPERATOR_ID", default=1)

# Webhook ingestion
WEBHOOK_MAX_BODY_BYTES = env.int("WEBHOOK_MAX_BODY_BYTES", default=1024 * 1024)
# Reverse proxies (addresses or networks) whose X-Forwarded-For names the real sender, for per-address
# throttles and channels' allowed_networks. Empty: the connecting address is the sender.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
# Seconds a web process keeps a channel (token, Active) before reading it again.
CHANNEL_CACHE_SECONDS = env.int("CHANNEL_CACHE_SECONDS", default=5)
# Failed authentications (wrong token, unknown webhook) per address and minute before answering 429.
WEBHOOK_AUTH_FAILURES_PER_MINUTE = env.int("WEBHOOK_AUTH_FAILURES_PER_MINUTE", default=60)
# Deliveries per channel and second (per web node) beyond which the answer is 429 with Retry-After; 0: none.
CHANNEL_MAX_DELIVERIES_PER_SECOND = env.int("CHANNEL_MAX_DELIVERIES_PER_SECOND", default=5000)
# The admin and /health/ raise the alarm when an unprocessed event is older than this many seconds.
EVENT_AGE_ALERT_SECONDS = env.int("EVENT_AGE_ALERT_SECONDS", default=300)
# /metrics/ names every tenant's channels: it answers "Authorization: Bearer <METRICS_TOKEN>" or a logged-in
# staff user, unless METRICS_PUBLIC says it may answer anyone.
METRICS_TOKEN = env("METRICS_TOKEN", default="")
METRICS_PUBLIC = env.bool("METRICS_PUBLIC", default=False)
# A call with no terminal event is completed by the sweep after this many seconds of silence.
CALL_COMPLETION_TIMEOUT = env.int("CALL_COMPLETION_TIMEOUT", default=2 * 60 * 60)
# A claimed event whose worker died is offered again after this many seconds.
EVENT_LEASE_SECONDS = env.int("EVENT_LEASE_SECONDS", default=300)
EVENT_MAX_ATTEMPTS = env.int("EVENT_MAX_ATTEMPTS", default=5)
# Call times outside [CALL_TIME_EARLIEST, now + CALL_TIME_FUTURE_SECONDS] are not stored (the event notes why).
CALL_TIME_EARLIEST = datetime.fromisoformat(env("CALL_TIME_EARLIEST", default="1970-01-01T00:00:00+00:00"))
if CALL_TIME_EARLIEST.tzinfo is None:
    CALL_TIME_EARLIEST = CALL_TIME_EARLIEST.replace(tzinfo=UTC)
CALL_TIME_FUTURE_SECONDS = env.int("CALL_TIME_FUTURE_SECONDS", default=24 * 60 * 60)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "django_q",
    "accounts",
    "channels_app",
    "dialogs",
    "actions",
    "recordings",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",  # static files from the application server itself
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "connective.urls"
WSGI_APPLICATION = "connective.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "channels_app.context_processors.backlog_alert",
                "dialogs.context_processors.live_panel",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            # Web server and workers write at once: take the write lock up front and wait for it
            # instead of failing with "database is locked".
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # Tests run the worker as a separate process, which cannot see an in-memory database.
    database_file = Path(DATABASES["default"]["NAME"])
    DATABASES["default"]["TEST"] = {"NAME": str(database_file.with_name(f"test-{database_file.name}"))}
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
# Static files straight from where the apps keep them, so a checkout serves them without collectstatic first
# (bin/run collects them anyway, for compressed copies).
WHITENOISE_USE_FINDERS = True
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "var" / "media")

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/panel/"
LOGOUT_REDIRECT_URL = "login"

# Recordings: downloads into Django's default storage (MEDIA_ROOT, or any backend set in STORAGES).
RECORDING_MAX_BYTES = env.int("RECORDING_MAX_BYTES", default=200 * 1024 * 1024)
RECORDING_DOWNLOAD_TIMEOUT = env.float("RECORDING_DOWNLOAD_TIMEOUT", default=60)
# Auto transcription: "local" (faster-whisper, offline) or "openai" (an OpenAI-compatible server).
TRANSCRIPTION_ENGINE = env("TRANSCRIPTION_ENGINE", default="local")
TRANSCRIPTION_MODEL_DIR = env("TRANSCRIPTION_MODEL_DIR", default="")  # default: whisper tiny.en from its wheel
TRANSCRIPTION_LANGUAGE = env("TRANSCRIPTION_LANGUAGE", default="")
TRANSCRIPTION_THREADS = env.int("TRANSCRIPTION_THREADS", default=2)
TRANSCRIPTION_API_URL = env("TRANSCRIPTION_API_URL", default="")
TRANSCRIPTION_API_KEY = env("TRANSCRIPTION_API_KEY", default="")
TRANSCRIPTION_API_MODEL = env("TRANSCRIPTION_API_MODEL", default="whisper-1")
TRANSCRIPTION_API_TIMEOUT = env.float("TRANSCRIPTION_API_TIMEOUT", default=300)
# A transcription task holds its call this long (longer than the longest transcription); a task that died
# is retried after it. A briefly failing server is retried after TRANSCRIPTION_RETRY_SECONDS, up to
# TRANSCRIPTION_MAX_ATTEMPTS attempts in all.
TRANSCRIPTION_LEASE_SECONDS = env.int("TRANSCRIPTION_LEASE_SECONDS", default=3600)
TRANSCRIPTION_RETRY_SECONDS = env.int("TRANSCRIPTION_RETRY_SECONDS", default=120)
TRANSCRIPTION_MAX_ATTEMPTS = env.int("TRANSCRIPTION_MAX_ATTEMPTS", default=3)

# How often the call history and the live board ask for news when they cannot stream (the fallback).
PANEL_POLL_SECONDS = env.float("PANEL_POLL_SECONDS", default=5.0)
# The live stream: on SQLite each web process looks for changes this often (PostgreSQL wakes it with NOTIFY and
# looks every LIVE_SAFETY_POLL_SECONDS as well); a comment keeps idle connections open every
# LIVE_HEARTBEAT_SECONDS; the newest LIVE_UPDATES_KEPT changes are kept for streams that reconnect.
LIVE_POLL_SECONDS = env.float("LIVE_POLL_SECONDS", default=0.25)
LIVE_SAFETY_POLL_SECONDS = env.float("LIVE_SAFETY_POLL_SECONDS", default=2.0)
LIVE_HEARTBEAT_SECONDS = env.float("LIVE_HEARTBEAT_SECONDS", default=15.0)
LIVE_UPDATES_KEPT = env.int("LIVE_UPDATES_KEPT", default=100_000)
# A stream more than LIVE_QUEUE_SIZE changes behind (a slow client) gets the whole board instead of each; a
# stream re-reads its user's bots (and ends when the user is deactivated) every LIVE_VIEWER_REFRESH_SECONDS.
LIVE_QUEUE_SIZE = env.int("LIVE_QUEUE_SIZE", default=500)
LIVE_VIEWER_REFRESH_SECONDS = env.float("LIVE_VIEWER_REFRESH_SECONDS", default=60.0)
# Hosts that recordings may be fetched from although they are private or local.
RECORDINGS_ALLOWED_HOSTS = env.list("RECORDINGS_ALLOWED_HOSTS", default=[])
# Hosts an SQS channel's endpoint URL may name although they are private or local (an SQS-compatible
# service inside the network). Entries: host (any port) or host:port, as in the other allow-lists.
SQS_ALLOWED_HOSTS = env.list("SQS_ALLOWED_HOSTS", default=[])

REST_FRAMEWORK = {
    # Token first: a client without valid credentials is answered 401 with "WWW-Authenticate: Token"
    # (DRF takes that header from the first class; with sessions first it would be a 403).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Connective API",
    "DESCRIPTION": "Call dialogs made from telephony providers' webhooks.",
    "VERSION": "1.0.0",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "connective.openapi.add_webhook_endpoint",
    ],
}

# Rate limiters' counters: shared through Redis when there is one, else per process.
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": env("REDIS_URL")}
        if env("REDIS_URL", default="")
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# Enrichment: a pending enrichment whose task was lost by the broker (never started) is queued again after
# this many seconds. A task that started holds a lease of the action's longest run (timeout × tries, with
# backoff) plus ENRICHMENT_LEASE_MARGIN; when it runs out (the task died), the next worker round retries it,
# up to ENRICHMENT_MAX_ATTEMPTS runs.
ENRICHMENT_REQUEUE_AFTER = env.int("ENRICHMENT_REQUEUE_AFTER", default=600)
ENRICHMENT_LEASE_MARGIN = env.float("ENRICHMENT_LEASE_MARGIN", default=30)
ENRICHMENT_MAX_ATTEMPTS = env.int("ENRICHMENT_MAX_ATTEMPTS", default=3)
# Hosts that actions may call although they are private or local (e.g. a CRM inside the network).
ACTIONS_ALLOWED_HOSTS = env.list("ACTIONS_ALLOWED_HOSTS", default=[])
# Caller lookups run in this many threads of each event worker; beyond CALLER_LOOKUP_MAX_AT_ONCE waiting or
# running, a new call's lookup fails at once ("too many lookups at once") rather than wait past its deadline.
CALLER_LOOKUP_THREADS = env.int("CALLER_LOOKUP_THREADS", default=4)
CALLER_LOOKUP_MAX_AT_ONCE = env.int("CALLER_LOOKUP_MAX_AT_ONCE", default=100)

# Background tasks (enrichment, downloads, transcription) run on django-q2: its Redis broker when
# REDIS_URL is set, otherwise its ORM broker in the main database so a laptop needs nothing else.
# django-q2 delivers at least once: `retry` must exceed the longest task, and attempts are finite.
REDIS_URL = env("REDIS_URL", default="")
Q_CLUSTER = {
    "name": "connective",
    "workers": env.int("Q_WORKERS", default=2),
    # An enrichment takes at most 4 tries of 30 s plus backoff; a transcription of a long call may take far
    # longer, and its own lease (TRANSCRIPTION_LEASE_SECONDS) keeps a redelivered task from doubling it.
    "timeout": env.int("Q_TIMEOUT", default=3000),
    "retry": env.int("Q_TIMEOUT", default=3000) + 60,
    "max_attempts": 5,
    "queue_limit": 50,
    "catch_up": False,
    "poll": 0.5,
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {
            "()": "connective.lib.logs.NumberMaskingFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        }
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO").upper()},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
