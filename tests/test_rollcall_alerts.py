"""missed_rollcall and count_discrepancy (docs/architecture.md's table): what fires
them, the near miss that must not, how they close and how they climb."""

from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine
from django.utils import timezone

from alerts.models import Alert, AlertKind, AlertStatus, Notification, NotificationChannel
from alerts.services import alert_acknowledge, alert_resolve
from custody.models import CountCall, CountSchedule
from custody.services import rollcalls
from tests.alerting import reconcile
from tests.rollcall_world import count_world, entry

pytestmark = pytest.mark.django_db

# 06:00 in Guatemala (UTC-6) on a day two days ago.
DAY = (timezone.now() - timedelta(days=2)).date()
SLOT = datetime(DAY.year, DAY.month, DAY.day, 12, 0, tzinfo=UTC)
GRACE = timedelta(minutes=15)


@pytest.fixture
def w(facility, make_user):
    with time_machine.travel(SLOT - timedelta(days=1), tick=False):
        world = count_world(facility, make_user)
        world.schedule = CountSchedule.objects.create(
            facility=facility, location=world.unit, time_of_day=time(6, 0), grace_minutes=15
        )
    # The reconciler has been running all along.
    reconcile(facility, SLOT - timedelta(hours=2))
    return world


def passes(facility, start, end, every=timedelta(seconds=15)):
    at = start
    while at <= end:
        reconcile(facility, at)
        at += every


def count(w, *, at, present=None, by="guard", submit_at=None, kind="formal", recount_of=None):
    """A count of the unit started at ``at`` with ``present`` (default: all)
    marked present, submitted at ``submit_at`` (None: left in progress)."""
    with time_machine.travel(at, tick=False):
        rollcall, _ = rollcalls.rollcall_start(
            location=w.unit, kind=kind, by=w.users[by], recount_of=recount_of, now=at
        )
        people = w.people if present is None else [w.people[i] for i in present]
        rollcalls.rollcall_record_entries(
            rollcall=rollcall,
            raw_entries=[entry(p["booking_number"], at=at) for p in people],
            by=w.users[by],
            now=at,
        )
    if submit_at is not None:
        with time_machine.travel(submit_at, tick=False):
            rollcall = rollcalls.rollcall_submit(rollcall=rollcall, by=w.users[by], now=submit_at)
    return rollcall


def alerts(kind):
    return list(Alert.objects.filter(kind=kind).order_by("id"))


# --- missed_rollcall ---------------------------------------------------------------


def test_a_scheduled_count_not_submitted_by_its_grace_raises_one_alert(w):
    passes(w.facility, SLOT - timedelta(minutes=1), SLOT + GRACE)  # up to the deadline itself
    assert alerts(AlertKind.MISSED_ROLLCALL) == []
    passes(w.facility, SLOT + GRACE + timedelta(seconds=15), SLOT + GRACE + timedelta(minutes=2))
    [alert] = alerts(AlertKind.MISSED_ROLLCALL)
    assert alert.location_id == w.unit.pk
    assert alert.severity == "high"
    assert alert.due_at == SLOT + GRACE
    assert alert.details["slot_at"] == SLOT.astimezone(w.facility.tzinfo).isoformat()  # 06:00 local


def test_a_count_submitted_within_the_grace_answers_the_slot(w):
    count(w, at=SLOT - timedelta(minutes=10), submit_at=SLOT + timedelta(minutes=14))
    passes(w.facility, SLOT, SLOT + GRACE + timedelta(minutes=2))
    assert alerts(AlertKind.MISSED_ROLLCALL) == []


def test_a_count_started_before_the_window_does_not_answer(w):
    count(w, at=SLOT - timedelta(minutes=16), submit_at=SLOT - timedelta(minutes=15, seconds=30))
    passes(w.facility, SLOT, SLOT + GRACE + timedelta(minutes=1))
    assert len(alerts(AlertKind.MISSED_ROLLCALL)) == 1


def test_a_count_still_in_progress_at_the_deadline_is_missed_and_named(w):
    rollcall = count(w, at=SLOT + timedelta(minutes=5))
    passes(w.facility, SLOT, SLOT + GRACE + timedelta(seconds=30))
    [alert] = alerts(AlertKind.MISSED_ROLLCALL)
    assert alert.details["in_progress"] == [str(rollcall.pk)]
    # Submitted late: the world fixed it, and the record keeps how late.
    late = SLOT + GRACE + timedelta(minutes=3)
    with time_machine.travel(late, tick=False):
        rollcalls.rollcall_submit(rollcall=rollcall, by=w.users["guard"], now=late)
    reconcile(w.facility, late + timedelta(seconds=15))
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED
    assert alert.resolved_by_observation["rollcall"] == str(rollcall.pk)
    assert alert.resolved_by_observation["late_seconds"] == 180
    # Later passes do not open it again.
    passes(w.facility, late + timedelta(seconds=30), late + timedelta(minutes=3))
    assert len(alerts(AlertKind.MISSED_ROLLCALL)) == 1


def test_a_schedule_for_every_unit_owes_one_count_per_unit(w):
    CountSchedule.objects.filter(pk=w.schedule.pk).update(is_active=False)
    with time_machine.travel(SLOT - timedelta(days=1), tick=False):
        CountSchedule.objects.create(facility=w.facility, time_of_day=time(6, 0), grace_minutes=15)
    count(w, at=SLOT, submit_at=SLOT + timedelta(minutes=5))  # unit B is counted
    passes(w.facility, SLOT, SLOT + GRACE + timedelta(minutes=1))
    assert [a.location_id for a in alerts(AlertKind.MISSED_ROLLCALL)] == [w.other_unit.pk]


def test_a_retired_schedule_owes_nothing(w):
    CountSchedule.objects.filter(pk=w.schedule.pk).update(is_active=False)
    passes(w.facility, SLOT, SLOT + GRACE + timedelta(minutes=1))
    assert alerts(AlertKind.MISSED_ROLLCALL) == []


def test_an_emergency_call_makes_every_unit_due_within_its_grace(w):
    called = SLOT + timedelta(hours=3)
    CountCall.objects.create(
        facility=w.facility,
        called_at=called,
        called_by=w.users["supervisor"],
        grace_minutes=10,
        reason="Fuga reportada en el sector norte",
    )
    count(
        w,
        at=called + timedelta(minutes=1),
        submit_at=called + timedelta(minutes=8),
        kind="emergency",
    )
    passes(w.facility, called, called + timedelta(minutes=10))
    assert alerts(AlertKind.MISSED_ROLLCALL) == []  # not before the deadline
    passes(w.facility, called + timedelta(minutes=10, seconds=15), called + timedelta(minutes=11))
    [alert] = alerts(AlertKind.MISSED_ROLLCALL)
    assert alert.location_id == w.other_unit.pk
    assert alert.details["count_kind"] == "emergency"


# --- count_discrepancy ---------------------------------------------------------------


def test_a_count_with_someone_unaccounted_raises_one_critical_alert(w):
    submitted = SLOT + timedelta(minutes=6)
    rollcall = count(w, at=SLOT, present=range(5), submit_at=submitted)
    passes(w.facility, submitted, submitted + timedelta(seconds=15))
    [alert] = alerts(AlertKind.COUNT_DISCREPANCY)
    assert alert.severity == "critical"
    assert alert.opened_at <= submitted + timedelta(seconds=15)  # within one period
    assert alert.location_id == w.unit.pk
    assert [row["inmate"] for row in alert.details["unaccounted"]] == [w.booking(5)]
    assert alert.details["rollcall"] == str(rollcall.pk)
    passes(w.facility, submitted + timedelta(seconds=30), submitted + timedelta(minutes=2))
    assert len(alerts(AlertKind.COUNT_DISCREPANCY)) == 1


def test_a_clean_count_raises_nothing(w):
    submitted = SLOT + timedelta(minutes=6)
    count(w, at=SLOT, submit_at=submitted)
    passes(w.facility, submitted, submitted + timedelta(minutes=1))
    assert alerts(AlertKind.COUNT_DISCREPANCY) == []


def test_a_recount_that_still_does_not_clear_escalates_at_once(w):
    NotificationChannel.objects.create(
        facility=w.facility, level=1, kind="email", target="director@example.org"
    )
    first = count(w, at=SLOT, present=range(5), submit_at=SLOT + timedelta(minutes=6))
    reconcile(w.facility, SLOT + timedelta(minutes=6, seconds=15))
    [alert] = alerts(AlertKind.COUNT_DISCREPANCY)
    with time_machine.travel(SLOT + timedelta(minutes=7), tick=False):
        alert_acknowledge(alert=alert, by=w.users["supervisor"])
    recount = count(
        w,
        at=SLOT + timedelta(minutes=8),
        present=range(5),
        by="guard2",
        recount_of=first,
        submit_at=SLOT + timedelta(minutes=12),
    )
    reconcile(w.facility, SLOT + timedelta(minutes=12, seconds=15))
    alert.refresh_from_db()
    assert alert.status == AlertStatus.ACKNOWLEDGED
    assert alert.escalation_level == 1  # the director, before any timer ran out
    assert alert.details["rollcall"] == str(first.pk)  # what it is about stays
    assert Notification.objects.filter(alert=alert, event="escalated", level=1).count() == 1
    assert len(alerts(AlertKind.COUNT_DISCREPANCY)) == 1
    # A clean recount of the recount closes it, naming the count that cleared.
    clean = count(
        w,
        at=SLOT + timedelta(minutes=13),
        by="guard2",
        recount_of=recount,
        submit_at=SLOT + timedelta(minutes=16),
    )
    assert clean.recount_of_id == first.pk  # recounts all point at the first count
    reconcile(w.facility, SLOT + timedelta(minutes=16, seconds=15))
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED
    assert alert.resolved_by_observation["rollcall"] == str(clean.pk)


def test_a_failed_recount_after_a_resolution_by_hand_opens_higher(w):
    first = count(w, at=SLOT, present=range(5), submit_at=SLOT + timedelta(minutes=6))
    reconcile(w.facility, SLOT + timedelta(minutes=6, seconds=15))
    [alert] = alerts(AlertKind.COUNT_DISCREPANCY)
    with time_machine.travel(SLOT + timedelta(minutes=7), tick=False):
        alert_resolve(
            alert=alert,
            by=w.users["supervisor"],
            resolution="Lo vi en la enfermería, falta registrar el traslado.",
        )
    count(
        w,
        at=SLOT + timedelta(minutes=30),
        present=range(5),
        recount_of=first,
        submit_at=SLOT + timedelta(minutes=35),
    )
    reconcile(w.facility, SLOT + timedelta(minutes=35, seconds=15))
    opened = alerts(AlertKind.COUNT_DISCREPANCY)
    assert len(opened) == 2
    assert opened[1].status == AlertStatus.OPEN
    assert opened[1].escalation_level == 1


def test_a_missed_slot_is_not_answered_by_the_next_slots_count(w):
    with time_machine.travel(SLOT - timedelta(days=1), tick=False):
        CountSchedule.objects.create(
            facility=w.facility, location=w.unit, time_of_day=time(9, 0), grace_minutes=15
        )
    passes(w.facility, SLOT, SLOT + GRACE + timedelta(minutes=1))
    [alert] = alerts(AlertKind.MISSED_ROLLCALL)
    nine = SLOT + timedelta(hours=3)
    # The 09:00 count (started in its own window) belongs to 09:00, not to 06:00.
    count(w, at=nine - timedelta(minutes=10), submit_at=nine + timedelta(minutes=5))
    passes(w.facility, nine + timedelta(minutes=5), nine + GRACE + timedelta(minutes=1))
    alert.refresh_from_db()
    assert alert.status == AlertStatus.OPEN
    assert len(alerts(AlertKind.MISSED_ROLLCALL)) == 1  # and 09:00 was answered
