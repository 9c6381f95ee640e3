"""``make test`` without its services stops at once, in one line, with exit 3.

The check is ``pytest_sessionstart`` in ``tests/conftest.py``. Each case runs
an inner pytest on this file with ``-k`` selecting nothing; the inner run
carries ``PREFLIGHT_INNER`` and this module skips itself there, so even a
preflight that stopped exiting could not make the inner run start another.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
GUARD = "PREFLIGHT_INNER"

pytestmark = pytest.mark.skipif(
    os.environ.get(GUARD) == "1", reason="inside the inner preflight run"
)


def _inner_pytest(**overrides: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **overrides, GUARD: "1"}
    env.pop("PYTEST_ADDOPTS", None)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "tests/test_preflight.py",
            "-k",
            "nothing_matches",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _assert_one_clear_line(run: subprocess.CompletedProcess, service: str, where: str) -> None:
    output = run.stdout + run.stderr
    assert run.returncode == 3, f"exit {run.returncode}\n{output}"
    assert "Traceback" not in output, output
    # pytest.exit prints the message once to stderr; its summary banner may
    # repeat it on stdout. Either way the whole message sits on one line.
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, run.stderr
    (line,) = lines
    assert f"{service} unreachable at {where}" in line, line
    assert len([ln for ln in output.splitlines() if ln.strip()]) <= 2, output


def test_unreachable_postgresql_stops_the_run_in_one_line():
    run = _inner_pytest(DATABASE_URL="postgres://postgres@127.0.0.1:1/custody")
    _assert_one_clear_line(run, "PostgreSQL", "127.0.0.1:1")
    assert "DATABASE_URL" in run.stderr


def test_unreachable_redis_stops_the_run_in_one_line():
    # PostgreSQL stays the reachable one this suite runs against.
    run = _inner_pytest(REDIS_URL="redis://127.0.0.1:1/0")
    _assert_one_clear_line(run, "Redis", "redis://127.0.0.1:1/0")
    assert "REDIS_URL" in run.stderr
