"""Issue 18: the alerts rounds raise — a missed round, a round too fast to
have been walked, and someone an officer saw in trouble."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from alerts.models import Alert, AlertKind, AlertPolicy, AlertStatus
from custody.models import Location
from custody.services.inmates import inmate_update
from custody.services.rounds import rounds_ingest
from tests import factories
from tests.alerting import reconcile
from tests.rounds_world import check, rounds_world


@pytest.fixture
def world(facility, make_user):
    return rounds_world(facility, make_user, cells=3, per_cell=1)


def ingest(world, items, *, now, officer=None):
    return rounds_ingest(
        raw_items=items, officer=officer or world.users["guard"], device=world.tablet, now=now
    )


def alerts(kind):
    return list(Alert.objects.filter(kind=kind).order_by("id"))


def test_an_occupied_cell_past_its_hour_raises_missed_round_until_checked(world):
    now = timezone.now()
    ingest(world, [check(world, c.code, at=now) for c in world.cells], now=now)
    reconcile(world.facility, now + timedelta(minutes=61))  # within the grace
    assert alerts(AlertKind.MISSED_ROUND) == []
    late = now + timedelta(minutes=63)
    reconcile(world.facility, late)
    missed = alerts(AlertKind.MISSED_ROUND)
    assert {a.location.code for a in missed} == {"R-01", "R-02", "R-03", "RX-01"}
    assert {a.severity for a in missed} == {"high"}
    ingest(world, [check(world, "R-01", at=late)], now=late)
    reconcile(world.facility, late + timedelta(seconds=10))
    closed = Alert.objects.get(kind=AlertKind.MISSED_ROUND, location__code="R-01")
    assert closed.status == AlertStatus.RESOLVED and closed.resolved_by is None
    assert closed.resolved_by_observation["last_round_at"] == late.isoformat()
    still = Alert.objects.filter(kind=AlertKind.MISSED_ROUND, status=AlertStatus.OPEN)
    assert still.count() == 3


def test_an_empty_cell_is_no_missed_round(world, facility):
    empty = factories.CellFactory(facility=facility, parent=world.unit, code="R-09")
    from custody.services import round_tags

    round_tags.tag_register(location=empty, kind="qr", by=world.users["admin"])
    now = timezone.now()
    reconcile(world.facility, now + timedelta(hours=3))
    assert "R-09" not in {a.location.code for a in alerts(AlertKind.MISSED_ROUND)}


def test_a_person_on_close_watch_is_missed_after_fifteen_minutes_and_it_is_critical(world):
    now = timezone.now()
    ingest(world, [check(world, c.code, at=now) for c in world.cells], now=now)
    person = world.people["R-02"][0]
    inmate_update(inmate=person, by=world.users["supervisor"], watch_level="close")
    ingest(world, [check(world, "R-02", at=now + timedelta(minutes=1))], now=now)
    reconcile(world.facility, now + timedelta(minutes=19))
    missed = Alert.objects.get(kind=AlertKind.MISSED_ROUND, inmate=person)
    assert missed.severity == "critical"
    # The cell's own hour is not up: only the person is missed.
    assert not Alert.objects.filter(kind=AlertKind.MISSED_ROUND, inmate__isnull=True).exists()


def test_two_scans_too_close_for_the_walk_raise_implausible_round(world):
    AlertPolicy.objects.update_or_create(
        facility=world.facility,
        defaults={"travel_between_units_seconds": 120, "round_seconds_per_cell": 10},
    )
    now = timezone.now()
    ingest(
        world,
        [
            check(world, "R-01", at=now),
            check(world, "R-02", at=now + timedelta(seconds=30)),  # same unit, fine
            check(world, "RX-01", at=now + timedelta(seconds=45)),  # another unit: 15 s
        ],
        now=now + timedelta(seconds=50),
    )
    reconcile(world.facility, now + timedelta(seconds=60))
    found = alerts(AlertKind.IMPLAUSIBLE_ROUND)
    assert len(found) == 1
    assert found[0].details["officer"] == world.users["guard"].username
    assert found[0].details["seconds_apart"] == 15.0
    assert found[0].details["seconds_needed"] == 120.0
    assert found[0].location.code == "RX-01"


def test_a_walk_at_a_believable_pace_raises_nothing(world):
    now = timezone.now()
    ingest(
        world,
        [
            check(world, "R-01", at=now),
            check(world, "R-02", at=now + timedelta(seconds=20)),
            check(world, "RX-01", at=now + timedelta(minutes=4)),
        ],
        now=now + timedelta(minutes=4, seconds=5),
    )
    reconcile(world.facility, now + timedelta(minutes=5))
    assert alerts(AlertKind.IMPLAUSIBLE_ROUND) == []


@pytest.mark.django_db(transaction=True)
def test_someone_needing_attention_opens_an_alert_at_once(facility, make_user):
    world = rounds_world(facility, make_user, cells=2, per_cell=1)
    now = timezone.now()
    person = world.people["R-01"][0]
    with transaction.atomic():
        ingest(world, [check(world, "R-01", at=now, state="needs_attention")], now=now)
        assert alerts(AlertKind.ROUND_ATTENTION) == []  # on commit, not before
    found = alerts(AlertKind.ROUND_ATTENTION)
    assert len(found) == 1
    assert found[0].inmate == person and found[0].details["state"] == "needs_attention"
    assert found[0].location.code == "R-01"
    # The next pass sees the same observation: still one alert.
    reconcile(world.facility, now + timedelta(seconds=30))
    assert len(alerts(AlertKind.ROUND_ATTENTION)) == 1


def test_the_pass_opens_round_attention_when_the_signal_was_lost(world):
    from custody import signals

    receivers = signals.round_attention_observed.receivers
    signals.round_attention_observed.receivers = []
    try:
        now = timezone.now()
        ingest(world, [check(world, "R-02", at=now, state="view_obstructed")], now=now)
    finally:
        signals.round_attention_observed.receivers = receivers
    reconcile(world.facility, now + timedelta(seconds=30))
    found = alerts(AlertKind.ROUND_ATTENTION)
    assert [a.details["state"] for a in found] == ["view_obstructed"]


def test_a_round_alert_reaches_the_unit_channel(world):
    from alerts.models import NotificationChannel, alert_unit_id

    NotificationChannel.objects.create(
        facility=world.facility,
        name="Supervisor R",
        kind="email",
        target="r@example.org",
        unit=world.unit,
    )
    now = timezone.now()
    ingest(world, [check(world, c.code, at=now) for c in world.cells], now=now)
    reconcile(world.facility, now + timedelta(minutes=70))
    missed = Alert.objects.get(kind=AlertKind.MISSED_ROUND, location__code="R-01")
    assert alert_unit_id(missed) == world.unit.pk
    assert missed.notifications.exists()
    assert Location.objects.get(code="R-01").round_deadline_at == now + timedelta(minutes=60)


def test_a_lower_level_approved_by_a_second_officer_closes_the_missed_round(world):
    from custody.services.changes import change_approve, change_submit

    now = timezone.now()
    cell = Location.objects.get(code="R-01")
    cell.watch_level = "close"
    cell.save()
    ingest(world, [check(world, c.code, at=now) for c in world.cells], now=now)
    late = now + timedelta(minutes=20)
    reconcile(world.facility, late)
    missed = Alert.objects.get(kind=AlertKind.MISSED_ROUND, location=cell)
    assert missed.severity == "critical"
    supervisor = world.users["supervisor"]
    lower = {"watch_level": "standard"}
    outcome = change_submit(kind="location", target=cell, fields=lower, by=supervisor)
    assert outcome.change is not None  # waits for a second officer
    change_approve(change=outcome.change, by=world.users["supervisor2"])
    reconcile(world.facility, late + timedelta(seconds=10))
    missed.refresh_from_db()
    assert missed.status == AlertStatus.RESOLVED
    assert missed.resolved_by is None
    assert "round_deadline_at" in missed.resolved_by_observation  # not a check
