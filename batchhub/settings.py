"""BatchHub settings: everything comes from the environment, with embedded defaults.

With no variable set, BatchHub runs on a local SQLite file and a filesystem Celery broker (no server
needed). `DATABASE_URL=postgres://…` and `REDIS_URL=redis://…` switch to PostgreSQL and Redis.
`BATCHHUB_ENV=production` turns on the deploy hardening and refuses the embedded secrets.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

ENVIRONMENT = env.str("BATCHHUB_ENV", default="development")
if ENVIRONMENT not in {"development", "test", "production"}:
    raise ImproperlyConfigured(f"BATCHHUB_ENV must be development, test or production, not {ENVIRONMENT!r}")
IS_PRODUCTION = ENVIRONMENT == "production"

# Embedded values for development only: production refuses them below.
_DEV_SECRET_KEY = "dev-only-insecure-secret-key-do-not-use-in-production-0123456789"  # noqa: S105
_DEV_FIELD_KEY = "ZGV2LW9ubHktZmllbGQta2V5LW5vdC1mb3ItcHJvZCE="

SECRET_KEY = env.str("SECRET_KEY", default=_DEV_SECRET_KEY)
DEBUG = env.bool("DEBUG", default=not IS_PRODUCTION and ENVIRONMENT != "test")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[] if IS_PRODUCTION else ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Comma-separated Fernet keys; the first encrypts, all decrypt (rotation: put the new key first).
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEY", default=[_DEV_FIELD_KEY])

if IS_PRODUCTION:
    if SECRET_KEY == _DEV_SECRET_KEY:
        raise ImproperlyConfigured("SECRET_KEY must be set in production")
    if _DEV_FIELD_KEY in FIELD_ENCRYPTION_KEYS:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEY must be set in production")
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("ALLOWED_HOSTS must be set in production")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "django_celery_beat",
    "ninja",  # serves its docs UI from static files, not a CDN
    "batchhub.core",
    "batchhub.accounts",
    "batchhub.projects",
    "batchhub.api",
    "batchhub.profiles",
    "batchhub.audiences",
    "batchhub.connectors",
    "batchhub.campaigns",
    "batchhub.privacy",
    "batchhub.demo",
    "batchhub.dashboard",
]

MIDDLEWARE = [
    "batchhub.core.web.middleware.ClientAddressMiddleware",  # the client's address behind trusted proxies
    "batchhub.api.edge.ApiEdgeMiddleware",  # the edge checks, and every error answer of API routes
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "batchhub.core.web.middleware.HtmxHistoryRestoreMiddleware",  # a history restore gets the whole page
    "batchhub.core.web.middleware.RequestContextMiddleware",
]

ROOT_URLCONF = "batchhub.urls"
WSGI_APPLICATION = "batchhub.wsgi.application"

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
                "batchhub.dashboard.context_processors.navigation",
            ],
            "builtins": ["template_partials.templatetags.partials"],
        },
    }
]

# Database: SQLite file by default; DATABASE_URL=postgres://… for PostgreSQL (psycopg 3).
DATABASES = {
    "default": env.db_url_config(env.str("DATABASE_URL", default="") or f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}")
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=600)
# Off: a connection the server closed (a restart) is dropped before a request uses it without a round trip
# (core.web.outage.dead_connections_dropped); Django's check would send a query before every request.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("DB_CONN_HEALTH_CHECKS", default=False)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;",
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["batchhub.accounts.backends.RoleAwareModelBackend"]
LOGIN_URL = "accounts:login"
# Failed logins (dashboard and admin) allowed per 15-minute window before the form asks to wait.
LOGIN_FAILURES_PER_USERNAME = env.int("LOGIN_FAILURES_PER_USERNAME", default=10)
LOGIN_FAILURES_PER_ADDRESS = env.int("LOGIN_FAILURES_PER_ADDRESS", default=30)
LOGIN_REDIRECT_URL = "dashboard:home"
LOGOUT_REDIRECT_URL = "accounts:login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if ENVIRONMENT == "test":
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

REDIS_URL = env.str("REDIS_URL", default="")

if IS_PRODUCTION and (not REDIS_URL or not env.str("DATABASE_URL", default="")):
    # Embedded defaults would split web and workers onto local files: refuse rather than fail silently.
    raise ImproperlyConfigured("DATABASE_URL and REDIS_URL must be set in production")

if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    # Sessions are read on every request: serve them from Redis, keep the database as the record.
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
# Outside production WhiteNoise serves straight from the source folders (no collectstatic needed).
WHITENOISE_USE_FINDERS = not IS_PRODUCTION
WHITENOISE_AUTOREFRESH = DEBUG
if not IS_PRODUCTION:
    STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if IS_PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(BASE_DIR / "var" / "media")))

# Security: always on where it costs nothing in development, fully on in production.
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if IS_PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    # The health check is probed over plain HTTP by the load balancer.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# REST API bodies: the largest documented call (10,000 profiles or users) is about 3 MB with ordinary data;
# 20 MiB leaves a wide margin for rich ones and still bounds what one request can make a web worker parse.
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_MB", default=20) * 1024 * 1024
# Addresses of the proxies in front (a load balancer): behind them the client is read from X-Forwarded-For.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
# Bodies of the dashboard's requests (forms, uploads), refused beyond this before Django reads them.
WEB_MAX_BODY_BYTES = env.int("WEB_MAX_BODY_MB", default=50) * 1024 * 1024
# Seconds a web request may run (gunicorn): past it, 503 and the web process is replaced.
WEB_REQUEST_TIMEOUT = env.int("WEB_REQUEST_TIMEOUT", default=30)
# Failed API authentications one client address may make per minute before it gets 429s (key guessing).
API_AUTH_FAILURES_PER_MINUTE = env.int("API_AUTH_FAILURES_PER_MINUTE", default=30)
# Profile API rate limits as Batch documents them, in profiles per second per project: (rate, burst).
API_PROFILE_RATES = {"profiles.update": (300, 1000), "profiles.mass_update": (10_000, 10_000)}

# Celery: JSON only, late acknowledgement, one task at a time per process, time limits everywhere.
CELERY_TASK_SOFT_TIME_LIMIT = 10 * 60
CELERY_TASK_TIME_LIMIT = 12 * 60
# Longest hard limit any task declares (imports and exports may raise their own up to this).
CELERY_LONGEST_TASK_TIME_LIMIT = 60 * 60
CELERY_TASK_MAX_DELIVERIES = env.int("CELERY_TASK_MAX_DELIVERIES", default=5)
# Retention (core.jobs.retention, daily): finished task deliveries, failed API calls' bodies, API call rows.
TASK_DELIVERY_DAYS = env.int("TASK_DELIVERY_DAYS", default=7)
API_FAILED_BODY_DAYS = env.int("API_FAILED_BODY_DAYS", default=7)
API_CALL_DAYS = env.int("API_CALL_DAYS", default=90)
# The inactive-profile purge (profiles.purge): profiles per batch (one short transaction each; bench/purge.py); a
# pause between batches; and, while API calls wait to be applied, a pause of this many times the batch's own time, so
# that the purge takes a small share of the database from the API (bench/purge.py measures the ingest beside it).
PURGE_BATCH_ROWS = env.int("PURGE_BATCH_ROWS", default=2000)
PURGE_BATCH_PAUSE_SECONDS = env.float("PURGE_BATCH_PAUSE_SECONDS", default=0.0)
PURGE_YIELD_TO_API = env.float("PURGE_YIELD_TO_API", default=2.0)
# A run starts once the API calls accepted before it are applied; it fails (nothing deleted) after this long.
PURGE_BACKLOG_WAIT_SECONDS = env.int("PURGE_BACKLOG_WAIT_SECONDS", default=1800)
# Storage transports (core.storage): the root under which local-folder destinations and sources live (a path can
# never leave it); whether user-supplied hosts may be loopback addresses (the tests' real servers on 127.0.0.1 only:
# never in production); the timeout of every network call (connect and each read or write).
STORAGE_LOCAL_ROOT = Path(env.str("STORAGE_LOCAL_ROOT", default=str(BASE_DIR / "var")))
STORAGE_ALLOW_LOOPBACK = env.bool("STORAGE_ALLOW_LOOPBACK", default=ENVIRONMENT == "test")
STORAGE_TIMEOUT_SECONDS = env.float("STORAGE_TIMEOUT_SECONDS", default=30.0)
# Where push messages leave BatchHub (campaigns.sending.PushGateway): the default delivers nowhere outside this machine
# and records what a delivery would (the demo, the tests, the benchmark).
PUSH_GATEWAY = env.str("PUSH_GATEWAY", default="batchhub.campaigns.sending.LocalGateway")
# Daily exports: attempts of a run before it fails (transient errors only, waiting EXPORT_RETRY_SECONDS, doubled each
# time), and failed days in a row after which a config pauses itself.
EXPORT_ATTEMPTS = env.int("EXPORT_ATTEMPTS", default=4)
EXPORT_RETRY_SECONDS = env.int("EXPORT_RETRY_SECONDS", default=60)
EXPORT_PAUSE_AFTER_FAILED_DAYS = env.int("EXPORT_PAUSE_AFTER_FAILED_DAYS", default=3)
# A run streaming its file beats (and shows its rows done) this often; a backfill waiting for a day another worker
# exports looks again this often.
EXPORT_BEAT_SECONDS = env.float("EXPORT_BEAT_SECONDS", default=15.0)
EXPORT_BACKFILL_WAIT_SECONDS = env.float("EXPORT_BACKFILL_WAIT_SECONDS", default=2.0)
# A destination's or source's Test on the dashboard runs in the web request: each call gets at most this long.
STORAGE_TEST_TIMEOUT_SECONDS = env.float("STORAGE_TEST_TIMEOUT_SECONDS", default=8.0)
if IS_PRODUCTION and STORAGE_ALLOW_LOOPBACK:
    raise ImproperlyConfigured("STORAGE_ALLOW_LOOPBACK is for the tests only")
_visibility = {"visibility_timeout": 2 * CELERY_LONGEST_TASK_TIME_LIMIT + 600}

if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = dict(_visibility)
    CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = dict(_visibility)
else:
    # kombu's filesystem transport: a real broker in a folder, delivered to a separate worker process.
    _broker_dir = Path(env.str("CELERY_BROKER_DIR", default=str(BASE_DIR / "var" / "broker")))
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
        **_visibility,
    }
    CELERY_RESULT_BACKEND = None
    CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = dict(_visibility)

CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = CELERY_TASK_ALWAYS_EAGER  # an eager run (debugging) raises what a worker logs
CELERY_BEAT_SCHEDULER = "batchhub.core.jobs.beat:DatabaseScheduler"  # django-celery-beat's, outage-proof
# Queues by workload, so that a huge import never delays applying API calls: API apply, imports, exports,
# lifecycle (purge, privacy requests), the rest. Each task names its queue; a worker started without
# `--queues` (make run, tests, benches) consumes all of them, production runs a worker group per queue.
CELERY_TASK_QUEUES = tuple(Queue(name) for name in ("api", "imports", "exports", "lifecycle", "default"))
CELERY_TASK_DEFAULT_QUEUE = "default"

# Storage clients log request headers (an S3 Authorization header names the access key id) and connection details at
# DEBUG: they never log below WARNING, whatever LOG_LEVEL says.
STORAGE_CLIENT_LOGGERS = (
    "botocore", "boto3", "s3transfer", "urllib3", "paramiko", "google", "httpx", "httpcore", "asyncssh", "pyftpdlib",
)  # fmt: skip
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_secrets": {"()": "batchhub.core.web.logging.RedactSecretsFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact_secrets"]}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        **{name: {"level": "WARNING"} for name in STORAGE_CLIENT_LOGGERS},
    },
}

# Profile list: rows per page (keyset pagination).
PROFILES_PAGE_SIZE = 50

CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_SEND_TASK_EVENTS = False
# Keep Django's LOGGING (and its secret-redacting filter) in workers instead of Celery's own handlers.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TIMEZONE = "UTC"
