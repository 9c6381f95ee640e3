"""The watcher after a start (invariant 8): a stack started, or restarted over
an old database, is not "stale" before its reconciler has had its first
chance; a reconciler that really stops while the rest runs is still caught."""

from datetime import timedelta

import pytest
import time_machine
from django.db import DatabaseError, transaction
from django.utils import timezone

from alerts import tasks
from alerts.models import Alert, AlertKind, ReconcilerStart, ReconcilerState
from alerts.services import policy, reconciler_started, stale_alerts_open
from tests import factories
from tests.alerting import reconcile

pytestmark = pytest.mark.django_db

PERIOD = 15


@pytest.fixture(autouse=True)
def _period(settings):
    settings.RECONCILE_EVERY_SECONDS = PERIOD


@pytest.fixture
def web_process_start():
    """Sets this process's start as config.wsgi does for a web process; unset after."""
    yield policy.process_started
    policy.process_started(None)


@pytest.fixture
def stopped_long_ago():
    """A facility whose last pass was two hours ago: the stack was down since."""
    now = timezone.now().replace(microsecond=0)
    stopped = now - timedelta(hours=2)
    with time_machine.travel(stopped - timedelta(days=1), tick=False):
        facility = factories.FacilityFactory()
    reconcile(facility, stopped)
    return facility, now


def _stale_alerts():
    return Alert.objects.filter(kind=AlertKind.RECONCILER_STALE)


def test_a_worker_started_over_an_old_database_raises_no_stale_alert(client, stopped_long_ago):
    facility, now = stopped_long_ago
    with time_machine.travel(now, tick=False):
        reconciler_started(hostname="worker-1", pid=4242)
    # Its first pass is due within the period; until then nothing is stale.
    with time_machine.travel(now + timedelta(seconds=2 * PERIOD - 1), tick=False):
        response = client.get("/healthz")
        assert response.status_code == 200, response.json()
        assert response.json()["reconciler"] == "ok"
        assert stale_alerts_open() == []
    assert not _stale_alerts().exists()
    # The pass it makes at once: the gap while the stack was down is no alert.
    reconcile(facility, now + timedelta(seconds=1))
    with time_machine.travel(now + timedelta(seconds=2 * PERIOD), tick=False):
        assert client.get("/healthz").status_code == 200
    assert not _stale_alerts().exists()


def test_a_worker_that_starts_and_never_passes_is_stale_after_its_grace(client, stopped_long_ago):
    facility, now = stopped_long_ago
    with time_machine.travel(now, tick=False):
        reconciler_started(hostname="worker-1", pid=4242)
    with time_machine.travel(now + timedelta(seconds=2 * PERIOD + 1), tick=False):
        response = client.get("/healthz")
        assert response.status_code == 503
        assert response.json()["reconciler"] == "stale"
    assert list(_stale_alerts().values_list("facility_id", flat=True)) == [facility.pk]


def test_a_reconciler_that_stops_while_the_rest_runs_is_still_caught(client, stopped_long_ago):
    """Started, passed on time for a while, then the passes stopped: the
    old start gives no grace, and the web's own start (long ago) none either."""
    facility, now = stopped_long_ago
    with time_machine.travel(now, tick=False):
        reconciler_started(hostname="worker-1", pid=4242)
    for tick in range(1, 6):
        reconcile(facility, now + timedelta(seconds=tick * PERIOD))
    last_pass = now + timedelta(seconds=5 * PERIOD)
    with time_machine.travel(last_pass + timedelta(seconds=2 * PERIOD - 1), tick=False):
        assert client.get("/healthz").status_code == 200
    with time_machine.travel(last_pass + timedelta(seconds=2 * PERIOD + 1), tick=False):
        assert client.get("/healthz").status_code == 503
    with time_machine.travel(last_pass + timedelta(seconds=2 * PERIOD + 2), tick=False):
        assert stale_alerts_open() == []  # already open
    assert _stale_alerts().filter(facility=facility).count() == 1


def test_a_web_process_counts_from_its_own_start_until_a_worker_records_one(
    client, stopped_long_ago, web_process_start
):
    """The web can answer before any worker is up: its own start gives the
    grace, so the first /healthz of a restarted stack opens nothing; with no
    worker ever coming up, the stale alert opens two periods later."""
    facility, now = stopped_long_ago
    web_process_start(now)
    with time_machine.travel(now + timedelta(seconds=1), tick=False):
        assert client.get("/healthz").status_code == 200
        assert "banner-danger" not in client.get("/login/").content.decode()
    assert not _stale_alerts().exists()
    with time_machine.travel(now + timedelta(seconds=2 * PERIOD + 1), tick=False):
        assert client.get("/healthz").status_code == 503
    assert _stale_alerts().filter(facility=facility).count() == 1


def test_a_start_after_now_gives_no_grace(client, stopped_long_ago):
    """A start stamped in the future (a clock set forward, then back) cannot
    hold off the watchdog."""
    facility, now = stopped_long_ago
    with time_machine.travel(now + timedelta(hours=1), tick=False):
        reconciler_started(hostname="worker-1", pid=4242)
    with time_machine.travel(now, tick=False):
        assert client.get("/healthz").status_code == 503
    assert _stale_alerts().filter(facility=facility).count() == 1


def test_starts_are_kept_append_only():
    start = reconciler_started(hostname="worker-1", pid=4242)
    for statement in (
        "UPDATE alerts_reconcilerstart SET started_at = now() + interval '1 hour'",
        "DELETE FROM alerts_reconcilerstart",
    ):
        with pytest.raises(DatabaseError), transaction.atomic():
            from django.db import connection

            with connection.cursor() as cursor:
                cursor.execute(statement)
    assert ReconcilerStart.objects.get().started_at == start.started_at


def test_a_booting_worker_records_its_start_and_reconciles_at_once(settings, stopped_long_ago):
    """What celery's worker_ready runs: the start first, then a pass right
    away (eager here) rather than a period later."""
    facility, _now = stopped_long_ago
    settings.CELERY_TASK_ALWAYS_EAGER = True
    from config.celery import app

    app.conf.task_always_eager = True
    try:
        before = timezone.now()
        tasks.reconcile_on_boot()
    finally:
        app.conf.task_always_eager = False
    start = ReconcilerStart.objects.get()
    assert start.started_at >= before and start.pid
    state = ReconcilerState.objects.get(facility=facility)
    assert state.last_pass_at >= start.started_at
    assert not _stale_alerts().exists()
