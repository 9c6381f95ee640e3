"""A broken chain is an alert, not a log line: the daily verification and every
witness run open one critical ``ledger_broken`` alert per facility, delivered,
escalated and recorded like any other, and never closed by a pass."""

from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone, translation

from alerts import tasks
from alerts.models import Alert, AlertStatus, Notification, NotificationChannel
from alerts.services import alert_resolve
from custody.models import LedgerEvent
from tests.alerting import reconcile
from tests.test_ledger import append, change_data, triggers_off

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@pytest.fixture
def channels(facility):
    return [
        NotificationChannel.objects.create(
            facility=facility, level=level, name=f"L{level}", kind="email", target=f"l{level}@x.gt"
        )
        for level in range(2)
    ]


def ledger_broken(facility):
    return Alert.objects.filter(facility=facility, kind="ledger_broken")


def change_seq_2(facility):
    with triggers_off() as cursor:
        cursor.execute(
            "UPDATE custody_ledgerevent SET data = %s WHERE facility_id = %s AND seq = 2",
            ['{"i": 42}', facility.pk],
        )


def test_the_daily_verification_opens_one_critical_alert_delivered_and_on_the_record(
    facility, other_facility, channels
):
    append(facility, 4)
    append(other_facility, 2)
    assert tasks.ledgers_verify() == []
    change_data(facility)  # seq 3

    assert tasks.ledgers_verify() == [facility.code]
    assert tasks.ledgers_verify() == [facility.code]  # still broken: still one alert

    [alert] = ledger_broken(facility)
    assert (alert.severity, alert.status, alert.dedup_key) == (
        "critical",
        "open",
        f"ledger_broken:facility:{facility.pk}",
    )
    assert alert.details["first_bad_seq"] == 3
    assert alert.details["problem"] == "event content was changed"
    assert [(n.channel.level, n.event) for n in Notification.objects.filter(alert=alert)] == [
        (0, "opened")
    ]
    opened = LedgerEvent.objects.filter(facility=facility, action="alert.opened")
    assert [e.data["kind"] for e in opened] == ["ledger_broken"]
    assert not ledger_broken(other_facility).exists()


def test_nobody_acknowledging_it_makes_it_climb_and_a_pass_never_closes_it(facility, channels):
    append(facility, 4)
    change_data(facility)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        tasks.ledgers_verify()
    alert = ledger_broken(facility).get()
    assert alert.escalation_level == 0

    reconcile(facility, start + timedelta(minutes=6))

    alert.refresh_from_db()
    assert (alert.status, alert.escalation_level) == ("open", 1)
    assert Notification.objects.filter(alert=alert, event="escalated", channel=channels[1]).exists()


def test_a_break_resolved_by_hand_reopens_after_the_realert_time_or_at_once_if_it_moved(
    facility, channels, make_user
):
    supervisor = make_user("supervisor", facility)
    append(facility, 4)
    change_data(facility)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        tasks.ledgers_verify()
        alert_resolve(
            alert=ledger_broken(facility).get(),
            by=supervisor,
            resolution="Restored from the backup of last night; see case 2026-114.",
        )
    with time_machine.travel(start + timedelta(minutes=5), tick=False):
        tasks.ledgers_verify()
    assert list(ledger_broken(facility).values_list("status", flat=True)) == ["resolved"]

    later = start + timedelta(seconds=settings.ALERT_REALERT_AFTER_SECONDS + 60)
    with time_machine.travel(later, tick=False):
        tasks.ledgers_verify()
    assert ledger_broken(facility).filter(status=AlertStatus.OPEN).count() == 1


def test_a_new_break_after_a_resolution_opens_at_once(facility, channels, make_user):
    supervisor = make_user("supervisor", facility)  # seq 1
    append(facility, 4)
    change_data(facility)  # seq 3
    tasks.ledgers_verify()
    alert_resolve(
        alert=ledger_broken(facility).get(),
        by=supervisor,
        resolution="Known: the restore test of this morning.",
    )
    change_seq_2(facility)
    tasks.ledgers_verify()
    reopened = ledger_broken(facility).get(status=AlertStatus.OPEN)
    assert reopened.details["first_bad_seq"] == 2


def test_beat_verifies_daily_and_witnesses_every_period_through_the_alerts_app():
    schedule = {entry["task"]: entry for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert schedule["alerts.ledgers_verify"]["schedule"] == 24 * 3600
    assert schedule["alerts.ledgers_witness"]["schedule"] == settings.LEDGER_WITNESS_EVERY_SECONDS
    assert "custody.ledger_jobs_sweep" in schedule
    assert "custody.ledgers_verify" not in schedule


def test_a_break_found_by_an_auditors_verification_opens_the_alert_too(
    facility, channels, make_user, api_as
):
    from custody.models import LedgerJob
    from custody.services.ledger_jobs import ledger_job_run

    auditor = make_user("auditor", facility)
    append(facility, 4)
    change_data(facility)
    job = LedgerJob.objects.create(kind="verify", facility=facility, requested_by=auditor)
    ledger_job_run(job_id=job.pk)
    assert ledger_broken(facility).get().details["first_bad_seq"] == 3

    body = api_as(auditor).get(f"/api/v1/ledger/verify/?facility={facility.code}").json()
    assert body["ok"] is False
    assert ledger_broken(facility).count() == 1  # still the one open alert
