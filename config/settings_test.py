"""Test settings: production settings, pointed at the real local services.

``make test`` runs against real PostgreSQL and Redis (never SQLite, never a
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
WHITENOISE_AUTOREFRESH = True
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405
