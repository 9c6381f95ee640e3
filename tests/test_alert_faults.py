"""Alerting under real faults: two reconcilers at once, a worker killed in the
middle of a pass, Redis stopped and started again, a webhook receiver that
fails before it answers, and a delivery worker that died holding its claim.

Real PostgreSQL, real Redis (a private one on its own port, never the shared
one), real processes and a real HTTP receiver; time_machine only for clocks.
"""

import contextlib
import hashlib
import hmac
import json
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
import time_machine
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from alerts.models import (
    Alert,
    AlertKind,
    AlertStatus,
    DeliveryStatus,
    Notification,
    NotificationChannel,
    ReconcilerState,
)
from alerts.services import deliver_due, notify, reconcile, reconcile_facility
from alerts.services.notify import CLAIM_LEASE, MAX_ATTEMPTS
from alerts.tasks import deliver_notifications
from config.celery import app as celery_app
from custody import services
from custody.models import Inmate, LedgerEvent, SecurityLevel
from tests import factories
from tests.concurrent import race

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SECRET = "s3cret"


@pytest.fixture(autouse=True)
def _receivers_on_this_machine(settings):
    """The test receivers answer plain http on 127.0.0.1: allowed the way an
    operator allows a gateway on the internal network."""
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def due_prison(count: int, *, admitted_hours_ago: float = 2):
    """A facility whose ``count`` medium-security people (seen every 60 min)
    were admitted ``admitted_hours_ago`` and never scanned since: all due."""
    admitted_at = timezone.now() - timedelta(hours=admitted_hours_ago)
    with time_machine.travel(admitted_at, tick=False):
        facility = factories.FacilityFactory()
        cell = factories.CellFactory(facility=facility, capacity=max(count, 1))
        services.inmates_admit_bulk(
            facility=facility,
            admitted_at=admitted_at,
            rows=[
                {
                    "booking_number": f"{facility.code}-{n:04d}",
                    "first_name": "Recluso",
                    "last_name": f"Número {n}",
                    "security_level": SecurityLevel.MEDIUM,
                    "cell": cell,
                }
                for n in range(count)
            ],
        )
    return facility


def email_channel(facility, level=0, target="jefe.unidad@fraijanes.gt"):
    return NotificationChannel.objects.create(
        facility=facility, level=level, name=f"correo {level}", kind="email", target=target
    )


def opened_in_ledger(facility) -> int:
    return LedgerEvent.objects.filter(facility=facility, action="alert.opened").count()


def database_url() -> str:
    """The test database, for processes started by the test."""
    db = connection.settings_dict
    auth = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        auth += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def backends_waiting_on_a_lock(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND query ILIKE %s",
            [f'%INSERT INTO "{table}"%'],
        )
        return cursor.fetchone()[0]


def backend_state(pid: int) -> str | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT state FROM pg_stat_activity WHERE pid = %s", [pid])
        row = cursor.fetchone()
    return row[0] if row else None


def wait_for(condition, *, timeout: float, interval: float = 0.05, what: str = "condition"):
    """Poll until ``condition()`` is truthy. Timeouts are bounds, generous for a
    machine busy with a parallel suite; a healthy run returns long before."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@contextlib.contextmanager
def captured_warnings(logger_name: str):
    """Records of ``logger_name`` (the suite runs with ``-p no:logging``)."""
    records = []
    handler = logging.Handler(level=logging.WARNING)
    handler.emit = records.append
    logger = logging.getLogger(logger_name)
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


# --- 1. Two reconcilers at once ----------------------------------------------


@pytest.mark.parametrize("state_row", ["first-pass-ever", "state-row-exists"])
@pytest.mark.django_db(transaction=True)
def test_two_reconcilers_at_once_open_each_alert_exactly_once(state_row):
    facility = due_prison(50)
    email_channel(facility)
    now = timezone.now()
    if state_row == "state-row-exists":
        # An earlier pass, before anyone was due, left the state row behind.
        assert reconcile_facility(facility=facility, now=now - timedelta(minutes=90)).opened == []

    reports = race([lambda: reconcile_facility(facility=facility, now=now)] * 4)

    assert None not in reports  # every pass returned (a thread that raised leaves None)
    assert sum(len(r.opened) for r in reports) == 50
    alerts = Alert.objects.filter(facility=facility)
    assert alerts.count() == 50
    assert alerts.values("inmate").distinct().count() == 50
    assert alerts.values("dedup_key").distinct().count() == 50
    assert Notification.objects.filter(alert__facility=facility).count() == 50
    assert opened_in_ledger(facility) == 50
    assert services.ledger_verify(facility=facility).ok


def _open_in_own_transaction(facility, now, *, after_insert=None, results=None, key=None):
    """``reconcile._open`` without the pass's state-row lock, as a second
    worker that slipped past it would call it."""
    try:
        with transaction.atomic():
            context = reconcile._context(facility, ReconcilerState(facility=facility), now)
            findings = reconcile.rules.MissedCheckIn().find(context)
            opened = reconcile._open(facility, findings, [], now)
            if after_insert:
                after_insert()
        results[key] = opened
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
def test_without_the_pass_lock_the_partial_unique_index_still_refuses_a_second_alert():
    facility = due_prison(50)
    now = timezone.now()
    inserted, release = threading.Event(), threading.Event()
    results = {}

    def hold_until_released():
        inserted.set()
        assert release.wait(timeout=20)

    first = threading.Thread(
        target=_open_in_own_transaction,
        args=(facility, now),
        kwargs={"after_insert": hold_until_released, "results": results, "key": "first"},
    )
    second = threading.Thread(
        target=_open_in_own_transaction,
        args=(facility, now + timedelta(microseconds=1)),
        kwargs={"results": results, "key": "second"},
    )
    first.start()
    assert inserted.wait(timeout=20)
    second.start()
    try:
        # The second insert waits on the first's uncommitted index entries:
        # the index, not the state row, is what holds it back.
        wait_for(lambda: backends_waiting_on_a_lock("alerts_alert"), timeout=30, what="a lock")
    finally:
        release.set()
        first.join(timeout=30)
        second.join(timeout=30)

    assert len(results["first"]) == 50
    assert results["second"] == []  # ON CONFLICT DO NOTHING, for every one of the 50
    assert Alert.objects.filter(facility=facility).count() == 50


@pytest.mark.django_db
def test_a_plain_insert_of_a_second_unresolved_alert_with_the_same_key_is_refused(make_user):
    facility = due_prison(1)
    now = timezone.now()
    [alert] = Alert.objects.filter(pk__in=reconcile_facility(facility=facility, now=now).opened)

    def copy(**fields):
        values = {
            "facility": facility,
            "kind": alert.kind,
            "severity": alert.severity,
            "severity_rank": alert.severity_rank,  # bulk_create skips save()
            "dedup_key": alert.dedup_key,
            "inmate": alert.inmate,
            "opened_at": now + timedelta(seconds=1),
        }
        values.update(fields)
        return Alert(**values)

    for status in (AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED):
        refused = pytest.raises(IntegrityError, match="one_unresolved_alert_per_key")
        with refused, transaction.atomic():
            copy(status=status, acknowledged_at=now).save()
    # The same raw insert with ON CONFLICT DO NOTHING, twice: nothing more.
    for _ in range(2):
        Alert.objects.bulk_create([copy()], ignore_conflicts=True)
    assert Alert.objects.filter(dedup_key=alert.dedup_key).count() == 1
    # History is not refused: a resolved alert of the same key can sit beside it.
    copy(
        status=AlertStatus.RESOLVED,
        resolved_at=now,
        resolution="Ocurrencia anterior, cerrada por el supervisor",
        resolved_by=make_user("supervisor", facility),
        acknowledged_at=now,
    ).save()
    assert Alert.objects.filter(dedup_key=alert.dedup_key).count() == 2


# --- 2. A worker killed in the middle of a pass ------------------------------

PAUSED_PASS = """
import sys, time
import django
django.setup()
from django.db import connection
from django.utils.dateparse import parse_datetime
from alerts.services import reconcile
from custody.models import Facility

def pause(*, facility, opened=(), resolved=(), escalated=(), repeated=(), actor=None):
    # Alerts are inserted, nothing is committed: the moment to die.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    print("paused", pid, len(opened), flush=True)
    time.sleep(600)

reconcile.record_alert_events = pause
facility = Facility.objects.get(pk=int(sys.argv[1]))
reconcile.reconcile_facility(facility=facility, now=parse_datetime(sys.argv[2]))
print("committed", flush=True)
"""


def subprocess_env(**extra) -> dict:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings_test",
        DATABASE_URL=database_url(),
        REDIS_URL=settings.REDIS_URL,
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def read_line(process: subprocess.Popen, timeout: float) -> str:
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    if not ready:
        raise AssertionError(f"no output from pid {process.pid} in {timeout} s")
    return process.stdout.readline().decode()


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_pass_commits_nothing_and_the_next_pass_does_it_all():
    facility = due_prison(30)
    email_channel(facility)
    now = timezone.now()
    worker = subprocess.Popen(
        [sys.executable, "-c", PAUSED_PASS, str(facility.pk), now.isoformat()],
        cwd=REPO,
        env=subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        line = read_line(worker, timeout=30)
        assert line.startswith("paused"), line + worker.stderr.read1().decode()
        _, backend_pid, opened = line.split()
        assert int(opened) == 30  # the dying pass had inserted every alert
        assert backend_state(int(backend_pid)) == "idle in transaction"
        assert not Alert.objects.exists()  # uncommitted: invisible to anyone else

        worker.send_signal(signal.SIGKILL)
        assert worker.wait(timeout=10) == -signal.SIGKILL
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=10)
        worker.stdout.close()
        worker.stderr.close()
    # PostgreSQL sees the dead client, rolls back and lets the row locks go.
    wait_for(lambda: backend_state(int(backend_pid)) is None, timeout=30, what="the backend to end")

    assert not Alert.objects.exists()
    assert not Notification.objects.exists()
    # Only the state row survives: it is created, empty, before any pass.
    assert ReconcilerState.objects.get(facility=facility).last_pass_at is None
    assert opened_in_ledger(facility) == 0

    report = reconcile_facility(facility=facility, now=now)
    assert not report.skipped and len(report.opened) == 30
    assert reconcile_facility(facility=facility, now=now + timedelta(seconds=15)).opened == []
    alerts = Alert.objects.filter(facility=facility, kind=AlertKind.MISSED_CHECKIN)
    assert alerts.count() == 30
    assert set(alerts.values_list("inmate", flat=True)) == set(
        Inmate.objects.filter(facility=facility).values_list("pk", flat=True)
    )
    assert Notification.objects.filter(alert__facility=facility).count() == 30
    assert opened_in_ledger(facility) == 30
    assert services.ledger_verify(facility=facility).ok


# --- 3. Redis stopped and started again --------------------------------------


class PrivateRedis:
    """A redis-server of the test's own, on a free port: stopping it harms
    nobody else (the shared Redis on 6379 is never touched)."""

    def __init__(self, directory: Path):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.directory = directory
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--daemonize", "no"),
                *("--dir", str(self.directory)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self.is_up, timeout=30, what=f"redis on {self.port}")

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def is_up(self) -> bool:
        try:
            return redis.Redis.from_url(self.url, socket_connect_timeout=0.5).ping()
        except redis.RedisError:
            return False


@pytest.fixture
def private_redis(tmp_path):
    server = PrivateRedis(tmp_path)
    try:
        yield server
    finally:
        server.stop()


def _drop_broker_connections():
    # The app caches its connection and producer pools: a new broker_url is
    # only used once they are rebuilt.
    if celery_app._pool is not None:
        celery_app._pool.force_close_all()
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@contextlib.contextmanager
def celery_broker(url: str):
    original = celery_app.conf.broker_url
    _drop_broker_connections()
    celery_app.conf.broker_url = url
    try:
        yield
    finally:
        _drop_broker_connections()
        celery_app.conf.broker_url = original


@contextlib.contextmanager
def celery_worker(redis_url: str, mail_dir: Path, log: Path):
    """A real ``celery -A config worker`` on ``redis_url`` and the test
    database, writing e-mails to ``mail_dir``; stopped on the way out."""
    env = subprocess_env(
        REDIS_URL=redis_url,
        EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
        EMAIL_FILE_PATH=str(mail_dir),
    )
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                *(str(BIN / "celery"), "-A", "config", "worker", "--pool=solo", "--loglevel=INFO"),
                *("--without-gossip", "--without-mingle", "--without-heartbeat"),
            ],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_with_redis_down_alerts_open_and_their_mail_goes_out_once_it_is_back(
    private_redis, tmp_path
):
    mail_dir = tmp_path / "mail"
    mail_dir.mkdir()
    facility = due_prison(5)
    email_channel(facility, target="director@fraijanes.gt")
    private_redis.start()
    private_redis.stop()
    assert not private_redis.is_up()

    with celery_broker(private_redis.url):
        # Redis is down: the pass still opens every alert and writes the
        # outbox; the wake-up after commit fails, logged, never raised.
        with captured_warnings("alerts.services.notify") as warnings:
            started = time.monotonic()
            report = reconcile_facility(facility=facility)
            wake_seconds = time.monotonic() - started
        assert len(report.opened) == 5
        assert any("could not wake" in w.getMessage() for w in warnings), warnings
        assert wake_seconds < 15, f"the failed wake-up held the pass for {wake_seconds:.1f} s"
        rows = Notification.objects.filter(alert__facility=facility)
        assert rows.count() == 5
        assert set(rows.values_list("status", flat=True)) == {DeliveryStatus.PENDING}

        private_redis.start()
        log = tmp_path / "worker.log"
        with celery_worker(private_redis.url, mail_dir, log) as worker:
            # What beat's next tick does: the outbox is swept once Redis is back.
            deliver_notifications.apply_async()
            try:
                wait_for(
                    lambda: not rows.exclude(status=DeliveryStatus.SENT).exists(),
                    timeout=60,
                    interval=0.2,
                    what="the worker to send every notification",
                )
            except AssertionError:
                raise AssertionError(log.read_text(errors="replace")[-4000:]) from None
            assert worker.poll() is None, log.read_text(errors="replace")[-4000:]

    assert set(rows.values_list("attempts", flat=True)) == {1}
    mail = "\n".join(p.read_text() for p in sorted(mail_dir.iterdir()))
    assert mail.count("To: director@fraijanes.gt") == 5
    for number in Inmate.objects.filter(facility=facility).values_list("booking_number", flat=True):
        assert mail.count(number) >= 1, number


# --- 4. A webhook receiver that fails before it answers ----------------------


class Receiver:
    """A real HTTP endpoint in a thread: answers the given status codes in
    turn (then 200), after ``delays`` seconds each, and keeps every request."""

    def __init__(self, answers=(), delays=()):
        self.answers, self.delays = list(answers), list(delays)
        self.requests = []  # (headers, body, status answered)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = receiver.answers.pop(0) if receiver.answers else 200
                delay = receiver.delays.pop(0) if receiver.delays else 0
                receiver.requests.append((dict(self.headers), body, status))
                time.sleep(delay)
                with contextlib.suppress(OSError):  # the sender may have given up
                    self.send_response(status)
                    self.send_header("Content-Type", "text/plain")
                    self.end_headers()
                    self.wfile.write(b"ok" if status == 200 else b"no")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/custody"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def receiver():
    made = []

    def make(*args, **kwargs):
        made.append(Receiver(*args, **kwargs))
        return made[-1]

    yield make
    for server in made:
        server.close()


def webhook_alert(target: str, t0):
    """One open alert at ``t0`` whose only channel is a signed webhook."""
    facility = due_prison(1)
    NotificationChannel.objects.create(
        facility=facility, level=0, name="radio", kind="webhook", target=target, secret=SECRET
    )
    with time_machine.travel(t0, tick=False):
        [alert_id] = reconcile_facility(facility=facility, now=t0).opened
    return Notification.objects.get(alert_id=alert_id)


def deliver_at(moment):
    with time_machine.travel(moment, tick=False):
        return deliver_due(now=moment)


def expected_signature(timestamp: str, body: bytes) -> str:
    mac = hmac.new(SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


@pytest.mark.django_db
def test_a_webhook_that_fails_twice_gets_the_same_signed_delivery_until_it_answers(receiver):
    hook = receiver(answers=[503, 503, 200])
    t0 = timezone.now().replace(microsecond=0)
    row = webhook_alert(hook.url, t0)

    assert deliver_at(t0) == {"sent": 0, "retry": 1, "failed": 0}
    row.refresh_from_db()
    assert (row.status, row.attempts) == (DeliveryStatus.PENDING, 1)
    assert row.next_attempt_at == t0 + timedelta(seconds=5)
    assert row.last_error.startswith("HTTP 503")
    assert deliver_at(t0 + timedelta(seconds=3)) == {"sent": 0, "retry": 0, "failed": 0}
    assert deliver_at(t0 + timedelta(seconds=6)) == {"sent": 0, "retry": 1, "failed": 0}
    row.refresh_from_db()
    assert row.next_attempt_at == t0 + timedelta(seconds=6 + 10)  # back-off doubles
    assert deliver_at(t0 + timedelta(seconds=17)) == {"sent": 1, "retry": 0, "failed": 0}

    row.refresh_from_db()
    assert row.status == DeliveryStatus.SENT and row.attempts == 3
    assert row.sent_at == t0 + timedelta(seconds=17) and row.last_error == ""
    assert [status for *_, status in hook.requests] == [503, 503, 200]
    sent_at = [t0, t0 + timedelta(seconds=6), t0 + timedelta(seconds=17)]
    for (headers, body, _status), moment in zip(hook.requests, sent_at, strict=True):
        # The receiver's deduplication key is the same on every try.
        assert headers["X-Custody-Delivery"] == str(row.pk)
        assert headers["X-Custody-Event"] == "opened"
        assert headers["X-Custody-Timestamp"] == str(int(moment.timestamp()))
        assert headers["X-Custody-Signature"] == expected_signature(
            headers["X-Custody-Timestamp"], body
        )
        payload = json.loads(body)
        assert payload["delivery"] == row.pk and payload["alert"]["id"] == row.alert_id
        assert payload["alert"]["kind"] == "missed_checkin"
    # A body changed on the way no longer matches its signature.
    headers, body, _ = hook.requests[-1]
    assert headers["X-Custody-Signature"] != expected_signature(
        headers["X-Custody-Timestamp"], body.replace(b"missed_checkin", b"all_clear")
    )
    assert deliver_at(t0 + timedelta(hours=1)) == {"sent": 0, "retry": 0, "failed": 0}
    assert len(hook.requests) == 3


@pytest.mark.parametrize("refusal", [400, 410])
@pytest.mark.django_db
def test_a_webhook_refused_for_good_fails_after_one_attempt(receiver, refusal):
    hook = receiver(answers=[refusal])
    t0 = timezone.now().replace(microsecond=0)
    row = webhook_alert(hook.url, t0)

    assert deliver_at(t0) == {"sent": 0, "retry": 0, "failed": 1}

    row.refresh_from_db()
    assert row.status == DeliveryStatus.FAILED and row.attempts == 1
    assert row.last_error.startswith(f"HTTP {refusal}")
    assert deliver_at(t0 + timedelta(hours=1)) == {"sent": 0, "retry": 0, "failed": 0}
    assert len(hook.requests) == 1


@pytest.mark.django_db
def test_a_webhook_that_times_out_is_tried_again_with_the_same_delivery_key(receiver, monkeypatch):
    monkeypatch.setattr(notify, "WEBHOOK_TIMEOUT", (1, 0.5))
    hook = receiver(delays=[1.5])  # the first answer comes after the sender gave up
    t0 = timezone.now().replace(microsecond=0)
    row = webhook_alert(hook.url, t0)

    assert deliver_at(t0) == {"sent": 0, "retry": 1, "failed": 0}
    row.refresh_from_db()
    assert row.status == DeliveryStatus.PENDING and row.attempts == 1
    assert "Timeout" in row.last_error
    assert deliver_at(t0 + timedelta(seconds=5)) == {"sent": 1, "retry": 0, "failed": 0}

    row.refresh_from_db()
    assert row.status == DeliveryStatus.SENT and row.attempts == 2
    # The receiver got both (the first arrived, its answer did not): the
    # delivery key is how it knows the second is a repeat.
    assert [h["X-Custody-Delivery"] for h, *_ in hook.requests] == [str(row.pk)] * 2


@pytest.mark.django_db
def test_a_webhook_nobody_listens_on_is_retried_with_back_off_then_given_up():
    t0 = timezone.now().replace(microsecond=0)
    row = webhook_alert(f"http://127.0.0.1:{free_port()}/hooks/custody", t0)

    moment, waits = t0, []
    for attempt in range(1, MAX_ATTEMPTS + 1):
        outcome = deliver_at(moment)
        row.refresh_from_db()
        assert row.attempts == attempt
        if attempt < MAX_ATTEMPTS:
            assert outcome == {"sent": 0, "retry": 1, "failed": 0}
            assert row.status == DeliveryStatus.PENDING
            assert "ConnectionError" in row.last_error
            waits.append((row.next_attempt_at - moment).total_seconds())
            moment = row.next_attempt_at
    assert waits == [5, 10, 20, 40, 80, 160, 320, 640, 900]
    assert outcome == {"sent": 0, "retry": 0, "failed": 1}
    assert row.status == DeliveryStatus.FAILED and "gave up" in row.last_error


@pytest.mark.django_db
def test_a_mail_server_that_refuses_connections_is_retried_until_it_takes_the_mail(
    settings, mailoutbox
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    facility = due_prison(1)
    email_channel(facility)
    t0 = timezone.now().replace(microsecond=0)
    with time_machine.travel(t0, tick=False):
        reconcile_facility(facility=facility, now=t0)

    assert deliver_at(t0) == {"sent": 0, "retry": 1, "failed": 0}
    row = Notification.objects.get(alert__facility=facility)
    assert row.status == DeliveryStatus.PENDING and row.attempts == 1
    assert "ConnectionRefusedError" in row.last_error

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"  # back up
    assert deliver_at(row.next_attempt_at) == {"sent": 1, "retry": 0, "failed": 0}
    row.refresh_from_db()
    assert row.status == DeliveryStatus.SENT and row.attempts == 2
    assert [m.to for m in mailoutbox] == [["jefe.unidad@fraijanes.gt"]]


# --- 5. At least once ----------------------------------------------------------


@pytest.mark.django_db
def test_a_claim_whose_worker_died_is_sent_again_after_the_lease(mailoutbox):
    facility = due_prison(1)
    email_channel(facility)
    t0 = timezone.now().replace(microsecond=0)
    with time_machine.travel(t0, tick=False):
        reconcile_facility(facility=facility, now=t0)
        # A worker claims the row and dies before sending or recording anything.
        [claimed] = notify._claim(t0, 200)
    row = Notification.objects.get(pk=claimed.pk)
    assert (row.status, row.attempts, row.next_attempt_at) == ("pending", 1, t0 + CLAIM_LEASE)

    assert deliver_at(t0 + CLAIM_LEASE / 2) == {"sent": 0, "retry": 0, "failed": 0}
    assert mailoutbox == []
    assert deliver_at(t0 + CLAIM_LEASE + timedelta(seconds=1)) == {
        "sent": 1,
        "retry": 0,
        "failed": 0,
    }

    row.refresh_from_db()
    assert row.status == DeliveryStatus.SENT and row.attempts == 2
    assert len(mailoutbox) == 1 and mailoutbox[0].to == ["jefe.unidad@fraijanes.gt"]
    assert deliver_at(t0 + timedelta(hours=1)) == {"sent": 0, "retry": 0, "failed": 0}
    assert len(mailoutbox) == 1


@pytest.mark.django_db(transaction=True)
def test_two_delivery_workers_at_once_never_send_the_same_row(receiver):
    hook = receiver()
    facility = due_prison(40)
    NotificationChannel.objects.create(
        facility=facility, level=0, name="radio", kind="webhook", target=hook.url, secret=SECRET
    )
    assert len(reconcile_facility(facility=facility).opened) == 40

    outcomes = race([lambda: deliver_due(limit=40)] * 3)

    assert sum(o["sent"] for o in outcomes) == 40
    deliveries = [h["X-Custody-Delivery"] for h, *_ in hook.requests]
    assert len(deliveries) == len(set(deliveries)) == 40
    rows = Notification.objects.filter(alert__facility=facility)
    assert set(rows.values_list("status", "attempts")) == {(DeliveryStatus.SENT, 1)}
