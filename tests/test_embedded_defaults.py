"""``make run`` on embedded defaults: SQLite and the file broker, no services.

A new user clones the repository and types ``make run`` with nothing set. This
boots that path for real so it cannot rot: the same ``manage.py`` steps as the
Makefile, then ``honcho start -f Procfile`` (gunicorn, a Celery worker and
beat) in a clean environment without ``DATABASE_URL`` or ``REDIS_URL``, with
everything written under a temporary ``VAR_DIR``.

The environment is built from a short allow-list rather than copied, because
the test process itself runs under ``config.settings_test``, which has put
``DATABASE_URL``, ``REDIS_URL``, ``SECRET_KEY``, ``DEBUG=0`` and more into
``os.environ``; none of those is on a new user's machine.

Every wait is bounded and the whole process tree is killed on the way out,
whatever happened.
"""

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # the virtualenv's bin, as $(BIN) in the Makefile
# Kept from the caller's environment: what any login shell has, nothing of ours.
INHERITED = ("HOME", "USER", "LOGNAME", "SHELL", "LANG", "LC_ALL", "LC_CTYPE", "TERM", "TMPDIR")

# Bounds, not delays: generous so a machine busy with other work (a parallel
# suite) waits longer instead of failing; a healthy run never reaches them.
STEP_TIMEOUT = 120  # seconds for each manage.py step
BOOT_TIMEOUT = 60  # seconds for /healthz to answer
HEALTHY_TIMEOUT = 60  # seconds for the reconciler to be seen passing on time
STOP_GRACE = 3  # seconds honcho gets to stop its children before SIGKILL


@dataclass
class Stack:
    base_url: str
    var_dir: Path
    env: dict
    log: Path
    honcho: subprocess.Popen
    healthz: tuple[int, bytes] = (0, b"")  # the first answer, polled for at boot
    groups: set[int] = field(default_factory=set)  # process groups to kill at the end

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return "(no honcho output)"
        return "\n".join(text.splitlines()[-lines:])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _embedded_env(var_dir: Path, port: int, run_dir: Path) -> dict:
    env = {name: os.environ[name] for name in INHERITED if name in os.environ}
    env.update(
        # The Makefile's `PATH="$(CURDIR)/$(BIN):$$PATH"`, so the Procfile finds
        # gunicorn and celery.
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', os.defpath)}",
        DEBUG="1",  # `run: export DEBUG ?= 1`
        DJANGO_SETTINGS_MODULE="config.settings",
        VAR_DIR=str(var_dir),
        WEB_BIND=f"127.0.0.1:{port}",
        # Line-by-line output, as on the terminal `make run` is typed into.
        PYTHONUNBUFFERED="1",
        # gunicorn puts its control socket here instead of ~/.gunicorn, where
        # it would replace the socket of a gunicorn the developer has running.
        XDG_RUNTIME_DIR=str(run_dir),
        # `run: export DEMO_READERS ?= 1`; a short period so the test is quick.
        DEMO_READERS="1",
        RECONCILE_EVERY_SECONDS="2",
    )
    assert not {"DATABASE_URL", "REDIS_URL", "SECRET_KEY"} & env.keys()
    return env


def _manage(env: dict, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(BIN / "python"), "manage.py", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT,
    )
    assert result.returncode == 0, (
        f"manage.py {' '.join(args)} exited {result.returncode}\n"
        f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return result


# The proxy-free opener: an http_proxy in the caller's environment must not
# swallow requests to 127.0.0.1.
_http = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _get(url: str, timeout: float = 5) -> tuple[int, bytes]:
    try:
        with _http.open(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _healthy(stack: "Stack") -> tuple[int, bytes]:
    """Poll /healthz until it answers 200 or HEALTHY_TIMEOUT passes; the last answer."""
    deadline = time.monotonic() + HEALTHY_TIMEOUT
    status, body = 0, b"(no answer)"
    while True:
        try:
            status, body = _get(f"{stack.base_url}/healthz")
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            body = repr(exc).encode()  # a web worker too busy to answer in time
        if status == 200 or time.monotonic() > deadline:
            return status, body
        time.sleep(0.5)


def _processes() -> dict[int, tuple[int, int, list[str]]]:
    """pid -> (ppid, pgid, argv) for every process we can see (Linux /proc)."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # exited while we looked
        # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
        fields = stat[stat.rindex(")") + 2 :].split()
        table[int(entry.name)] = (
            int(fields[1]),
            int(fields[2]),
            [arg.decode(errors="replace") for arg in argv if arg],
        )
    return table


def _descendants(root: int) -> dict[int, tuple[int, int, list[str]]]:
    table = _processes()
    found, frontier = {}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, info in table.items():
            if info[0] == parent and pid not in found:
                found[pid] = info
                frontier.append(pid)
    return found


def _track(honcho: subprocess.Popen, groups: set[int]) -> None:
    """Add the process group of everything now running under honcho to groups."""
    groups.update(pgid for _, pgid, _ in _descendants(honcho.pid).values())


def _stop(honcho: subprocess.Popen, groups: set[int]) -> None:
    """SIGTERM honcho's group (honcho stops its children), then SIGKILL what is left.

    honcho starts every Procfile entry in a session of its own, so killing
    honcho's group alone would orphan them: every group seen under honcho, at
    boot and while stopping, is killed at the end. The groups seen at boot
    still get killed if honcho itself died early and orphaned its children.
    """
    groups.add(honcho.pid)
    _track(honcho, groups)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(honcho.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE
    while honcho.poll() is None and time.monotonic() < deadline:
        _track(honcho, groups)  # a worker may fork fresh pool processes while stopping
        time.sleep(0.1)
    for pgid in groups - {os.getpgrp()}:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        honcho.wait(timeout=5)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    if not Path("/proc/self/stat").exists():
        pytest.skip("needs Linux /proc to find and stop the process tree")
    honcho_bin = BIN / "honcho"
    assert honcho_bin.exists(), f"{honcho_bin} missing: run `make install`"
    root = tmp_path_factory.mktemp("embedded")
    var_dir, run_dir = root / "var", root / "run"
    run_dir.mkdir()
    port = _free_port()
    env = _embedded_env(var_dir, port, run_dir)

    # The `make run` recipe, step by step.
    _manage(env, "migrate", "--noinput")
    _manage(env, "seed_demo", "--inmates", "50")
    _manage(env, "seed_demo_alerts")
    _manage(env, "seed_demo_history")
    _manage(env, "collectstatic", "--noinput", "-v0")
    assert (var_dir / "custody.sqlite3").is_file(), "the embedded SQLite file is missing"

    log = root / "honcho.log"
    with log.open("wb") as out:
        honcho = subprocess.Popen(
            [str(honcho_bin), "start", "-f", "Procfile"],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, killed as one
        )
    running = Stack(f"http://127.0.0.1:{port}", var_dir, env, log, honcho)
    try:
        deadline = time.monotonic() + BOOT_TIMEOUT
        while True:
            if honcho.poll() is not None:
                pytest.fail(f"honcho exited {honcho.returncode} at boot\n{running.log_tail()}")
            try:
                running.healthz = _get(f"{running.base_url}/healthz", timeout=3)
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    pytest.fail(f"/healthz silent after {BOOT_TIMEOUT} s\n{running.log_tail()}")
                time.sleep(0.25)
            finally:
                _track(honcho, running.groups)
        yield running
    finally:
        _stop(honcho, running.groups)


def test_healthz_reports_sqlite_and_file_broker(stack):
    _status, body = stack.healthz
    health = json.loads(body)
    assert health["db"] == "ok", (health, stack.log_tail())
    assert health["broker"] == "ok", health
    # Until beat's first pass the reconciler may rightly be stale; then 200.
    status, body = _healthy(stack)
    assert status == 200, (body, stack.log_tail())
    assert json.loads(body)["reconciler"] == "ok"


def test_api_docs_and_their_assets_are_served_same_origin(stack):
    status, body = _get(f"{stack.base_url}/api/docs/")
    assert status == 200, body[:500]
    page = body.decode()
    assets = re.findall(r"""<(?:script|link)\b[^>]*?\b(?:src|href)\s*=\s*["']([^"']+)["']""", page)
    assert assets, page[:2000]
    off_site = [url for url in assets if re.match(r"(?i)(https?:)?//", url)]
    assert not off_site, f"Swagger UI loads from another origin: {off_site}"
    assert any(url.endswith("/swagger-ui-bundle.js") for url in assets), assets
    for url in assets:  # favicon, CSS and both bundles, from whitenoise
        asset_status, content = _get(f"{stack.base_url}{url}")
        assert asset_status == 200, url
        assert content, url

    status, schema = _get(f"{stack.base_url}/api/schema/")
    assert status == 200, schema[:500]
    assert schema.startswith(b"openapi:"), schema[:200]


def test_worker_consumes_from_the_file_broker(stack):
    # The project's own app in the same environment: filesystem:// broker and
    # file:// results, exactly as the worker sees them. celery.accumulate is
    # built into every Celery app, so the project needs no test-only task.
    probe = (
        "import json\n"
        "from config.celery import app\n"
        "result = app.send_task('celery.accumulate', args=(1, 2))\n"
        "print(json.dumps({'id': result.id, 'value': result.get(timeout=20)}))\n"
    )
    done = subprocess.run(
        [str(BIN / "python"), "-c", probe],
        cwd=REPO,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=40,
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}\n{stack.log_tail()}"
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["value"] == [1, 2]
    # It travelled through files under VAR_DIR, not some other broker.
    celery_dir = stack.var_dir / "celery"
    assert (celery_dir / "control" / "celery.exchange").is_file()
    assert (celery_dir / "results" / f"celery-task-meta-{answer['id']}").is_file()


def test_beat_runs_and_keeps_its_schedule_under_var(stack):
    deadline = time.monotonic() + 15
    schedule = []
    while not schedule and time.monotonic() < deadline:
        # dbm picks the suffixes: celerybeat-schedule, .db, or .dat/.dir/.bak
        schedule = list(stack.var_dir.glob("celerybeat-schedule*"))
        if not schedule:
            time.sleep(0.25)
    assert schedule, f"beat wrote no schedule under {stack.var_dir}\n{stack.log_tail()}"

    assert stack.honcho.poll() is None, stack.log_tail()
    beats = [
        pid
        for pid, (_, _, argv) in _descendants(stack.honcho.pid).items()
        if any(Path(arg).name == "celery" for arg in argv) and "beat" in argv
    ]
    assert beats, f"no live celery beat under honcho\n{stack.log_tail()}"


def test_the_reconciler_catches_a_missed_check_in_on_the_embedded_defaults(stack):
    """beat → file broker → worker → a pass on SQLite: a person overdue
    gets a missed_checkin alert within a few periods."""
    shell = (
        "from datetime import timedelta\n"
        "from django.utils import timezone\n"
        "from custody.models import Device, Inmate\n"
        "from alerts.models import Alert\n"
        "import sys\n"
        "if sys.argv[-1] == 'overdue':\n"
        "    # The demo readers would scan them: retire the readers first.\n"
        "    Device.objects.update(is_active=False)\n"
        "    person = Inmate.objects.order_by('pk').first()\n"
        "    Inmate.objects.filter(pk=person.pk).update(\n"
        "        next_due_at=timezone.now() - timedelta(hours=1), last_seen_at=None)\n"
        "    print(person.pk)\n"
        "else:\n"
        "    print(Alert.objects.filter(kind='missed_checkin').count())\n"
    )

    def run(arg: str) -> str:
        done = subprocess.run(
            [str(BIN / "python"), "-c", "import django; django.setup()\n" + shell, arg],
            cwd=REPO,
            env=stack.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
        return done.stdout.strip().splitlines()[-1]

    run("overdue")
    deadline = time.monotonic() + HEALTHY_TIMEOUT
    while run("count") == "0":
        assert time.monotonic() < deadline, f"no alert from the worker\n{stack.log_tail()}"
        time.sleep(1)
    # The pass that found it is the heartbeat too. On a busy machine one pass
    # may land later than twice the period (healthz says "stale" meanwhile):
    # the reconciler must be seen on time again, however long that takes here.
    status, body = _healthy(stack)
    assert status == 200, (body, stack.log_tail())
    assert json.loads(body)["reconciler"] == "ok", (body, stack.log_tail())


def test_the_embedded_database_keeps_every_append_only_trigger(stack):
    """SQLite rebuilds a table to alter it and drops its triggers with the
    old one: after every migration, each guarded table still refuses."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(stack.var_dir / "custody.sqlite3")) as db:
        triggers = {
            name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        }
    expected = (
        {
            f"{table}_no_{op}"
            for table in ("custody_checkin", "custody_quarantinedcheckin", "custody_ledgerevent")
            for op in ("update", "delete")
        }
        | {
            f"{table}_no_{op}"
            for table in ("custody_rollcallexpected", "custody_rollcallentry")
            for op in ("update", "delete")
        }
        | {
            "alerts_alert_no_delete",
            "alerts_alert_frozen",
            "alerts_notification_no_delete",
            "custody_rollcall_no_delete",
            "custody_rollcall_final",
            "custody_rollcall_identity",
            "custody_rollcall_result",
        }
    )
    assert expected <= triggers, expected - triggers
