"""Settings: every deployment value comes from the environment (see README).

With nothing set, the service looks for the embedded PostgreSQL that
``make run`` starts (``tools/demo_postgres.py``: its Unix socket under
``var/postgres``) and uses a file-based Celery broker under ``var/``, so
``make run`` works on a machine that has only Python. ``DATABASE_URL`` selects
any other PostgreSQL, ``REDIS_URL`` Redis.
"""

from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import dj_database_url
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from config.env import env, env_bool, env_int, env_list

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env("VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)

_DEV_SECRET_KEY = "django-insecure-only-for-local-runs-never-in-production"
SECRET_KEY = env("SECRET_KEY") or (_DEV_SECRET_KEY if DEBUG else None)
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    # Django's admin, on a site that asks admins for their second factor.
    "custody.apps.CustodyAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "custody",
    "alerts",
]

MIDDLEWARE = [
    # Outermost, so that every answer carries the policy (a 413 included).
    "csp.middleware.CSPMiddleware",
    # Then an oversized body is refused before anything reads it.
    "config.body_limit.BodySizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "custody.middleware.SecondFactorRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "custody.middleware.FacilityTimezoneMiddleware",
    "custody.middleware.ReadOnlyRolesMiddleware",
    # Last, as django-axes asks: it answers for a sign-in refused by a lockout.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "config" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "alerts.context_processors.reconciler_banner",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------
# Unset: the embedded server's socket directory, percent-encoded as the host
# (tools/demo_postgres.py database_url says the same).
DATABASE_URL = env("DATABASE_URL") or (
    f"postgres://postgres@{quote(str(VAR_DIR.resolve() / 'postgres'), safe='')}/custody"
)
SILENCED_SYSTEM_CHECKS = []
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL,
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "custody.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# django-axes first: a locked account is refused before its password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- Language and time: Spanish first, the facility's own zone on screen ------
LANGUAGE_CODE = "es"
LANGUAGES = [("es", _("Spanish")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = env("TIME_ZONE", "America/Guatemala")
USE_TZ = True

# --- Static files: everything served by the service itself, no CDN ----------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# Files browsers ask for at the site's root (favicon.ico), served by WhiteNoise.
WHITENOISE_ROOT = BASE_DIR / "config" / "root_files"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- Security -------------------------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
# Container and load-balancer probes speak plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 12 * 3600)  # one guard shift
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp) on every answer: scripts and styles only
# from the service's own files, never eval (htmx runs with allowEval off,
# base.html), never framed. A script that must be inline carries the request's
# nonce ({{ request.csp_nonce }}). /api/docs/ adds inline styles for its own page
# (config.urls).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "worker-src": [SELF],
        "manifest-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# Request bodies: larger ones answer 413 unread (config.body_limit). 4 MiB holds
# a full check-in batch (1,000 items) several times over.
MAX_BODY_BYTES = env_int("MAX_BODY_BYTES", 4 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_BODY_BYTES

# --- Celery: Redis when REDIS_URL is set, otherwise files under var/ ---------
REDIS_URL = env("REDIS_URL")
CELERY_BROKER_FOLDER = VAR_DIR / "celery"
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {}
else:
    for _sub in ("queue", "control", "results"):
        (CELERY_BROKER_FOLDER / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_RESULT_BACKEND = f"file://{CELERY_BROKER_FOLDER / 'results'}"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_FOLDER / "queue"),
        "data_folder_out": str(CELERY_BROKER_FOLDER / "queue"),
        "control_folder": str(CELERY_BROKER_FOLDER / "control"),
        "store_processed": False,
    }
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ACKS_LATE = True  # a worker killed mid-task leaves the task for another
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = 3600
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
RECONCILE_EVERY_SECONDS = env_int("RECONCILE_EVERY_SECONDS", 15)

# --- The ledger's witness: chain heads signed outside the database -------------
# PEM Ed25519 private key (``manage.py create_ledger_signing_key PATH``); the
# path only: the key is read when signing, never kept in settings. Unset: no
# witness (a warning on the ledger page, in the logs and in check --deploy).
LEDGER_SIGNING_KEY_FILE = env("LEDGER_SIGNING_KEY_FILE", "") or ""
# Public keys (hex) of retired signing keys whose witness lines stay trusted.
LEDGER_WITNESS_TRUSTED_KEYS = env_list("LEDGER_WITNESS_TRUSTED_KEYS")
LEDGER_WITNESS_DIR = Path(env("LEDGER_WITNESS_DIR", "") or VAR_DIR / "witness")
LEDGER_WITNESS_EVERY_SECONDS = env_int("LEDGER_WITNESS_EVERY_SECONDS", 300)
# Finished chain exports (web serves them, the worker writes them).
LEDGER_EXPORT_DIR = Path(env("LEDGER_EXPORT_DIR", "") or VAR_DIR / "exports")
# GET /api/v1/ledger/verify/ per user (DRF rate syntax).
LEDGER_VERIFY_THROTTLE_RATE = env("LEDGER_VERIFY_THROTTLE_RATE", "12/hour")
CELERY_BEAT_SCHEDULE: dict = {
    # The reconciler: one task per facility every period (alerts.tasks).
    "reconcile": {
        "task": "alerts.reconcile_all",
        "schedule": RECONCILE_EVERY_SECONDS,
        "options": {"expires": RECONCILE_EVERY_SECONDS},
    },
    # Next months' check-in partitions exist long before the first scan lands.
    "checkin-partitions": {
        "task": "custody.checkin_partitions_ensure",
        "schedule": 6 * 3600,
    },
    # A rewritten record is found within a day, not at the next audit. Each
    # pass rehashes every chain whole (minutes at national scale), so daily;
    # a broken chain opens a critical ledger_broken alert.
    "ledgers-verify": {
        "task": "alerts.ledgers_verify",
        "schedule": 24 * 3600,
    },
    # Each chain head signed and written outside the database (the witness).
    "ledgers-witness": {
        "task": "alerts.ledgers_witness",
        "schedule": LEDGER_WITNESS_EVERY_SECONDS,
        "options": {"expires": LEDGER_WITNESS_EVERY_SECONDS},
    },
    # Weakening changes nobody approved within a week expire (custody.services.changes).
    "changes-expire": {
        "task": "custody.changes_expire",
        "schedule": 3600,
        "options": {"expires": 3600},
    },
    # Verifications and chain exports the broker lost are enqueued again.
    "ledger-jobs-sweep": {
        "task": "custody.ledger_jobs_sweep",
        "schedule": 300,
        "options": {"expires": 300},
    },
}

# `make run` only: simulated readers scan the demo facility (custody.demo).
DEMO_READERS = env_bool("DEMO_READERS", False)
if DEMO_READERS:
    CELERY_BEAT_SCHEDULE["demo-readers"] = {
        "task": "custody.demo_readers",
        "schedule": RECONCILE_EVERY_SECONDS,
        "options": {"expires": RECONCILE_EVERY_SECONDS},
    }

# A condition a person resolved by hand that is still true reopens after this.
ALERT_REALERT_AFTER_SECONDS = env_int("ALERT_REALERT_AFTER_SECONDS", 30 * 60)
# Webhook channels use https; plain http only to these hosts (exact names,
# any case), e.g. an SMS gateway on the internal network (alerts.webhooks).
WEBHOOK_ALLOWED_HOSTS = env_list("WEBHOOK_ALLOWED_HOSTS")

# --- E-mail (alert notifications) ---------------------------------------------
EMAIL_BACKEND = env(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "alertas@custodia.local")
EMAIL_FILE_PATH = env("EMAIL_FILE_PATH", str(VAR_DIR / "mail"))

# --- Cache: shared by all web processes (sign-in throttling counts live here) --
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "custody",
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

# Person tokens (knox): stored hashed, one per signed-in device, expiring
# after a shift of inactivity and never living past a day without a new sign-in.
REST_KNOX = {
    "TOKEN_TTL": timedelta(hours=env_int("TOKEN_TTL_HOURS", 12)),
    "AUTO_REFRESH": True,
    "AUTO_REFRESH_MAX_TTL": timedelta(hours=env_int("TOKEN_MAX_TTL_HOURS", 24)),
    "AUTH_HEADER_PREFIX": "Token",
    "TOKEN_LIMIT_PER_USER": None,
}

# Sign-in attempts per client address (DRF rate syntax: N/second|minute|hour).
AUTH_THROTTLE_RATE = env("AUTH_THROTTLE_RATE", "20/minute")
# ...and per username, whatever address they come from (both limits apply).
AUTH_THROTTLE_USERNAME_RATE = env("AUTH_THROTTLE_USERNAME_RATE", "10/minute")

# Per-account lockout (django-axes): after this many failed sign-ins (or
# second-factor codes) an account is locked, whatever address the attempts
# come from, until an admin unlocks it (POST /api/v1/users/{username}/unlock/
# or the users admin). AXES_COOLOFF_MINUTES > 0 also lifts it after that long.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_LOCKOUT_PARAMETERS = ["username"]
# axes.W006 wants the address in too; a lock per address would lock every
# guard behind one facility's NAT after a few typos. Addresses are limited by
# the sign-in throttle instead, and rotating user agents or cookies cannot
# get round a lock that is by username alone.
SILENCED_SYSTEM_CHECKS.append("axes.W006")
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"  # survives restarts
AXES_COOLOFF_TIME = (
    timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 0))
    if env_int("AXES_COOLOFF_MINUTES", 0) > 0
    else None
)
AXES_RESET_ON_SUCCESS = True
# The address exactly as the sign-in throttle sees it (NUM_PROXIES).
AXES_CLIENT_IP_CALLABLE = "custody.throttling.client_address"
AXES_LOCKOUT_CALLABLE = "custody.pages.signin.lockout_response"
# Unlocking goes through the recorded paths only, not axes' own admin.
AXES_ENABLE_ADMIN = False
AXES_VERBOSE = False

# Second factor (django-otp): the issuer shown in authenticator apps.
OTP_TOTP_ISSUER = env("OTP_TOTP_ISSUER", "Custodia")
# Recovery codes given at enrolment, each good once.
OTP_RECOVERY_CODES = env_int("OTP_RECOVERY_CODES", 10)

# --- API ------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "custody.authentication.TokenOrDeviceKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["custody.permissions.IsStaffUser"],
    "DEFAULT_PAGINATION_CLASS": "custody.pagination.StandardPagination",
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
        "rest_framework.filters.SearchFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "config.schema.AutoSchema",
    "EXCEPTION_HANDLER": "config.errors.api_exception_handler",
    # The API speaks JSON only: one request shape to validate, one to document.
    "DEFAULT_PARSER_CLASSES": ["config.parsers.BoundedJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    # Proxies in front of gunicorn whose X-Forwarded-For is trusted (0: none).
    "NUM_PROXIES": env_int("NUM_PROXIES", 0),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Custody and headcount integrity API",
    "DESCRIPTION": (
        "Records who is in custody and where; readers and tablets post check-ins, "
        "supervisors own alerts, auditors verify the ledger."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    # Several models have a "kind"; name their enums apart.
    "ENUM_NAME_OVERRIDES": {
        "LocationKindEnum": "custody.models.LocationKind",
        "DeviceKindEnum": "custody.models.DeviceKind",
        "MovementKindEnum": "custody.models.MovementKind",
        "MovementStatusEnum": "custody.models.MovementStatus",
        "CountKindEnum": "custody.models.CountKind",
        "RollCallStatusEnum": "custody.models.RollCallStatus",
        "EntryStatusEnum": "custody.models.EntryStatus",
        "CheckInMethodEnum": "custody.models.CheckInMethod",
        "TagKindEnum": "custody.models.TagKind",
        "WatchLevelEnum": "custody.models.WatchLevel",
        "ObservationStateEnum": "custody.models.ObservationState",
        "ItemResultEnum": ["accepted", "duplicate", "rejected"],
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    # django-axes logs every sign-in at INFO; its warnings (failures, lockouts) stay.
    "loggers": {"axes": {"level": env("AXES_LOG_LEVEL", "WARNING")}},
}
