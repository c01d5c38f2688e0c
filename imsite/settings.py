"""Settings, read once from the environment, with embedded defaults.

With no variables set the server needs no external service: SQLite in the data
folder, the in-process channel layer, Celery tasks run eagerly. Each variable below
switches one part to a real service. Outside DEBUG, a missing SECRET_KEY or a bad
value stops start-up with one line that says what is wrong.
"""

from __future__ import annotations

import os
from datetime import timedelta
from importlib.util import find_spec
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

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


# --- core -------------------------------------------------------------------------

_secret = _env("SECRET_KEY")
# Without a SECRET_KEY the server runs in development mode (DEBUG) so that
# `make run` works with nothing configured; setting one turns DEBUG off by default.
DEBUG = _env_bool("IM_DEBUG", default=_secret is None)
if _secret is None:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when IM_DEBUG is off")
    _secret = "development-only-insecure-key-do-not-use-in-production"
SECRET_KEY = _secret

ALLOWED_HOSTS = [h.strip() for h in (_env("IM_ALLOWED_HOSTS", "*") or "").split(",") if h.strip()]
DATA_DIR = Path(_env("IM_DATA_DIR", str(BASE_DIR / "data")))

INSTALLED_APPS = [
    # messaging first: its runserver (Daphne's plus the TCP port) wins over Daphne's.
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
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
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

# --- database ------------------------------------------------------------------------

_database_url = _env("DATABASE_URL")
if _database_url:
    try:
        # CONN_MAX_AGE 0: under ASGI each request runs on a thread of its own, and a
        # persistent connection would outlive it. The message path's own threads keep
        # theirs (messaging/realtime/db.py).
        _db = dj_database_url.parse(_database_url, conn_max_age=0)
    except Exception as exc:  # dj-database-url raises several types for a bad URL
        raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from None
else:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    _db = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(DATA_DIR / "im.sqlite3"),
    }
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the writer; IMMEDIATE takes the write lock at BEGIN
    # so two writers queue instead of deadlocking on a lock upgrade.
    _db.setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": (
                "PRAGMA journal_mode=WAL;"
                f"PRAGMA synchronous={_env('IM_SQLITE_SYNCHRONOUS', 'FULL')};"
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
if IM_REDIS_URL:
    if not IM_REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
        raise ImproperlyConfigured(f"IM_REDIS_URL must be a redis:// URL, got {IM_REDIS_URL!r}")
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # Longer than the layer's 5 s blocking pop, which redis-py's default
                # socket timeout (also 5 s) would otherwise cut.
                "hosts": [{"address": IM_REDIS_URL, "socket_timeout": 30}],
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
CELERY_TASK_ALWAYS_EAGER = CELERY_BROKER_URL is None
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_URL = CELERY_BROKER_URL or "memory://"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_SERIALIZER = "json"

# --- MongoDB message store (optional) --------------------------------------------------

IM_MONGODB_URL = _env("IM_MONGODB_URL")

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

IM_TOKEN_TTL_S = _env_int("IM_TOKEN_TTL_S", 30 * 24 * 3600, minimum=60)
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
IM_RATE_MSGS_PER_S = _env_int("IM_RATE_MSGS_PER_S", 50, minimum=1)
IM_RATE_BURST = _env_int("IM_RATE_BURST", 200, minimum=1)
IM_OUTBOUND_QUEUE = _env_int("IM_OUTBOUND_QUEUE", 1000, minimum=1)
IM_PUBLIC_HOST = _env("IM_PUBLIC_HOST")
IM_NODE_ID = _env("IM_NODE_ID")

# --- media -----------------------------------------------------------------------------

IM_MEDIA_ROOT = Path(_env("IM_MEDIA_ROOT", str(DATA_DIR / "media")))
# Largest file POST /api/media/ takes; a bigger one is refused with 413.
IM_MAX_UPLOAD_BYTES = _env_int("IM_MAX_UPLOAD_BYTES", 25 * 1024 * 1024, minimum=1)
# Largest image, in pixels, that is decoded (the decompression-bomb guard): above 48 MP
# phone photos, and a bound on the memory one decode takes.
IM_MAX_IMAGE_PIXELS = _env_int("IM_MAX_IMAGE_PIXELS", 50_000_000, minimum=1)
# How long a signed download link (GET /api/media/<id>/link/) works.
IM_MEDIA_LINK_TTL_S = _env_int("IM_MEDIA_LINK_TTL_S", 300, minimum=1)
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

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["stderr"], "level": _env("IM_LOG_LEVEL", "INFO")},
    "loggers": {
        "daphne": {"level": "WARNING"},
        "django.channels.server": {"level": "WARNING"},
    },
}

