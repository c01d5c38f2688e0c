"""Settings, read once from the environment, with embedded defaults.

With no variables set the server needs no external service: SQLite in the data
folder, the in-process channel layer, Celery tasks run eagerly, a SECRET_KEY generated
into the data folder. Each variable below switches one part to a real service. A bad
value stops start-up with one line that says what is wrong.
"""

from __future__ import annotations

import ipaddress
import os
import re
from datetime import timedelta
from importlib.util import find_spec
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

from imsite.secret_key import load_or_create

BASE_DIR = Path(__file__).resolve().parent.parent


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return default if value is None or value == "" else value


def _env_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = _env(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {value}")
    return value


def _env_float(name: str, default: float | None, *, minimum: float = 0.0) -> float | None:
    raw = _env(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}") from None
    if not value >= minimum or value == float("inf"):
        raise ImproperlyConfigured(f"{name} must be a finite number of at least {minimum}, "
                                   f"got {raw!r}")
    return value


def _env_bool(name: str, default: bool) -> bool:
    raw = _env(name)
    if raw is None:
        return default
    lowered = raw.lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


def _env_host(name: str) -> str | None:
    """A host name or IP address (an IPv6 one with or without brackets)."""
    raw = _env(name)
    if raw is None:
        return None
    host = raw.removeprefix("[").removesuffix("]")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if not re.fullmatch(r"[A-Za-z0-9_.\-]+", host):
        raise ImproperlyConfigured(f"{name} must be a host name or IP address, got {raw!r}")
    return host


def _env_host_port(name: str) -> str | None:
    raw = _env(name)
    if raw is None:
        return None
    parts = urlsplit(f"//{raw}")
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None or not parts.hostname or parts.netloc != raw or parts.username is not None:
        raise ImproperlyConfigured(f"{name} must be host:port, got {raw!r}")
    return raw


def _env_ws_url(name: str) -> str | None:
    raw = _env(name)
    if raw is None:
        return None
    parts = urlsplit(raw)
    try:
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ImproperlyConfigured(f"{name} must be a ws:// or wss:// URL, got {raw!r}")
    return raw


def _env_origins(name: str) -> tuple[str, ...]:
    """Comma-separated web origins, as browsers send them: scheme://host[:port]."""
    origins = []
    for raw in (_env(name, "") or "").split(","):
        raw = raw.strip()
        if not raw:
            continue
        parts = urlsplit(raw)
        try:
            parts.port  # noqa: B018 - raises ValueError for a bad port
        except ValueError:
            parts = None
        if (parts is None or parts.scheme not in ("http", "https") or not parts.hostname
                or parts.path or parts.query or parts.fragment or parts.username):
            raise ImproperlyConfigured(
                f"{name} must be origins like https://app.example.com, got {raw!r}")
        origins.append(f"{parts.scheme}://{parts.netloc.lower()}")
    return tuple(origins)


def _env_header(name: str, default: str | None) -> tuple[str, str] | None:
    """`Header-Name: value` as Django's (META key, value); "off" for none."""
    raw = _env(name, default)
    if raw is None or raw.lower() in {"0", "off", "none", "false", "no"}:
        return None
    header, _, value = raw.partition(":")
    header, value = header.strip(), value.strip()
    if not re.fullmatch(r"[A-Za-z0-9\-]+", header) or not value:
        raise ImproperlyConfigured(f"{name} must look like 'X-Forwarded-Proto: https', got {raw!r}")
    return "HTTP_" + header.upper().replace("-", "_"), value


# --- core -------------------------------------------------------------------------

DATA_DIR = Path(_env("IM_DATA_DIR", str(BASE_DIR / "data")))

# Without SECRET_KEY a random key is generated once and kept in DATA_DIR (mode 0600),
# so nothing signed can be forged with a key from this repository. That is right for
# one node: nodes of a cluster must share one SECRET_KEY (imserver warns).
SECRET_KEY = _env("SECRET_KEY")
GENERATED_SECRET_KEY_FILE: Path | None = None
if SECRET_KEY is None:
    SECRET_KEY, GENERATED_SECRET_KEY_FILE = load_or_create(DATA_DIR)
# Debug pages show settings and local variables: only when asked for, and imserver
# refuses them on an address other than loopback.
DEBUG = _env_bool("IM_DEBUG", False)

ALLOWED_HOSTS = [h.strip() for h in (_env("IM_ALLOWED_HOSTS", "*") or "").split(",") if h.strip()]
# Error pages, e-mails and log records mask the password of any URL they show.
DEFAULT_EXCEPTION_REPORTER_FILTER = "imsite.reporting.CredentialMaskingFilter"

INSTALLED_APPS = [
    # realtime first: its runserver (Daphne's plus the TCP port) wins over Daphne's.
    "realtime",
    "messaging",
    "media",
    "daphne",
    # django.contrib.admin, whose login page takes the API's failed-login limits.
    "accounts.admin_apps.LimitedAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "drf_spectacular",
    # Swagger UI's files, served by this server (not from a CDN) at /static/.
    "drf_spectacular_sidecar",
    "channels",
    "accounts",
    "notifications",
    # The browser client served at / (static ES modules, no build step).
    "webclient",
]

MIDDLEWARE = [
    # An id per request on its log lines (imsite/logs.py).
    "imsite.logs.RequestIdMiddleware",
    # HTTP answers counted by status class and timed, for /metrics (imsite/scrape.py).
    "imsite.scrape.HttpMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # CORS for /api/, only for the origins in IM_CORS_ORIGINS (none by default).
    "imsite.cors.CorsMiddleware",
    # /static/ (admin, API docs) served by the server itself, DEBUG or not: there is
    # no separate web server in front of Daphne.
    "imsite.staticfiles.StaticFilesMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "imsite.urls"
CSRF_FAILURE_VIEW = "imsite.errors.json_csrf_failure"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]
WSGI_APPLICATION = None
ASGI_APPLICATION = "imsite.asgi.application"
AUTH_USER_MODEL = "accounts.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"

# --- HTTPS, behind a TLS-terminating proxy -------------------------------------------
# imserver speaks plain HTTP and WebSocket. A deployment whose clients come over HTTPS
# through a proxy sets IM_HTTPS=1: cookies only over HTTPS, HSTS, plain-HTTP requests
# redirected, and the proxy's header trusted to say that a request came over HTTPS.
# The proxy must set that header itself and drop any copy a client sends.
IM_HTTPS = _env_bool("IM_HTTPS", False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = IM_HTTPS
SECURE_PROXY_SSL_HEADER = _env_header(
    "IM_SECURE_PROXY_SSL_HEADER", "X-Forwarded-Proto: https" if IM_HTTPS else None
)
# HSTS goes out on HTTPS responses only. Start lower while trying HTTPS out: browsers
# keep refusing plain HTTP for this long.
SECURE_HSTS_SECONDS = _env_int("IM_HSTS_SECONDS", 365 * 24 * 3600 if IM_HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = _env_bool("IM_HSTS_INCLUDE_SUBDOMAINS", True)
# Anyone may submit a domain to the browsers' preload lists once its header says
# preload, and leaving them takes months: the owner's decision, so off unless asked
# for, and Django's reminder to preload (security.W021) is not shown.
SECURE_HSTS_PRELOAD = _env_bool("IM_HSTS_PRELOAD", False)
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
SECURE_SSL_REDIRECT = _env_bool("IM_SSL_REDIRECT", IM_HTTPS)
if SECURE_SSL_REDIRECT and SECURE_PROXY_SSL_HEADER is None:
    raise ImproperlyConfigured(
        "IM_SSL_REDIRECT needs IM_SECURE_PROXY_SSL_HEADER: imserver sees only plain HTTP, "
        "so without the proxy's header every request would be redirected again"
    )
# Probes and scrapers call the server directly, over plain HTTP. (WebSocket and TCP
# never pass through Django's middleware, so no redirect reaches them.)
SECURE_REDIRECT_EXEMPT = [r"^api/health/$", r"^api/ready/$", r"^metrics$"]

# --- database ------------------------------------------------------------------------

_database_url = _env("DATABASE_URL")
if _database_url:
    try:
        # CONN_MAX_AGE 0: under ASGI each request runs on a thread of its own, and a
        # persistent connection would outlive it. The message path's own threads keep
        # theirs (realtime/db.py).
        _db = dj_database_url.parse(_database_url, conn_max_age=0)
    except Exception as exc:  # dj-database-url raises several types for a bad URL
        raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from None
else:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    _db = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(DATA_DIR / "im.sqlite3"),
    }
def _sqlite_synchronous() -> str:
    value = (_env("IM_SQLITE_SYNCHRONOUS", "FULL") or "").upper()
    if value not in ("OFF", "NORMAL", "FULL", "EXTRA"):
        raise ImproperlyConfigured(
            f"IM_SQLITE_SYNCHRONOUS must be OFF, NORMAL, FULL or EXTRA, got {value!r}"
        )
    return value


if _db["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the writer; IMMEDIATE takes the write lock at BEGIN
    # so two writers queue instead of deadlocking on a lock upgrade.
    _db.setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": (
                "PRAGMA journal_mode=WAL;"
                f"PRAGMA synchronous={_sqlite_synchronous()};"
            ),
        }
    )
if _env("IM_TEST_DATABASE_NAME"):
    _db["TEST"] = {"NAME": _env("IM_TEST_DATABASE_NAME")}
elif _db["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not :memory:, so that tests can write from several threads.
    _db["TEST"] = {"NAME": str(DATA_DIR / "test-im.sqlite3")}
DATABASES = {"default": _db}

# --- redis, channel layer, cache ---------------------------------------------------

IM_REDIS_URL = _env("IM_REDIS_URL")
IM_REDIS_PREFIX = _env("IM_REDIS_PREFIX", "im") or "im"
# The router (the channel layer between nodes) may be sharded over several Redis hosts,
# comma-separated; channels-redis places each channel on one of them by hashing its name.
# By default the router is IM_REDIS_URL.
IM_ROUTER_REDIS_URLS = [
    u.strip() for u in (_env("IM_ROUTER_REDIS_URLS", "") or "").split(",") if u.strip()
] or ([IM_REDIS_URL] if IM_REDIS_URL else [])
if IM_REDIS_URL:
    for _url in [IM_REDIS_URL, *IM_ROUTER_REDIS_URLS]:
        if not _url.startswith(("redis://", "rediss://", "unix://")):
            raise ImproperlyConfigured(
                f"IM_REDIS_URL and IM_ROUTER_REDIS_URLS take redis:// URLs, got {_url!r}"
            )
elif IM_ROUTER_REDIS_URLS:
    raise ImproperlyConfigured("IM_ROUTER_REDIS_URLS needs IM_REDIS_URL (the node registry)")
if IM_REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # Longer than the layer's 5 s blocking pop, which redis-py's default
                # socket timeout (also 5 s) would otherwise cut.
                "hosts": [{"address": url, "socket_timeout": 30} for url in IM_ROUTER_REDIS_URLS],
                "prefix": f"{IM_REDIS_PREFIX}:layer",
                "capacity": 5000,
                "expiry": 30,
            },
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": IM_REDIS_URL,
            "KEY_PREFIX": f"{IM_REDIS_PREFIX}:cache",
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- celery ------------------------------------------------------------------------

CELERY_BROKER_URL = _env("CELERY_BROKER_URL")
# Without a broker, notifications are delivered by a small thread pool of the server
# process (notifications/dispatch.py), never by eager tasks on the caller's thread.
IM_PUSH_EMBEDDED = CELERY_BROKER_URL is None
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BROKER_URL = CELERY_BROKER_URL or "memory://"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 4
CELERY_TASK_SERIALIZER = "json"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A publish that cannot reach the broker fails fast (notifications/dispatch.py): the
# outbox row stays due and the sweep publishes it again.
# visibility_timeout (Redis broker only): a task taken by a worker that died without
# acking it (acks_late) goes back to the queue after this long. Kombu's default, an
# hour, made explicit: redelivery does not wait for it (the sweep publishes a row
# again once its lease, IM_PUSH_TIMEOUT_S + IM_PUSH_REDELIVER_S, has run out), and a
# copy restored later finds its rows claimed or sent and does nothing. Lower it only
# to keep the broker's unacked set small; it must stay above a task's longest run.
IM_PUSH_BROKER_VISIBILITY_S = _env_int("IM_PUSH_BROKER_VISIBILITY_S", 3600, minimum=60)
CELERY_BROKER_TRANSPORT_OPTIONS = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2,
                                   "interval_max": 0.5,
                                   "visibility_timeout": IM_PUSH_BROKER_VISIBILITY_S}

# --- notifications (docs/notifications.md) ----------------------------------------------

IM_PUSH_PREVIEW = _env_bool("IM_PUSH_PREVIEW", True)
IM_PUSH_TIMEOUT_S = _env_int("IM_PUSH_TIMEOUT_S", 10, minimum=1)
IM_PUSH_REDELIVER_S = _env_int("IM_PUSH_REDELIVER_S", 30, minimum=1)
IM_PUSH_RETRY_BASE_S = _env_int("IM_PUSH_RETRY_BASE_S", 1, minimum=1)
IM_PUSH_RETRY_MAX_S = _env_int("IM_PUSH_RETRY_MAX_S", 300, minimum=1)
IM_PUSH_MAX_ATTEMPTS = _env_int("IM_PUSH_MAX_ATTEMPTS", 8, minimum=1)
# A notification older than this is dead, whatever its attempts.
IM_PUSH_MAX_AGE_S = _env_int("IM_PUSH_MAX_AGE_S", 24 * 3600, minimum=1)
IM_PUSH_BREAKER_FAILS = _env_int("IM_PUSH_BREAKER_FAILS", 5, minimum=1)
IM_PUSH_BREAKER_RESET_S = _env_int("IM_PUSH_BREAKER_RESET_S", 30, minimum=1)
IM_PUSH_ALLOW_PRIVATE = _env_bool("IM_PUSH_ALLOW_PRIVATE", False)
IM_PUSH_COLLAPSE_S = _env_int("IM_PUSH_COLLAPSE_S", 0, minimum=0)
# Tests only: the outbox thread stops before writing anything (and no intent is
# replayed), so a test can kill the server between the messages' commit and that write.
IM_TEST_PUSH_STALL_OUTBOX = _env_bool("IM_TEST_PUSH_STALL_OUTBOX", False)
# FCM HTTP v1: a service-account JSON file; the API's base URL (tests point it at a
# loopback fake) and the project (default: the service account's).
IM_PUSH_FCM_CREDENTIALS = _env("IM_PUSH_FCM_CREDENTIALS")
IM_PUSH_FCM_URL = _env("IM_PUSH_FCM_URL", "https://fcm.googleapis.com")
IM_PUSH_FCM_PROJECT = _env("IM_PUSH_FCM_PROJECT")
if IM_PUSH_FCM_CREDENTIALS and not Path(IM_PUSH_FCM_CREDENTIALS).is_file():
    raise ImproperlyConfigured(f"IM_PUSH_FCM_CREDENTIALS: no file {IM_PUSH_FCM_CREDENTIALS!r}")
# Web Push: the VAPID private key (a PEM file; its public key is the application
# server key browsers subscribe with) and the contact the push services see.
IM_PUSH_VAPID_PRIVATE_KEY = _env("IM_PUSH_VAPID_PRIVATE_KEY")
IM_PUSH_VAPID_SUBJECT = _env("IM_PUSH_VAPID_SUBJECT")
if IM_PUSH_VAPID_PRIVATE_KEY:
    if not Path(IM_PUSH_VAPID_PRIVATE_KEY).is_file():
        raise ImproperlyConfigured(
            f"IM_PUSH_VAPID_PRIVATE_KEY: no file {IM_PUSH_VAPID_PRIVATE_KEY!r}")
    if not (IM_PUSH_VAPID_SUBJECT or "").startswith(("mailto:", "https://")):
        raise ImproperlyConfigured("IM_PUSH_VAPID_SUBJECT must be a mailto: or https: URL")
# APNs: the .p8 signing key, its key id, the team id, the app's bundle id (topic);
# the base URL (https://api.sandbox.push.apple.com for development builds).
IM_PUSH_APNS_KEY = _env("IM_PUSH_APNS_KEY")
IM_PUSH_APNS_KEY_ID = _env("IM_PUSH_APNS_KEY_ID")
IM_PUSH_APNS_TEAM_ID = _env("IM_PUSH_APNS_TEAM_ID")
IM_PUSH_APNS_TOPIC = _env("IM_PUSH_APNS_TOPIC")
IM_PUSH_APNS_URL = _env("IM_PUSH_APNS_URL", "https://api.push.apple.com")
if IM_PUSH_APNS_KEY:
    if not Path(IM_PUSH_APNS_KEY).is_file():
        raise ImproperlyConfigured(f"IM_PUSH_APNS_KEY: no file {IM_PUSH_APNS_KEY!r}")
    if not (IM_PUSH_APNS_KEY_ID and IM_PUSH_APNS_TEAM_ID and IM_PUSH_APNS_TOPIC):
        raise ImproperlyConfigured(
            "IM_PUSH_APNS_KEY needs IM_PUSH_APNS_KEY_ID, IM_PUSH_APNS_TEAM_ID and "
            "IM_PUSH_APNS_TOPIC")
# Celery queues: one per provider kind, so one provider's trouble cannot starve the
# others. A worker consumes all four unless started with -Q.
IM_PUSH_QUEUE_PREFIX = _env("IM_PUSH_QUEUE_PREFIX", "im-push") or "im-push"
CELERY_TASK_QUEUES = [Queue(f"{IM_PUSH_QUEUE_PREFIX}-{kind}")
                      for kind in ("webhook", "webpush", "fcm", "apns")]
CELERY_TASK_DEFAULT_QUEUE = f"{IM_PUSH_QUEUE_PREFIX}-webhook"
# Threads that deliver in-process when there is no broker.
IM_PUSH_WORKERS = _env_int("IM_PUSH_WORKERS", 2, minimum=1)
# Provider requests a delivering process has in flight at once (notifications/sending.py).
IM_PUSH_SEND_CONCURRENCY = _env_int("IM_PUSH_SEND_CONCURRENCY", 8, minimum=1)
# Push registrations one user may hold (each multiplies every message into a notification).
IM_PUSH_MAX_DEVICES = _env_int("IM_PUSH_MAX_DEVICES", 20, minimum=1)
# Off: no outbox rows are written at all (the benchmark's "notifications off").
IM_PUSH_ENABLED = _env_bool("IM_PUSH_ENABLED", True)
if IM_PUSH_RETRY_MAX_S < IM_PUSH_RETRY_BASE_S:
    raise ImproperlyConfigured("IM_PUSH_RETRY_MAX_S must be at least IM_PUSH_RETRY_BASE_S")

# --- REST --------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.tokens.TokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["imsite.parsers.BoundedJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "imsite.errors.api_exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        "login_ip": _env("IM_LOGIN_RATE_IP", "30/min"),
        "login_user": _env("IM_LOGIN_RATE_USER", "10/min"),
        "register_ip": _env("IM_REGISTER_RATE_IP", "30/min"),
    },
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # How many reverse proxies stand in front: X-Forwarded-For is trusted only then.
    "NUM_PROXIES": _env_int("IM_NUM_PROXIES", 0) or None,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "IM server API",
    "DESCRIPTION": (
        "REST side of the IM server: accounts, groups, history, media, presence. "
        "Request bodies are JSON (media uploads: multipart/form-data); fields a request "
        "does not document are ignored; JSON nested deeper than 32 levels is refused "
        "with 400. Every error is a 4xx (or 503 from health) with a JSON body, "
        '`{"detail": ...}` or `{field: [messages]}`. A request that needs a user sends '
        "`Authorization: Token <token>` (401 without a valid one); 429 answers carry "
        "`Retry-After`."
    ),
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Separate request and response components: an upload's file is then `binary` (not
    # a URI), and read-only fields stay out of request bodies.
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "imsite.openapi.document_common_errors",
    ],
    # Swagger UI from drf-spectacular-sidecar, same origin, pinned with the server.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}
# WhiteNoise serves the apps' static folders where they are (no collectstatic step),
# indexed once at start; with DEBUG it also picks up changed files.
WHITENOISE_USE_FINDERS = True
# Web pages of other origins allowed to call /api/ (the client at / needs none).
IM_CORS_ORIGINS = _env_origins("IM_CORS_ORIGINS")
# Web pages of other origins allowed to open /ws/ (empty: any; native clients, which
# send no Origin, and this server's own pages always may): realtime/transport/ws_origins.py.
IM_WS_ORIGINS = _env_origins("IM_WS_ORIGINS")

IM_TOKEN_TTL_S = _env_int("IM_TOKEN_TTL_S", 30 * 24 * 3600, minimum=1)
# How long the username of a closed account stays taken before anyone may register it
# (0: free at once).
IM_USERNAME_HOLD_DAYS = _env_int("IM_USERNAME_HOLD_DAYS", 30, minimum=0)
if IM_USERNAME_HOLD_DAYS > 36500:
    raise ImproperlyConfigured(
        f"IM_USERNAME_HOLD_DAYS must be at most 36500 (a century), got {IM_USERNAME_HOLD_DAYS}"
    )
# knox's token model is swappable; naming it lets other models point at it.
KNOX_TOKEN_MODEL = "knox.AuthToken"
REST_KNOX = {
    "TOKEN_TTL": timedelta(seconds=IM_TOKEN_TTL_S),
    "AUTH_HEADER_PREFIX": "Token",
    "AUTO_REFRESH": False,
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if _env_bool("IM_FAST_PASSWORD_HASHER", False):
    # For test suites and benchmarks that create thousands of users; never in production.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# --- messaging limits ----------------------------------------------------------------

IM_GROUP_MAX_MEMBERS = _env_int("IM_GROUP_MAX_MEMBERS", 500, minimum=2)
IM_MAX_FRAME_BYTES = _env_int("IM_MAX_FRAME_BYTES", 65536, minimum=1024)
IM_MAX_TEXT_CHARS = _env_int("IM_MAX_TEXT_CHARS", 4000, minimum=1)
IM_AUTH_TIMEOUT_S = _env_int("IM_AUTH_TIMEOUT_S", 5, minimum=1)
IM_HEARTBEAT_S = _env_int("IM_HEARTBEAT_S", 30, minimum=1)
IM_HOT_WINDOW = _env_int("IM_HOT_WINDOW", 1000, minimum=0)
# How many groups' members each process keeps, checked against the group's
# members_version on every use (messaging/members_cache.py); 0 reads them every time.
# And how many member ids in all (about 100 bytes each).
IM_MEMBERS_CACHE_GROUPS = _env_int("IM_MEMBERS_CACHE_GROUPS", 10000, minimum=0)
IM_MEMBERS_CACHE_MEMBERS = _env_int("IM_MEMBERS_CACHE_MEMBERS", 1000000, minimum=0)
# The window is written after the acks by a thread of its own, fed by a queue of at
# most this many bytes of messages; past it a write is dropped (readers then go to
# the database for the range: docs/architecture.md, step 5).
IM_HOT_WINDOW_QUEUE_BYTES = _env_int("IM_HOT_WINDOW_QUEUE_BYTES", 8 << 20, minimum=65536)
# Tests only: while this file exists, the window's writer holds what it has queued (so a
# test can revise a message whose window write has not landed yet).
IM_TEST_HOT_WINDOW_HOLD = _env("IM_TEST_HOT_WINDOW_HOLD", "")
# Where messages are stored: empty for the SQL database, else a mongodb:// URL (its
# path names the database, default "im"); see docs/architecture.md.
IM_MONGODB_URL = _env("IM_MONGODB_URL")
if IM_MONGODB_URL and not IM_MONGODB_URL.startswith(("mongodb://", "mongodb+srv://")):
    raise ImproperlyConfigured(
        f"IM_MONGODB_URL takes a mongodb:// or mongodb+srv:// URL, got {IM_MONGODB_URL!r}")
# How long after sending its sender may edit a text, and recall a message
# (docs/protocol.md, Conversation state); a moderator's redaction has no window.
IM_EDIT_WINDOW_S = _env_int("IM_EDIT_WINDOW_S", 86400, minimum=0)
IM_RECALL_WINDOW_S = _env_int("IM_RECALL_WINDOW_S", 120, minimum=0)
# Retention (docs/protocol.md, Retention): messages older than this many days (a
# decimal allowed) are removed, oldest first, in batches of IM_RETENTION_BATCH, every
# IM_RETENTION_INTERVAL_S; off (None) when unset or 0. The run is a Celery beat task
# with a broker, a thread of each imserver without one (IM_RETENTION_IN_SERVER), or
# `manage.py im_retention` from cron.
IM_RETENTION_DAYS = _env_float("IM_RETENTION_DAYS", None, minimum=0.0) or None
IM_RETENTION_INTERVAL_S = _env_float("IM_RETENTION_INTERVAL_S", 3600.0, minimum=0.1)
IM_RETENTION_BATCH = _env_int("IM_RETENTION_BATCH", 1000, minimum=1)
IM_RETENTION_IN_SERVER = IM_RETENTION_DAYS is not None and _env_bool(
    "IM_RETENTION_IN_SERVER", IM_PUSH_EMBEDDED)
IM_RETENTION_QUEUE = "im-retention"
CELERY_TASK_QUEUES.append(Queue(IM_RETENTION_QUEUE))
CELERY_BEAT_SCHEDULE = {} if IM_RETENTION_DAYS is None else {
    "im-retention": {
        "task": "messaging.tasks.retention_run_task",
        "schedule": IM_RETENTION_INTERVAL_S,
        # A run not started within an interval is superseded by the next one.
        "options": {"queue": IM_RETENTION_QUEUE, "expires": IM_RETENTION_INTERVAL_S},
    },
}
# Rate budgets of a connection (docs/protocol.md, Rate budgets and buffers): content
# frames, syncs (the same size, a budget of their own), every frame of any type, and
# content frames per user across all of the user's connections on this node.
IM_RATE_MSGS_PER_S = _env_int("IM_RATE_MSGS_PER_S", 50, minimum=1)
IM_RATE_BURST = _env_int("IM_RATE_BURST", 200, minimum=1)
IM_RATE_FRAMES_PER_S = _env_int("IM_RATE_FRAMES_PER_S", max(200, 2 * IM_RATE_MSGS_PER_S),
                                minimum=1)
IM_RATE_FRAMES_BURST = _env_int("IM_RATE_FRAMES_BURST", max(400, 2 * IM_RATE_BURST), minimum=1)
IM_RATE_USER_MSGS_PER_S = _env_int("IM_RATE_USER_MSGS_PER_S", 2 * IM_RATE_MSGS_PER_S, minimum=1)
IM_RATE_USER_BURST = _env_int("IM_RATE_USER_BURST", 2 * IM_RATE_BURST, minimum=1)
# A connection over one of its budgets without a break for this long is cut (flood).
IM_FLOOD_S = _env_int("IM_FLOOD_S", 10, minimum=1)
# One sync page (and one history page) stops before this many bytes of messages.
IM_SYNC_MAX_BYTES = _env_int("IM_SYNC_MAX_BYTES", 1 << 20, minimum=1024)
# What may wait for one connection, in bytes, before it is cut as slow.
IM_OUTBOUND_BYTES = _env_int("IM_OUTBOUND_BYTES", 4 << 20, minimum=4096)
if IM_OUTBOUND_BYTES < 2 * IM_SYNC_MAX_BYTES:
    raise ImproperlyConfigured(
        "IM_OUTBOUND_BYTES must be at least twice IM_SYNC_MAX_BYTES, so that one sync "
        f"page never cuts a reader (got {IM_OUTBOUND_BYTES} and {IM_SYNC_MAX_BYTES})"
    )
IM_MAX_CONNS_PER_USER = _env_int("IM_MAX_CONNS_PER_USER", 20, minimum=1)
# How often every live connection's token is checked again (revoked, expired, banned),
# whether or not the event that should have closed it arrived.
IM_TOKEN_RECHECK_S = _env_int("IM_TOKEN_RECHECK_S", 30, minimum=1)
IM_NODE_ID = _env("IM_NODE_ID")

# --- cluster (docs/cluster.md) ---------------------------------------------------

# A node refreshes its entry in the registry this often; one silent for IM_NODE_TTL_S
# is dead and leaves the ring.
IM_NODE_HEARTBEAT_S = _env_int("IM_NODE_HEARTBEAT_S", 2, minimum=1)
IM_NODE_TTL_S = _env_int("IM_NODE_TTL_S", 10, minimum=1)
if IM_NODE_TTL_S < 2 * IM_NODE_HEARTBEAT_S:
    raise ImproperlyConfigured(
        "IM_NODE_TTL_S must be at least twice IM_NODE_HEARTBEAT_S, so that one late "
        f"heartbeat does not take a node out of the ring (got {IM_NODE_TTL_S} and "
        f"{IM_NODE_HEARTBEAT_S})"
    )
# Virtual nodes per node on the placement ring.
IM_VNODES = _env_int("IM_VNODES", 160, minimum=1)
# Connections per second a node sends elsewhere after the ring changes.
IM_REBALANCE_RATE = _env_int("IM_REBALANCE_RATE", 200, minimum=1)
# How long a draining node waits for its connections to go before it stops.
IM_DRAIN_S = _env_int("IM_DRAIN_S", 10, minimum=1)
# Authentications a node admits per second (a burst of as many); beyond, `auth` gets
# error/rate_limited with retry_ms and the connection is closed.
IM_AUTH_RATE = _env_int("IM_AUTH_RATE", 500, minimum=1)
# `imserver --workers N`: N node processes sharing the listening ports (SO_REUSEPORT),
# one cluster through Redis. More than one needs IM_REDIS_URL and a database other
# than SQLite (imserver refuses otherwise).
IM_WORKERS = _env_int("IM_WORKERS", 1, minimum=1)
# Worker i also serves HTTP on this port plus i, a port of its own, never named by the
# gateway: a Prometheus scrape and a readiness probe reach one worker there (on the
# shared port they reach whichever worker the kernel picks). 0: none.
IM_WORKER_HTTP_PORT = _env_int("IM_WORKER_HTTP_PORT", 0, minimum=0)
if IM_WORKER_HTTP_PORT + IM_WORKERS - 1 > 65535:
    raise ImproperlyConfigured("IM_WORKER_HTTP_PORT plus the workers must be TCP ports")

# --- public addresses (GET /api/gateway/; never taken from a request) ---------------

# The host name clients dial. By default the listen address, or this machine's host
# name when that is 0.0.0.0 or :: (imserver warns then).
IM_PUBLIC_HOST = _env_host("IM_PUBLIC_HOST")
# Whole addresses, for a proxy in front: wss://chat.example.com/ws/, chat.example.com:443.
IM_PUBLIC_WS_URL = _env_ws_url("IM_PUBLIC_WS_URL")
IM_PUBLIC_TCP = _env_host_port("IM_PUBLIC_TCP")

# --- media -----------------------------------------------------------------------------

IM_MEDIA_ROOT = Path(_env("IM_MEDIA_ROOT", str(DATA_DIR / "media")))
# Largest file POST /api/media/ takes; a bigger one is refused with 413.
IM_MAX_UPLOAD_BYTES = _env_int("IM_MAX_UPLOAD_BYTES", 25 * 1024 * 1024, minimum=1)
# Largest image, in pixels, that is decoded (the decompression-bomb guard): above 48 MP
# phone photos, and a bound on the memory one decode takes.
IM_MAX_IMAGE_PIXELS = _env_int("IM_MAX_IMAGE_PIXELS", 50_000_000, minimum=1)
# How long a signed download link (GET /api/media/<id>/link/) works.
IM_MEDIA_LINK_TTL_S = _env_int("IM_MEDIA_LINK_TTL_S", 300, minimum=1)
# Image decoding and audio/video probing run on this many threads of their own: the
# memory uploads take while decoding is at most this many times the largest image.
IM_MEDIA_DECODE_WORKERS = _env_int("IM_MEDIA_DECODE_WORKERS", 2, minimum=1)
# Uploads that may wait for a decode worker, and how long each may wait; beyond: 503.
IM_MEDIA_DECODE_QUEUE = _env_int("IM_MEDIA_DECODE_QUEUE", 16, minimum=0)
IM_MEDIA_DECODE_WAIT_S = _env_int("IM_MEDIA_DECODE_WAIT_S", 30, minimum=1)
# Uploads per user, "<count>/<second|minute|hour|day>"; over it: 429 with Retry-After.
IM_UPLOAD_RATE = _env("IM_UPLOAD_RATE", "30/min") or "30/min"
_upload_rate_count, _, _upload_rate_period = IM_UPLOAD_RATE.partition("/")
if not (_upload_rate_count.isdigit() and int(_upload_rate_count) > 0
        and _upload_rate_period in {"s", "sec", "second", "m", "min", "minute",
                                    "h", "hour", "d", "day"}):
    raise ImproperlyConfigured(f"IM_UPLOAD_RATE must look like 30/min, got {IM_UPLOAD_RATE!r}")
# Bytes of stored files per user (0: no limit); an upload that would pass it gets 413.
IM_UPLOAD_QUOTA_BYTES = _env_int("IM_UPLOAD_QUOTA_BYTES", 1 << 30, minimum=0)
# S3 or an S3-compatible service instead of the local folder. Credentials come from
# boto3's own chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile, an instance
# role), never from this file.
IM_MEDIA_S3_BUCKET = _env("IM_MEDIA_S3_BUCKET")
if IM_MEDIA_S3_BUCKET:
    if find_spec("storages") is None or find_spec("boto3") is None:
        raise ImproperlyConfigured("IM_MEDIA_S3_BUCKET needs django-storages and boto3 installed")
    _media_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": IM_MEDIA_S3_BUCKET,
            "endpoint_url": _env("IM_MEDIA_S3_ENDPOINT_URL"),
            "region_name": _env("IM_MEDIA_S3_REGION"),
            "location": _env("IM_MEDIA_S3_PREFIX", "media"),
            # Files are served through the access-checked view, never by bucket URL.
            "default_acl": "private",
            "file_overwrite": False,
            # A file being read spills to disk past this, rather than all into memory.
            "max_memory_size": 1024 * 1024,
        },
    }
else:
    _media_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {
            "location": IM_MEDIA_ROOT,
            "file_permissions_mode": 0o600,
            "directory_permissions_mode": 0o700,
        },
    }
STORAGES = {
    "default": _media_storage,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Every uploaded file streams to a temporary file (never whole into memory), counted as
# it arrives and dropped once past IM_MAX_UPLOAD_BYTES. The temporary folder is on the
# data volume so that storing an accepted file is a rename.
FILE_UPLOAD_HANDLERS = ["media.uploads.LimitedUploadHandler"]
FILE_UPLOAD_TEMP_DIR = str(DATA_DIR / "upload-tmp")
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700
# Request bodies above this are spooled to disk by the ASGI handler, not held in memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
# Non-file form fields and JSON bodies: no endpoint needs more than this.
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
# POST /api/media/ takes one file; no other endpoint takes any.
DATA_UPLOAD_MAX_NUMBER_FILES = 1

# --- HTTP and connection limits ---------------------------------------------------------

# A request line and headers must arrive whole within this time (else 408 and close).
IM_HTTP_HEAD_TIMEOUT_S = _env_int("IM_HTTP_HEAD_TIMEOUT_S", 10, minimum=1)
# An HTTP connection that sends nothing for this long while no answer is pending (kept
# alive between requests, or stalled in a request) is closed. WebSockets are exempt.
IM_HTTP_IDLE_TIMEOUT_S = _env_int("IM_HTTP_IDLE_TIMEOUT_S", 60, minimum=1)
# Live HTTP, WebSocket and TCP connections per client address, per process (0: no cap).
IM_MAX_CONNS_PER_IP = _env_int("IM_MAX_CONNS_PER_IP", 1000, minimum=0)

# --- operations (docs/operations.md) ----------------------------------------------------

# Prometheus metrics at /metrics (off: the message path counts nothing, /metrics is 404).
IM_METRICS = _env_bool("IM_METRICS", True)


def _env_networks(name: str, default: str) -> tuple:
    raw = _env(name, default) or ""
    networks = []
    for part in filter(None, (p.strip() for p in raw.split(","))):
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ImproperlyConfigured(
                f"{name} takes comma-separated addresses or networks, got {part!r}") from None
    return tuple(networks)


# Who may read /metrics: these client addresses (the address after IM_NUM_PROXIES
# proxies), or anyone with `Authorization: Bearer IM_METRICS_TOKEN`.
IM_METRICS_ALLOW = _env_networks("IM_METRICS_ALLOW", "127.0.0.0/8,::1")
IM_METRICS_TOKEN = _env("IM_METRICS_TOKEN") or None
if IM_METRICS_TOKEN is not None and len(IM_METRICS_TOKEN) < 16:
    raise ImproperlyConfigured("IM_METRICS_TOKEN must be at least 16 characters")
# A Celery worker serves its own /metrics on this port (0: none), bound to this address
# (loopback by default; 0.0.0.0 or :: for a scraper on another host), to the clients
# IM_METRICS_ALLOW and IM_METRICS_TOKEN let in, as the server's /metrics.
IM_METRICS_WORKER_PORT = _env_int("IM_METRICS_WORKER_PORT", 0, minimum=0)
if IM_METRICS_WORKER_PORT > 65535:
    raise ImproperlyConfigured("IM_METRICS_WORKER_PORT must be a TCP port")
IM_METRICS_WORKER_ADDR = _env("IM_METRICS_WORKER_ADDR", "127.0.0.1") or "127.0.0.1"
try:
    ipaddress.ip_address(IM_METRICS_WORKER_ADDR)
except ValueError:
    raise ImproperlyConfigured("IM_METRICS_WORKER_ADDR must be an IP address") from None
# Log lines: "text" (readable) or "json" (one JSON object per line).
IM_LOG_FORMAT = (_env("IM_LOG_FORMAT", "text") or "text").lower()
if IM_LOG_FORMAT not in ("text", "json"):
    raise ImproperlyConfigured(f"IM_LOG_FORMAT must be text or json, got {IM_LOG_FORMAT!r}")

# With JSON lines, a Celery worker logs through the handler below, not its own.
CELERY_WORKER_HIJACK_ROOT_LOGGER = IM_LOG_FORMAT != "json"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "imsite.logs.ContextFilter"}},
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(ctx)s]: %(message)s"},
        "json": {"()": "imsite.logs.JsonFormatter"},
    },
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": IM_LOG_FORMAT,
                            "filters": ["context"]}},
    "root": {"handlers": ["stderr"], "level": _env("IM_LOG_LEVEL", "INFO")},
    "loggers": {
        "daphne": {"level": "WARNING"},
        "django.channels.server": {"level": "WARNING"},
    },
}

