"""The service as deployed: ``pip install .`` without the dev extras, in a
fresh virtualenv, with production settings, passes ``check --deploy``, imports
every module, migrates, and its gunicorn and Celery worker answer ``/healthz``
and run a task (``.ci/runtime_check.py``, which ``.ci/run`` runs too).

A dependency that only a dev extra brings in (as ``requests`` once was) fails
here, not in production."""

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / ".ci" / "runtime_check.py"


def server_url() -> str:
    """The suite's PostgreSQL server; the script makes its own scratch database there."""
    db = settings.DATABASES["default"]
    auth = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        auth += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/postgres"


@pytest.mark.slow
def test_the_runtime_only_install_starts_and_serves_with_production_settings():
    env = {
        **{k: v for k, v in os.environ.items() if k in ("HOME", "PATH", "LANG", "TMPDIR")},
        **{k: v for k, v in os.environ.items() if k.startswith("PIP_")},
        "DATABASE_URL": server_url(),
        "REDIS_URL": settings.REDIS_URL,
        "PYTHON": sys.executable,
    }
    script = subprocess.Popen(
        [sys.executable, str(SCRIPT)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = script.communicate(timeout=1200)
    except subprocess.TimeoutExpired:
        # SIGTERM, so the script stops its gunicorn and worker and drops its database.
        script.terminate()
        stdout, stderr = script.communicate(timeout=60)
        pytest.fail(f"the runtime check took over 20 minutes\n{stdout[-6000:]}\n{stderr[-4000:]}")
    report = f"{stdout[-6000:]}\n{stderr[-4000:]}"
    assert script.returncode == 0, report
    for step in (
        "pip install . (no dev extras): ok",
        "manage.py check --deploy --fail-level WARNING: ok",
        "import every module of config, custody, alerts: ok",
        "manage.py migrate: ok",
        "alerts.reconcile_all through Redis: ok",
        "/healthz 200",
        "PASSED",
    ):
        assert f"runtime check: {step}" in stdout, report
