"""Each reconciliation rule: the situation that must fire it, and the near
miss that must not (docs/architecture.md's table)."""

from datetime import timedelta
from types import SimpleNamespace

import pytest
import time_machine
from django.utils import timezone

from alerts.models import Alert, AlertKind, AlertStatus
from alerts.services import alert_resolve
from custody import services
from custody.models import Device, Inmate, LocationKind
from tests import factories
from tests.alerting import reconcile, scan

pytestmark = pytest.mark.django_db

T0 = timezone.now().replace(microsecond=0) - timedelta(days=2)


@pytest.fixture
def w(facility, other_facility, make_user):
    """FJ2: unit A (cells A-01, A-02), unit B (cell B-01), an infirmary; a
    medium-security person in A-01 (seen every 60 min, 5 min grace)."""
    with time_machine.travel(T0, tick=False):
        a1 = factories.CellFactory(facility=facility, code="A-01")
        a2 = factories.CellFactory(facility=facility, code="A-02", parent=a1.parent)
        b1 = factories.CellFactory(facility=facility, code="B-01")
        infirmary = factories.LocationFactory(
            facility=facility, code="INF", kind=LocationKind.INFIRMARY
        )
        # A handheld reader (no location): it may scan anywhere in the facility,
        # which the out-of-place and travel rules need.
        reader, key = factories.device(facility)
        inmate = factories.InmateFactory(
            facility=facility, cell=a1, booking_number="GT-1", admitted_at=T0
        )
        return SimpleNamespace(
            facility=facility,
            other=other_facility,
            a1=a1,
            a2=a2,
            b1=b1,
            infirmary=infirmary,
            reader=reader,
            key=key,
            inmate=inmate,
            sup=make_user("supervisor", facility),
            sup2=make_user("supervisor", facility),
            dest=make_user("supervisor", other_facility),
        )


def alerts(kind=None, **filters):
    qs = Alert.objects.filter(**filters)
    return list(qs.filter(kind=kind) if kind else qs)


def keep_reader_alive(w, at):
    Device.objects.filter(pk=w.reader.pk).update(last_heartbeat_at=at)


# --- missed_checkin ---------------------------------------------------------


def test_inmate_who_stops_checking_in_raises_one_alert(w):
    deadline = T0 + timedelta(minutes=60 + 5)  # admission + interval + grace
    keep_reader_alive(w, deadline)
    assert reconcile(w.facility, deadline).opened == []  # the near miss: exactly at the limit
    report = reconcile(w.facility, deadline + timedelta(seconds=1))
    [alert] = alerts(AlertKind.MISSED_CHECKIN)
    assert report.opened == [alert.pk]
    assert alert.inmate == w.inmate and alert.location == w.a1
    assert alert.severity == "high" and alert.status == AlertStatus.OPEN
    assert alert.due_at == T0 + timedelta(minutes=60)
    # Later passes and a second run of the same instant open nothing more.
    reconcile(w.facility, deadline + timedelta(seconds=1))
    reconcile(w.facility, deadline + timedelta(minutes=3))
    assert len(alerts(AlertKind.MISSED_CHECKIN)) == 1


def test_a_person_seen_on_time_raises_nothing(w):
    scan(w.key, w.inmate, w.a1, T0 + timedelta(minutes=50))
    keep_reader_alive(w, T0 + timedelta(minutes=70))
    reconcile(w.facility, T0 + timedelta(minutes=70))
    assert alerts() == []


def test_seen_again_closes_the_alert_by_itself_with_the_observation(w):
    reconcile(w.facility, T0 + timedelta(minutes=66))
    [alert] = alerts(AlertKind.MISSED_CHECKIN)
    seen = scan(w.key, w.inmate, w.a1, T0 + timedelta(minutes=70))
    reconcile(w.facility, T0 + timedelta(minutes=71))
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED and alert.resolved_by is None
    assert alert.resolved_by_observation["checkin"] == seen["results"][0]["id"]
    assert alert.resolved_by_observation["location"] == "A-01"
    assert alert.resolution


def test_a_new_miss_after_resolution_opens_a_new_alert(w):
    reconcile(w.facility, T0 + timedelta(minutes=66))
    scan(w.key, w.inmate, w.a1, T0 + timedelta(minutes=70))
    reconcile(w.facility, T0 + timedelta(minutes=71))
    keep_reader_alive(w, T0 + timedelta(minutes=136))
    reconcile(w.facility, T0 + timedelta(minutes=136))  # 70 + 60 + 5, plus one
    first, second = sorted(alerts(AlertKind.MISSED_CHECKIN), key=lambda a: a.pk)
    assert first.status == AlertStatus.RESOLVED and second.status == AlertStatus.OPEN
    assert second.due_at == T0 + timedelta(minutes=130)


def test_resolved_by_hand_while_still_unseen_reopens_after_the_realert_time(w, settings):
    settings.ALERT_REALERT_AFTER_SECONDS = 1800
    reconcile(w.facility, T0 + timedelta(minutes=66))
    [alert] = alerts(AlertKind.MISSED_CHECKIN)
    with time_machine.travel(T0 + timedelta(minutes=67), tick=False):
        alert_resolve(alert=alert, by=w.sup, resolution="Lo vi en el patio, lector dañado")
    reconcile(w.facility, T0 + timedelta(minutes=80))
    assert len(alerts(AlertKind.MISSED_CHECKIN)) == 1  # not at once: a person answered
    reconcile(w.facility, T0 + timedelta(minutes=98))
    assert len(alerts(AlertKind.MISSED_CHECKIN, status=AlertStatus.OPEN)) == 1


def test_a_person_who_leaves_on_a_movement_closes_the_alert(w):
    reconcile(w.facility, T0 + timedelta(minutes=66))
    with time_machine.travel(T0 + timedelta(minutes=67), tick=False):
        movement = services.movement_request(
            inmate=w.inmate,
            kind="court",
            by=w.sup,
            expected_back_at=T0 + timedelta(hours=6),
            destination="Juzgado 3",
        )
        services.movement_approve(movement=movement, by=w.sup2)
        services.movement_depart(movement=movement, by=w.sup)
    reconcile(w.facility, T0 + timedelta(minutes=68))
    [alert] = alerts(AlertKind.MISSED_CHECKIN)
    assert alert.status == AlertStatus.RESOLVED
    assert alert.resolved_by_observation["movement"] == movement.pk


# --- overdue_return / overdue_transfer --------------------------------------


def _out(w, kind, **fields):
    with time_machine.travel(T0 + timedelta(minutes=10), tick=False):
        movement = services.movement_request(inmate=w.inmate, kind=kind, by=w.sup, **fields)
        services.movement_approve(movement=movement, by=w.sup2)
        services.movement_depart(movement=movement, by=w.sup)
    return movement


def test_an_outing_past_its_return_time_raises_overdue_return(w):
    back = T0 + timedelta(hours=2)
    movement = _out(w, "medical", expected_back_at=back, destination="Hospital Roosevelt")
    keep_reader_alive(w, back + timedelta(minutes=6))
    reconcile(w.facility, back + timedelta(minutes=5))  # within grace
    assert alerts(AlertKind.OVERDUE_RETURN) == []
    reconcile(w.facility, back + timedelta(minutes=5, seconds=1))
    [alert] = alerts(AlertKind.OVERDUE_RETURN)
    assert alert.movement == movement and alert.severity == "high"
    assert alerts(AlertKind.MISSED_CHECKIN) == []  # out, authorised: not missed
    with time_machine.travel(back + timedelta(minutes=20), tick=False):
        services.movement_arrive(movement=movement, by=w.sup)
    reconcile(w.facility, back + timedelta(minutes=21))
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED
    assert alert.resolved_by_observation["movement"] == movement.pk


def test_a_transfer_not_arrived_in_time_is_critical(w):
    arrival = T0 + timedelta(hours=3)
    movement = _out(w, "transfer", to_facility=w.other, expected_arrival_at=arrival)
    reconcile(w.facility, arrival + timedelta(minutes=4))
    assert alerts(AlertKind.OVERDUE_TRANSFER) == []
    reconcile(w.facility, arrival + timedelta(minutes=6))
    [alert] = alerts(AlertKind.OVERDUE_TRANSFER)
    assert alert.severity == "critical" and alert.details["to_facility"] == w.other.code
    with time_machine.travel(arrival + timedelta(minutes=30), tick=False):
        services.movement_arrive(
            movement=movement, by=w.dest, cell=factories.CellFactory(facility=w.other)
        )
    reconcile(w.facility, arrival + timedelta(minutes=31))
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED


# --- out_of_place -----------------------------------------------------------


def test_a_scan_in_another_unit_raises_out_of_place_and_closes_when_back(w):
    at = T0 + timedelta(minutes=20)
    scan(w.key, w.inmate, w.b1, at)
    reconcile(w.facility, at + timedelta(seconds=10))
    [alert] = alerts(AlertKind.OUT_OF_PLACE)
    assert alert.location == w.b1 and alert.severity == "medium"
    scan(w.key, w.inmate, w.a1, at + timedelta(minutes=30))
    reconcile(w.facility, at + timedelta(minutes=31))
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED
    assert alert.resolved_by_observation["location"] == "A-01"


def test_a_scan_in_the_own_unit_or_an_approved_destination_is_in_place(w):
    at = T0 + timedelta(minutes=20)
    scan(w.key, w.inmate, w.a2, at)  # the neighbouring cell: same unit
    _out(w, "medical", expected_back_at=T0 + timedelta(hours=5), to_location=w.infirmary)
    scan(w.key, w.inmate, w.infirmary, at + timedelta(minutes=30))
    reconcile(w.facility, at + timedelta(minutes=31))
    assert alerts(AlertKind.OUT_OF_PLACE) == []


# --- impossible_travel ------------------------------------------------------


def test_one_person_in_two_units_a_minute_apart_is_impossible_travel(w):
    at = T0 + timedelta(minutes=20)
    scan(w.key, w.inmate, w.a1, at)
    scan(w.key, w.inmate, w.b1, at + timedelta(seconds=60))
    reconcile(w.facility, at + timedelta(minutes=2))
    [alert] = alerts(AlertKind.IMPOSSIBLE_TRAVEL)
    assert alert.details["seconds_apart"] == 60.0
    assert {alert.details["first"]["location"], alert.details["second"]["location"]} == {
        "A-01",
        "B-01",
    }
    scan(w.key, w.inmate, w.a1, at + timedelta(minutes=30))
    reconcile(w.facility, at + timedelta(minutes=31))
    alert.refresh_from_db()
    assert alert.status == AlertStatus.OPEN  # only a person closes it


def test_two_units_further_apart_in_time_than_the_walk_are_fine(w):
    at = T0 + timedelta(minutes=20)
    scan(w.key, w.inmate, w.a1, at)
    scan(w.key, w.inmate, w.a2, at + timedelta(seconds=20))  # same unit
    scan(w.key, w.inmate, w.b1, at + timedelta(minutes=3))  # 2 min walk allowed
    reconcile(w.facility, at + timedelta(minutes=4))
    assert alerts(AlertKind.IMPOSSIBLE_TRAVEL) == []


# --- device_offline ---------------------------------------------------------


def test_a_silent_reader_raises_device_offline_and_closes_on_heartbeat(w):
    keep_reader_alive(w, T0)
    reconcile(w.facility, T0 + timedelta(minutes=10))  # exactly the limit
    assert alerts(AlertKind.DEVICE_OFFLINE) == []
    reconcile(w.facility, T0 + timedelta(minutes=10, seconds=1))
    [alert] = alerts(AlertKind.DEVICE_OFFLINE)
    assert alert.device == w.reader and alert.severity == "medium"
    keep_reader_alive(w, T0 + timedelta(minutes=12))
    reconcile(w.facility, T0 + timedelta(minutes=12, seconds=5))
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED


def test_a_retired_reader_is_not_offline(w):
    Device.objects.filter(pk=w.reader.pk).update(is_active=False)
    reconcile(w.facility, T0 + timedelta(hours=1))
    assert alerts(AlertKind.DEVICE_OFFLINE) == []


def test_a_facility_pass_only_looks_at_its_own_people(w):
    far = factories.InmateFactory(facility=w.other, admitted_at=T0)
    reconcile(w.facility, T0 + timedelta(hours=3))
    assert {a.inmate_id for a in alerts(AlertKind.MISSED_CHECKIN)} == {w.inmate.pk}
    assert Inmate.objects.get(pk=far.pk).facility == w.other


def _pass_queries(facility, people: int, at) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with time_machine.travel(T0, tick=False):
        cell = factories.CellFactory(facility=facility)
        for _ in range(people):
            factories.InmateFactory(facility=facility, cell=cell, admitted_at=T0)
    with CaptureQueriesContext(connection) as opening:
        report = reconcile(facility, at)
    assert len(report.opened) == people
    with CaptureQueriesContext(connection) as steady:
        assert reconcile(facility, at + timedelta(seconds=15)).opened == []
    return len(opening), len(steady)


def test_a_pass_costs_the_same_queries_for_3_or_30_people_due(db):
    at = T0 + timedelta(hours=3)
    few = _pass_queries(factories.FacilityFactory(), 3, at)
    many = _pass_queries(factories.FacilityFactory(), 30, at)
    assert few == many, (few, many)
    # Opening writes more than a quiet pass; both bounded by the rules (one or
    # two statements each: rounds, internal movements and reception among them).
    assert few[1] < few[0] <= 45


def test_a_facility_sets_its_own_limits(w):
    from alerts.models import AlertPolicy

    AlertPolicy.objects.create(
        facility=w.facility, device_offline_after_seconds=120, travel_between_units_seconds=0
    )
    keep_reader_alive(w, T0)
    at = T0 + timedelta(minutes=2, seconds=1)
    scan(w.key, w.inmate, w.a1, at - timedelta(seconds=40))
    scan(w.key, w.inmate, w.b1, at - timedelta(seconds=30))  # the walk check is off
    keep_reader_alive(w, T0)
    reconcile(w.facility, at)
    # The handheld serves no unit: its silence is its own, not a unit's.
    assert sorted(a.kind for a in alerts()) == [
        AlertKind.DEVICE_OFFLINE,
        AlertKind.OUT_OF_PLACE,
    ]


def test_a_missing_person_seen_by_a_reader_raises_out_of_place(w):
    """Declared missing, then scanned: the reader saw someone no movement
    puts anywhere, and the supervisor must hear it at once."""
    Inmate.objects.filter(pk=w.inmate.pk).update(status="missing")
    at = T0 + timedelta(hours=2)
    scan(w.key, w.inmate, w.a1, at)
    reconcile(w.facility, at + timedelta(seconds=10))
    [alert] = alerts(AlertKind.OUT_OF_PLACE)
    assert alert.inmate == w.inmate and alert.location == w.a1
