#!/usr/bin/env python3
"""The deployed install, proven: runtime dependencies only, production settings.

Creates a fresh virtualenv in a temporary directory, ``pip install .`` there
(no dev extras: exactly what the Dockerfile installs), then, with DEBUG off, a
random 64-character SECRET_KEY, ALLOWED_HOSTS and a scratch PostgreSQL
database of its own on the real server:

1. ``manage.py check --deploy --fail-level WARNING``;
2. imports every module of ``config``, ``custody`` and ``alerts`` (migrations
   and management commands included);
3. ``migrate`` and ``collectstatic`` (as the image does);
4. starts gunicorn and a Celery worker, sends ``alerts.reconcile_all`` through
   Redis, checks its result, and waits for ``/healthz`` to answer 200 with the
   worker's reconcile pass on record.

Every process it started and the scratch database are removed on the way out,
whatever happened. Standard library only: it runs before anything is installed.

    python3 .ci/runtime_check.py

Environment: DATABASE_URL (a PostgreSQL server URL; only its server and
credentials are used), REDIS_URL (the broker; nothing else should consume its
default queue meanwhile), PYTHON (the interpreter for the virtualenv, default
this one), RUNTIME_CHECK_KEEP=1 keeps the temporary directory for a post-mortem.
"""

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("config", "custody", "alerts")
HOST = "runtime-check.example"  # ALLOWED_HOSTS; sent as the Host header
INSTALL_TIMEOUT = 900
STEP_TIMEOUT = 180
BOOT_TIMEOUT = 90
INHERITED = (
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LC_ALL",
    "TMPDIR",
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_FIND_LINKS",
    "PIP_CONFIG_FILE",
    "PIP_CACHE_DIR",
)

IMPORT_ALL = """
import importlib, pkgutil, sys
import django
django.setup()
names = []
for package in sys.argv[1:]:
    root = importlib.import_module(package)
    names.append(package)
    for info in pkgutil.walk_packages(root.__path__, prefix=package + "."):
        importlib.import_module(info.name)
        names.append(info.name)
print(len(names), "modules imported")
"""

MAKE_FACILITY = """
import django
django.setup()
from custody.services.facilities import facility_create
facility_create(code="RTC", name="Runtime check", timezone="America/Guatemala")
"""

RECONCILE_ONCE = """
import json
from config.celery import app
result = app.send_task("alerts.reconcile_all")
print(json.dumps({"id": result.id, "value": result.get(timeout=120)}))
"""


def say(message: str) -> None:
    print(f"runtime check: {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(argv, *, env, timeout=STEP_TIMEOUT, what=None) -> str:
    what = what or " ".join(str(a) for a in argv[:4])
    done = subprocess.run(  # noqa: S603 (our own argv, never input)
        [str(a) for a in argv], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0:
        raise SystemExit(
            f"runtime check FAILED: {what} exited {done.returncode}\n"
            f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
        )
    say(f"{what}: ok")
    return done.stdout


def server_url(url: str, dbname: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql", "pgsql"):
        raise SystemExit(f"runtime check needs a PostgreSQL DATABASE_URL, not {parts.scheme}://")
    return urllib.parse.urlunsplit(parts._replace(path=f"/{dbname}", query=""))


def admin_sql(python: Path, url: str, sql: str, env: dict) -> None:
    """One statement on the server's maintenance database, with the venv's psycopg."""
    code = (
        "import sys, psycopg\n"
        "with psycopg.connect(sys.argv[1], autocommit=True, connect_timeout=5) as c:\n"
        "    c.execute(sys.argv[2])\n"
    )
    run([python, "-c", code, server_url(url, "postgres"), sql], env=env, what=sql)


# The proxy-free opener: an http_proxy in the environment must not swallow 127.0.0.1.
_http = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def healthz(port: int) -> tuple[int, dict | str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/healthz", headers={"Host": HOST})
    try:
        with _http.open(request, timeout=10) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body[:300].decode(errors="replace")


def stop(processes: list[subprocess.Popen]) -> None:
    """SIGTERM each process group started here, then SIGKILL what is left."""
    for proc in processes:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    for proc in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
    for proc in processes:  # the group: a worker's pool children too
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)


def tail(path: Path, lines: int = 40) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


def main() -> None:
    database_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/custody")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    python = os.environ.get("PYTHON", sys.executable)
    root = Path(tempfile.mkdtemp(prefix="custody-runtime-"))
    venv, var_dir = root / "venv", root / "var"
    bin_dir = venv / "bin"
    scratch = f"custody_runtime_{secrets.token_hex(4)}"
    base_env = {k: os.environ[k] for k in INHERITED if k in os.environ}
    base_env.update(PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', os.defpath)}")
    processes: list[subprocess.Popen] = []
    created = False
    try:
        say(f"virtualenv in {root}")
        run([python, "-m", "venv", venv], env=base_env, what="python -m venv")
        # As the Dockerfile does: pyproject.toml alone, so no build files land in the repo.
        source = root / "src"
        source.mkdir()
        shutil.copy(REPO / "pyproject.toml", source)
        run(
            [
                bin_dir / "python",
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                source,
            ],
            env=base_env,
            timeout=INSTALL_TIMEOUT,
            what="pip install . (no dev extras)",
        )
        # Production settings: nothing of the developer's environment leaks in.
        env = {
            **base_env,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DEBUG": "0",
            "SECRET_KEY": secrets.token_urlsafe(48),  # 64 characters
            "ALLOWED_HOSTS": HOST,
            "DATABASE_URL": server_url(database_url, scratch),
            "REDIS_URL": redis_url,
            "VAR_DIR": str(var_dir),
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",  # leave no __pycache__ of this venv's in the repo
            "XDG_RUNTIME_DIR": str(root),  # gunicorn's control socket, not ~/.gunicorn
            # The witness key lives outside the database, as in production.
            "LEDGER_SIGNING_KEY_FILE": str(root / "ledger-signing-key.pem"),
            "LEDGER_WITNESS_DIR": str(var_dir / "witness"),
        }
        admin_sql(bin_dir / "python", database_url, f'CREATE DATABASE "{scratch}"', env)
        created = True
        manage = [bin_dir / "python", "manage.py"]
        run(
            [*manage, "create_ledger_signing_key", env["LEDGER_SIGNING_KEY_FILE"]],
            env=env,
            what="manage.py create_ledger_signing_key",
        )
        run(
            [*manage, "check", "--deploy", "--fail-level", "WARNING"],
            env=env,
            what="manage.py check --deploy --fail-level WARNING",
        )
        print(
            run(
                [bin_dir / "python", "-c", IMPORT_ALL, *PACKAGES],
                env=env,
                what="import every module of " + ", ".join(PACKAGES),
            ).strip()
        )
        run([*manage, "migrate", "--noinput"], env=env, what="manage.py migrate")
        run([*manage, "collectstatic", "--noinput", "-v0"], env=env, what="collectstatic")
        run([bin_dir / "python", "-c", MAKE_FACILITY], env=env, what="a facility to reconcile")

        port = free_port()
        web_log, worker_log = root / "web.log", root / "worker.log"
        for argv, log in (
            (
                [
                    bin_dir / "gunicorn",
                    "config.wsgi",
                    "--bind",
                    f"127.0.0.1:{port}",
                    "--workers",
                    "1",
                    "--no-control-socket",
                ],
                web_log,
            ),
            (
                [
                    bin_dir / "celery",
                    "-A",
                    "config",
                    "worker",
                    "--loglevel",
                    "INFO",
                    "--concurrency",
                    "1",
                ],
                worker_log,
            ),
        ):
            with log.open("wb") as out:
                processes.append(
                    subprocess.Popen(  # noqa: S603
                        [str(a) for a in argv],
                        cwd=REPO,
                        env=env,
                        stdin=subprocess.DEVNULL,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        say(f"gunicorn on 127.0.0.1:{port} and a Celery worker started")

        answer = json.loads(
            run(
                [bin_dir / "python", "-c", RECONCILE_ONCE],
                env=env,
                what="alerts.reconcile_all through Redis",
            ).splitlines()[-1]
        )
        if answer["value"] != 1:
            raise SystemExit(f"runtime check FAILED: reconcile_all answered {answer}")

        # The fan-out's pass for the facility, then a healthy /healthz.
        deadline, last = time.monotonic() + BOOT_TIMEOUT, None
        while True:
            for proc, log in zip(processes, (web_log, worker_log), strict=True):
                if proc.poll() is not None:
                    raise SystemExit(
                        f"runtime check FAILED: {proc.args[0]} exited "
                        f"{proc.returncode}\n{tail(log)}"
                    )
            with contextlib.suppress(OSError):
                last = healthz(port)
                status, body = last
                if status == 200 and isinstance(body, dict) and body.get("last_reconciled_at"):
                    break
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"runtime check FAILED: /healthz {last}\n--- web\n"
                    f"{tail(web_log)}\n--- worker\n{tail(worker_log)}"
                )
            time.sleep(0.5)
        say(f"/healthz 200 {json.dumps(last[1])}")
        say("PASSED")
    finally:
        stop(processes)
        if created:
            with contextlib.suppress(SystemExit):
                admin_sql(
                    bin_dir / "python",
                    database_url,
                    f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)',
                    base_env,
                )
        if os.environ.get("RUNTIME_CHECK_KEEP") == "1":
            say(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def _terminated(signum, _frame):
    raise SystemExit(f"runtime check: stopped by signal {signum}")  # cleanup runs in finally


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminated)
    signal.signal(signal.SIGHUP, _terminated)
    main()
