"""Settings, read from the environment in this one place.

Every variable is listed in the README. `make dev` / `make test` set DATABASE_URL and
REDIS_URL to the embedded servers when they are unset, and DEBUG=1 (devtools/embedded.py).

Production is the default: with DEBUG off (unset or 0) settings refuse to load without a
real SECRET_KEY and an explicit ALLOWED_HOSTS, so a forgotten variable stops the process
instead of shipping a public key or a debug page.
"""

import urllib.parse
from pathlib import Path

import environ
from csp.constants import NONCE, NONE, SELF, UNSAFE_INLINE
from django.core.checks.security.base import _check_secret_key  # type: ignore[attr-defined]  # private, not in the stubs
from django.core.exceptions import ImproperlyConfigured
from kombu import Exchange, Queue

from config import redis_clients
from config.proxies import parse_trusted_proxies

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)
DEV_SECRET_KEY = "dev-only-insecure-key-set-SECRET_KEY-in-production"
# Values copied from examples: refused in production even when long enough for Django.
PLACEHOLDER_WORDS = ("change-me", "changeme", "change_me", "insecure")
SECRET_KEY = env("SECRET_KEY", default="") or (DEV_SECRET_KEY if DEBUG else "")
ALLOWED_HOSTS = [
    host.strip()
    for host in env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
    if host.strip()
]


def _production_problems() -> list[str]:
    problems = []
    placeholder = any(word in SECRET_KEY.lower() for word in PLACEHOLDER_WORDS)
    if not _check_secret_key(SECRET_KEY) or placeholder:  # _check_secret_key: Django's W009
        problems.append(
            "SECRET_KEY must be a long random secret (at least 50 characters, not an example "
            "value): generate one with python -c 'import secrets; print(secrets.token_urlsafe(50))'"
        )
    if "ALLOWED_HOSTS" not in env or not ALLOWED_HOSTS or "*" in ALLOWED_HOSTS:
        problems.append(
            "ALLOWED_HOSTS must list the host names the site answers to, comma-separated "
            "(e.g. ALLOWED_HOSTS=forum.example.com); '*' is refused"
        )
    return problems


if not DEBUG and (_problems := _production_problems()):
    raise ImproperlyConfigured(
        "Refusing to start: DEBUG is off (production), and\n- "
        + "\n- ".join(_problems)
        + "\nOn a laptop, use `make dev` (or set DEBUG=1)."
    )
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Served over HTTPS in production (behind a TLS proxy that sets X-Forwarded-Proto): redirect
# plain HTTP, send cookies over TLS only, and tell browsers so (HSTS). HTTPS=0 for a plain-HTTP
# setup such as docker-compose on a laptop.
HTTPS = env.bool("HTTPS", default=not DEBUG)
SECURE_SSL_REDIRECT = HTTPS
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=HTTPS)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HTTPS else None
# The proxies whose X-Forwarded-For is believed (config/proxies.py): comma-separated addresses
# or networks; empty, the default, believes no one and takes REMOTE_ADDR. A bad entry stops
# the process here.
TRUSTED_PROXIES = parse_trusted_proxies(env("TRUSTED_PROXIES", default=""))
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]  # probes speak plain HTTP
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Content Security Policy (django-csp): scripts only from this site or an inline <script> that
# carries the request's nonce ({{ CSP_NONCE }}); no inline event handlers, no plugins, no
# framing. Inline style attributes stay allowed (email previews, the admin).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_celery_results",
    "django_celery_beat",
    "csp",
    "forum",
    "jobs",
    "search",
    "notifications",
    "reports",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.middleware.RequestParametersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
]

if not DEBUG:  # runserver serves static files in development; WhiteNoise does it in production
    MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
                "csp.context_processors.nonce",
                "notifications.context_processors.notifications",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
if "DATABASE_URL" not in env:
    raise ImproperlyConfigured(
        "DATABASE_URL is not set. Run through `make dev` / `make test` (which start an embedded "
        "PostgreSQL), or export e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/naija_forum"
    )
DATABASES = {"default": env.db_url("DATABASE_URL")}
if not DATABASES["default"]["ENGINE"].endswith("postgresql"):
    raise ImproperlyConfigured("DATABASE_URL must point at PostgreSQL (postgres://…).")
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth -----------------------------------------------------------------------------------
AUTH_USER_MODEL = "forum.User"
AUTHENTICATION_BACKENDS = ["forum.auth.UsernameOrEmailBackend"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "forum:index"
LOGOUT_REDIRECT_URL = "forum:index"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- I18n -----------------------------------------------------------------------------------
LANGUAGE_CODE = "en-gb"
TIME_ZONE = "Africa/Lagos"
USE_I18N = True
USE_TZ = True

# --- Static and media -----------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
# Where report files go: MEDIA_ROOT (a folder web and the reports worker must share), or
# PostgreSQL, which every host reaches (README "Running on several hosts").
FILE_STORAGES = {
    "filesystem": "django.core.files.storage.FileSystemStorage",
    "database": "reports.storage.DatabaseStorage",
}
FILE_STORAGE = env("FILE_STORAGE", default="filesystem").strip().lower()
if FILE_STORAGE not in FILE_STORAGES:
    raise ImproperlyConfigured(
        f"FILE_STORAGE={FILE_STORAGE!r} is not one of {', '.join(FILE_STORAGES)}: "
        "`filesystem` keeps files in MEDIA_ROOT, `database` in PostgreSQL (several hosts)."
    )
STORAGES = {
    "default": {"BACKEND": FILE_STORAGES[FILE_STORAGE]},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- Email ----------------------------------------------------------------------------------
# Links in emails are absolute: the worker that renders them has no request to take a host from.
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Naija-Forum <no-reply@naija-forum.test>")
if "EMAIL_URL" in env:
    vars().update(env.email_url("EMAIL_URL"))
elif "EMAIL_HOST" in env:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = env("EMAIL_HOST")
    EMAIL_PORT = env.int("EMAIL_PORT", default=25)
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
EMAIL_TIMEOUT = 10

# --- Celery ---------------------------------------------------------------------------------
if "REDIS_URL" not in env:
    raise ImproperlyConfigured(
        "REDIS_URL is not set. Run through `make dev` / `make test` (which start an embedded "
        "Redis), or export e.g. REDIS_URL=redis://127.0.0.1:6379/0"
    )
REDIS_URL = env("REDIS_URL")
# Redis behind Sentinel: REDIS_URL lists the Sentinels in kombu's form
# (sentinel://h1:26379;sentinel://h2:26379;sentinel://h3:26379/0) and this names the primary
# they monitor. Every Redis client follows it (config.redis_clients, README "Running on
# several hosts").
REDIS_SENTINEL_MASTER = env("REDIS_SENTINEL_MASTER", default="").strip()
if redis_clients.is_sentinel(REDIS_URL):
    try:
        redis_clients.parse_sentinel_url(REDIS_URL)
    except ValueError as error:
        raise ImproperlyConfigured(str(error)) from None
    REDIS_URL = redis_clients.canonical_sentinel_url(REDIS_URL)
    if not REDIS_SENTINEL_MASTER:
        raise ImproperlyConfigured(
            "REDIS_URL names Sentinels (sentinel://…): set REDIS_SENTINEL_MASTER to the name "
            "they monitor the primary under (`sentinel monitor <name> …` in sentinel.conf)."
        )
CELERY_BROKER_URL = REDIS_URL
# django-celery-results' "django-db" backend, through a factory that sets Django up first: the
# `celery` CLI (call, result) and Flower load it where Celery's Django fixup never does.
CELERY_RESULT_BACKEND = "config.celery:results_backend"
CELERY_RESULT_EXTENDED = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = TIME_ZONE
# DatabaseScheduler (schedules editable in admin) behind a lock: one beat sends at a time.
CELERY_BEAT_SCHEDULER = "jobs.scheduler:LockedDatabaseScheduler"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Task events cost a Redis publish per job state change: off by default. Flower switches them
# on in the workers while it runs (its --enable_events, the default), so it still sees tasks.
CELERY_WORKER_SEND_TASK_EVENTS = False
CELERY_TASK_SEND_SENT_EVENT = False
# The queues of DESIGN.md, most urgent first: with the "priority" order strategy a worker
# takes from high_priority whenever it has work (kombu's Redis default is round-robin).
JOB_QUEUES = ["high_priority", "default", "search", "reports"]
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_QUEUES = [Queue(name, Exchange(name), routing_key=name) for name in JOB_QUEUES]
# A job sent by name without a queue (`celery call`, send_task, Flower) goes to its class's
# queue, as if enqueued: the router reads the job registry.
CELERY_TASK_ROUTES = ["jobs.routing:route"]
# Time limits per queue, (soft, hard) seconds: the soft one raises SoftTimeLimitExceeded in
# the job, the hard one kills its pool process. Emails are short, reports long.
JOB_TIME_LIMITS = {
    "high_priority": (60, 90),
    "default": (120, 180),
    "search": (300, 360),
    "reports": (1800, 1900),
}
# Redis hands an unacknowledged message to another worker after the visibility timeout: it
# must exceed the longest hard limit, or a long job still running would be delivered twice.
_VISIBILITY_TIMEOUT = max(hard for _, hard in JOB_TIME_LIMITS.values()) + 600
# A request must never hang on a dead Redis: fail fast, the job layer republishes later.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_timeout": 2,
    "socket_connect_timeout": 2,
    # kombu drops a BRPOP whose reply is overdue by this much and reconnects (and redis-py
    # pings a connection idle this long): a stuck consumer is back within about twice this.
    # Why 5 s and not kombu's 25: docs/RELIABILITY.md, finding 10.
    "health_check_interval": 5,
    "visibility_timeout": _VISIBILITY_TIMEOUT,
    "queue_order_strategy": "priority",
    # One Redis list per priority 0-9 (kombu's default has 4 steps): 0 is served first.
    "priority_steps": list(range(10)),
}
if REDIS_SENTINEL_MASTER:
    CELERY_BROKER_TRANSPORT_OPTIONS["master_name"] = REDIS_SENTINEL_MASTER
    # A Sentinel answers at once or its host is away: 0.5 s, then the next Sentinel (asked
    # once each: jobs.worker.kombu_redis.SentinelChannel, config.redis_clients).
    CELERY_BROKER_TRANSPORT_OPTIONS["sentinel_kwargs"] = {
        "socket_timeout": 0.5,
        "socket_connect_timeout": 0.5,
    }
# Processes heartbeat every interval; a claimed job whose process was silent for longer than
# the threshold is re-enqueued (attempt counted). A ready job published longer ago than
# JOBS_REPUBLISH_AFTER whose queue is empty in Redis lost its message and is republished.
JOBS_HEARTBEAT_INTERVAL = env.float("JOBS_HEARTBEAT_INTERVAL", default=5.0)
JOBS_PROCESS_ALIVE_THRESHOLD = env.float("JOBS_PROCESS_ALIVE_THRESHOLD", default=30.0)
JOBS_REPUBLISH_AFTER = env.float("JOBS_REPUBLISH_AFTER", default=10.0)
if JOBS_PROCESS_ALIVE_THRESHOLD < 3 * JOBS_HEARTBEAT_INTERVAL:
    raise ImproperlyConfigured(
        "JOBS_PROCESS_ALIVE_THRESHOLD must be at least 3 × JOBS_HEARTBEAT_INTERVAL: a live "
        "process would be taken for dead between two heartbeats and its jobs run twice."
    )
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Workers reconnect to a lost Redis every JOBS_BROKER_RETRY_INTERVAL seconds, as long as it
# takes (jobs.consumer), instead of Celery's 2, 4, 6 … 30 s back-off and 100 attempts.
CELERY_WORKER_CONSUMER = "jobs.consumer:Consumer"
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
JOBS_BROKER_RETRY_INTERVAL = env.float("JOBS_BROKER_RETRY_INTERVAL", default=1.0)
# A dashboard search by argument reads this many jobs per page (no index: jobs.ops.find).
JOBS_FIND_WINDOW = 50_000
# Celery's Django fixup closes the database connection around every task unless this is set:
# a new connection per job would cost more than the job layer's own writes. Jobs reconnect
# on a broken connection (jobs.worker.execution).
CELERY_DB_REUSE_MAX = 1_000_000

# --- Forum limits (stated in forms and error messages) --------------------------------------
FORUM_TITLE_MAX_LENGTH = 150
FORUM_POST_BODY_MAX_LENGTH = 20_000
FORUM_COMMENT_BODY_MAX_LENGTH = 10_000
FORUM_POSTS_PER_PAGE = 25
FORUM_COMMENTS_PER_PAGE = 30
# Attempts allowed per (count, seconds) window, or a list of windows, per client IP and per
# account (forum.ratelimit). A window opens at the first attempt.
RATE_LIMITS: dict[str, tuple[int, int] | list[tuple[int, int]]] = {
    "login": (10, 300),
    "signup": (5, 3600),
    "post": (10, 600),
    "comment": (30, 600),
    "password_reset": (5, 900),  # per IP: the form answers the same when over
    "password_reset_email": [(1, 300), (5, 86400)],  # emails per member (PasswordResetJob)
}

# --- Reports ------------------------------------------------------------------------------
# Days a ready report's files and numbers are kept; ExpireReportsJob deletes them after.
REPORTS_KEEP_DAYS = env.int("REPORTS_KEEP_DAYS", default=7)
# Reports one member may have waiting or being built at once; a request over it is refused
# with a message to wait (reports.services.request_report). The daily summary is not refused.
REPORTS_MAX_PENDING = env.int("REPORTS_MAX_PENDING", default=3)

# --- Operations -----------------------------------------------------------------------------
# /metrics answers only to `Authorization: Bearer $METRICS_TOKEN`; unset = metrics off.
METRICS_TOKEN = env("METRICS_TOKEN", default="")


def _link_base(name: str, value: str, example: str) -> str:
    """An absolute http(s) address that pages link to (a path is kept, a trailing slash
    dropped), or "" for none. Anything else stops the start: a link admin pages render must
    not be scheme-relative (`//host`), a script (`javascript:`) or carry a password."""
    value = value.strip()
    if not value:
        return ""
    if problem := _link_base_problem(value):
        shown = "" if "@" in value else f"={value!r}"  # never echo a password
        raise ImproperlyConfigured(
            f"{name}{shown} is not usable: {problem}. Set the absolute address, e.g. "
            f"{name}={example}, or leave it unset."
        )
    return value.rstrip("/")


def _link_base_problem(value: str) -> str:
    if any(char.isspace() or not char.isprintable() or char == "\\" for char in value):
        return "it contains a space, a control character or a backslash"
    parts = urllib.parse.urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return "it must start with http:// or https:// and name a host"
    if "@" in parts.netloc:
        return "it must not carry a user or password (the linked site asks for its own)"
    if "?" in value or "#" in value:
        return "it must not have a query (?…) or fragment (#…): paths are appended to it"
    try:
        return "" if parts.port is None or parts.port else "its port must not be 0"
    except ValueError:  # urllib's answer to a port that is no number 0-65535
        return "its port must be a number from 1 to 65535"


# Where operators open Flower; the jobs dashboard's job page links to its page of the same
# task ({FLOWER_URL}/task/<id>). Unset: no link.
FLOWER_URL = _link_base("FLOWER_URL", env("FLOWER_URL", default=""), "https://flower.example.com")

# One JSON object per line in production (job lines carry job_id, job_class, queue, attempt,
# duration_ms as fields); readable lines while developing. LOG_FORMAT overrides.
LOG_FORMAT = env("LOG_FORMAT", default="plain" if DEBUG else "json")
# The level of every process: web, manage.py, and Celery's worker and beat, whose own
# --loglevel (default WARNING) counts only when given on their command line (jobs.worker.logs).
LOG_LEVEL = env("LOG_LEVEL", default="INFO").upper()
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
if LOG_LEVEL not in LOG_LEVELS:
    raise ImproperlyConfigured(
        f"LOG_LEVEL={LOG_LEVEL!r} is not a log level: use one of {', '.join(LOG_LEVELS)}."
    )

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # Celery's "Task … succeeded in …s" (and its retry and reject lines) say at INFO what
        # each run's job.finish, job.retry or job.discard line says: one line per run is
        # enough at INFO, and the pool process, which runs the jobs, pays for each line.
        # Failures stay (ERROR); LOG_LEVEL=DEBUG shows them all.
        "celery.app.trace": {"level": "WARNING" if LOG_LEVEL == "INFO" else LOG_LEVEL},
    },
}
