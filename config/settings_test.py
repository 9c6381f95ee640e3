"""Test settings: production settings, pointed at the real local services.

``make test`` runs against real PostgreSQL and Redis (never a
mocked broker); values already in the environment win.
"""

import os
import tempfile

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/custody")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
os.environ.setdefault("SECRET_KEY", "test-only-secret-key-" + "x" * 40)
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
# Every test signs in from 127.0.0.1; the throttle has its own test.
os.environ.setdefault("AUTH_THROTTLE_RATE", "10000/minute")
os.environ.setdefault("LEDGER_VERIFY_THROTTLE_RATE", "10000/minute")
# Witness lines and exports of one test process never meet another's (facility
# codes repeat across runs and parallel workers).
os.environ.setdefault("LEDGER_WITNESS_DIR", tempfile.mkdtemp(prefix="custody-witness-"))
os.environ.setdefault("LEDGER_EXPORT_DIR", tempfile.mkdtemp(prefix="custody-exports-"))
os.environ.setdefault("AUTH_THROTTLE_USERNAME_RATE", "10000/minute")

from config.settings import *  # noqa: F403

# The manifest needs collectstatic; tests render templates without it.
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
# Hashing cost is not under test; it would dominate the suite's run time.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
WHITENOISE_USE_FINDERS = True

# pytest-xdist: every worker has a test database of its own (pytest-django
# suffixes its name with the worker id) and, here, Redis keys of its own, so a
# throttle count or a queued task of one worker never reaches another.
_XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if _XDIST_WORKER and REDIS_URL:  # noqa: F405
    CACHES["default"]["KEY_PREFIX"] = f"custody-{_XDIST_WORKER}"  # noqa: F405
    CELERY_BROKER_TRANSPORT_OPTIONS = {"global_keyprefix": f"{_XDIST_WORKER}:"}
    CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"global_keyprefix": f"{_XDIST_WORKER}:"}
WHITENOISE_AUTOREFRESH = True
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405
