"""Every departure takes two officers; movements freeze before formal counts
(DESIGN invariant 7; API.md "Movements", "Records", "Alerts").

For each rule: one officer alone is refused (by the service and, written
straight to the table, by the database), the honest two-officer path works.
"""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone, translation

from alerts.audit.period import Period
from alerts.audit.signals import integrity_report
from alerts.models import Alert, AlertKind, AlertStatus, Severity
from alerts.services import reconcile_facility
from custody import services
from custody.exceptions import Conflict
from custody.models import (
    ExtensionStatus,
    InmateStatus,
    LedgerEvent,
    Movement,
    MovementExtension,
    MovementKind,
    MovementStatus,
)
from custody.selectors.rollcalls import rollcall_roster
from custody.services import count_schedules, rollcalls
from tests import factories
from tests.alerting import reconcile
from tests.concurrent import race
from tests.rollcall_world import entry

pytestmark = pytest.mark.django_db

K, S = MovementKind, MovementStatus
OUTINGS = [K.COURT, K.MEDICAL, K.TEMPORARY_RELEASE]
# 12:00 in the facility (America/Guatemala, UTC-6).
NOW = datetime(2026, 11, 24, 18, 0, tzinfo=UTC)
IN_2030 = "2030-01-15T10:00:00-06:00"


@pytest.fixture(autouse=True)
def _english_and_frozen_clock():
    with translation.override("en"), time_machine.travel(NOW, tick=False) as clock:
        yield clock


@pytest.fixture
def w(facility, make_user):
    unit = factories.LocationFactory(facility=facility, code="B", name="Sector B", kind="unit")
    other_unit = factories.LocationFactory(facility=facility, code="C", name="Sector C")
    b1 = factories.CellFactory(facility=facility, parent=unit, code="B-01")
    b2 = factories.CellFactory(facility=facility, parent=unit, code="B-02")
    c1 = factories.CellFactory(facility=facility, parent=other_unit, code="C-01")
    c2 = factories.CellFactory(facility=facility, parent=other_unit, code="C-02")
    return SimpleNamespace(
        facility=facility,
        unit=unit,
        other_unit=other_unit,
        b1=b1,
        b2=b2,
        c1=c1,
        c2=c2,
        inmate=factories.InmateFactory(facility=facility, cell=b1, booking_number="GT-1"),
        neighbour=factories.InmateFactory(facility=facility, cell=c1, booking_number="GT-2"),
        sup=make_user("supervisor", facility, username="sup"),
        sup2=make_user("supervisor", facility, username="sup2"),
        sup3=make_user("admin", facility, username="boss"),
        guard=make_user("guard", facility, username="guard"),
    )


def outing(w, kind=K.MEDICAL, *, by=None, hours=4, inmate=None, **extra):
    return services.movement_request(
        inmate=inmate or w.inmate,
        kind=kind,
        by=by or w.sup,
        expected_back_at=timezone.now() + timedelta(hours=hours),
        destination="Hospital Roosevelt",
        **extra,
    )


def departed(w, kind=K.MEDICAL, **extra):
    movement = outing(w, kind, **extra)
    services.movement_approve(movement=movement, by=w.sup2)
    return services.movement_depart(movement=movement, by=w.sup)


def emergency(w, *, by=None):
    by = by or w.sup
    movement = outing(
        w, K.MEDICAL, by=by, emergency=True, emergency_reason="Chest pain, ambulance called"
    )
    return services.movement_depart(movement=movement, by=by)


def actions(inmate) -> list[str]:
    return list(
        LedgerEvent.objects.filter(subject=f"inmate:{inmate.booking_number}")
        .order_by("seq")
        .values_list("action", flat=True)
    )


def post(client, path, body=None):
    return client.post(path, body or {}, format="json")


def open_alerts(kind):
    return list(Alert.objects.filter(kind=kind).exclude(status=AlertStatus.RESOLVED))


# --- Two officers for every departure ------------------------------------------------


@pytest.mark.parametrize("kind", OUTINGS)
def test_one_officer_cannot_approve_an_outing_and_the_database_refuses_it_too(w, kind):
    movement = outing(w, kind)
    with pytest.raises(PermissionDenied, match="second officer"):
        services.movement_approve(movement=movement, by=w.sup)
    movement.refresh_from_db()
    assert (movement.status, movement.approved_by) == (S.REQUESTED, None)
    rows = Movement.objects.filter(pk=movement.pk)
    with pytest.raises(IntegrityError), transaction.atomic():
        rows.update(status=S.APPROVED, approved_by=w.sup, approved_at=timezone.now())
    with pytest.raises(IntegrityError), transaction.atomic():  # no approval at all
        rows.update(status=S.DEPARTED, departed_by=w.sup, departed_at=timezone.now())
    with pytest.raises(Conflict):  # not approved: the gate stays shut
        services.movement_depart(movement=movement, by=w.sup)

    services.movement_approve(movement=movement, by=w.sup2)
    services.movement_depart(movement=movement, by=w.sup)
    w.inmate.refresh_from_db()
    assert w.inmate.status == InmateStatus.OUT_AUTHORIZED
    assert actions(w.inmate)[-3:] == [
        "movement.requested",
        "movement.approved",
        "movement.departed",
    ]


def test_the_database_refuses_a_departure_written_in_one_piece(w):
    with pytest.raises(IntegrityError), transaction.atomic():
        Movement.objects.create(
            inmate=w.inmate,
            facility=w.facility,
            kind=K.COURT,
            status=S.DEPARTED,
            requested_by=w.sup,
            requested_at=timezone.now(),
            approved_by=w.sup,
            departed_by=w.sup,
            departed_at=timezone.now(),
            expected_back_at=timezone.now() + timedelta(hours=2),
        )


def test_an_emergency_cannot_be_declared_after_the_request(w):
    movement = outing(w, K.MEDICAL)
    with pytest.raises(IntegrityError), transaction.atomic():
        Movement.objects.filter(pk=movement.pk).update(emergency=True, emergency_reason="later")


def test_two_officers_through_the_api(w, english_api_as):
    first, second = english_api_as(w.sup), english_api_as(w.sup2)
    body = {
        "inmate": "GT-1",
        "kind": "temporary_release",
        "expected_back_at": (NOW + timedelta(hours=6)).isoformat(),
    }
    movement = post(first, "/api/v1/movements/", body).json()["id"]
    refused = post(first, f"/api/v1/movements/{movement}/approve/")
    assert refused.status_code == 403 and "second officer" in refused.json()["detail"]
    assert Movement.objects.get(pk=movement).status == S.REQUESTED
    assert post(second, f"/api/v1/movements/{movement}/approve/").status_code == 200
    assert post(first, f"/api/v1/movements/{movement}/depart/").json()["status"] == "departed"


# --- The absence limit ------------------------------------------------------------------


def test_a_medical_return_in_2030_is_refused_naming_expected_back_at(w, api_as):
    body = {"inmate": "GT-1", "kind": "medical", "expected_back_at": IN_2030}
    response = post(api_as(w.sup), "/api/v1/movements/", body)
    assert response.status_code == 400, response.json()
    assert "expected_back_at" in response.json()["errors"]
    assert "max_absence_seconds" in str(response.json()["errors"]["expected_back_at"])
    with pytest.raises(ValidationError) as refused:
        outing(w, K.MEDICAL, hours=24 * 365 * 4)
    assert list(refused.value.message_dict) == ["expected_back_at"]
    assert not Movement.objects.filter(kind=K.MEDICAL).exists()


def test_the_limit_is_the_facilitys_per_kind_counted_from_the_request(w):
    w.facility.max_absence_seconds = {"court": 3600, "medical": 7200, "temporary_release": 60}
    w.facility.save()
    with pytest.raises(ValidationError):
        outing(w, K.COURT, hours=1.01)
    movement = outing(w, K.COURT, hours=1)  # exactly the limit
    assert movement.expected_back_at == NOW + timedelta(hours=1)


@pytest.mark.parametrize(
    "value",
    [
        {"court": 3600},
        {"court": 3600, "medical": 3600, "temporary_release": 3600, "release": 60},
        {"court": 0, "medical": 3600, "temporary_release": 3600},
        {"court": "1h", "medical": 3600, "temporary_release": 3600},
        {"court": 3600.5, "medical": 3600, "temporary_release": 3600},
        {"court": 10**8, "medical": 3600, "temporary_release": 3600},
        [3600, 3600, 3600],
    ],
)
def test_the_facility_api_validates_the_absence_limits(w, api_as, value):
    admin = api_as(w.sup3)
    path = f"/api/v1/facilities/{w.facility.code}/"
    response = admin.patch(path, {"max_absence_seconds": value}, format="json")
    assert response.status_code == 400, response.json()
    assert "max_absence_seconds" in response.json()["errors"]


def test_the_facility_api_shows_and_takes_the_limits_and_the_freeze(w, api_as):
    admin = api_as(w.sup3)
    path = f"/api/v1/facilities/{w.facility.code}/"
    body = admin.get(path).json()
    assert body["max_absence_seconds"] == {
        "court": 57600,
        "medical": 259200,
        "temporary_release": 259200,
    }
    assert body["count_freeze_seconds"] == 900
    for bad in (0, 59, 10**6, "soon", True):
        response = admin.patch(path, {"count_freeze_seconds": bad}, format="json")
        assert response.status_code == 400, (bad, response.json())
        assert "count_freeze_seconds" in response.json()["errors"]
    limits = {"court": 28800, "medical": 86400, "temporary_release": 86400}
    response = admin.patch(
        path, {"max_absence_seconds": limits, "count_freeze_seconds": 1800}, format="json"
    )
    assert response.status_code in (200, 202), response.json()


# --- Extensions -------------------------------------------------------------------------


def test_an_extension_applies_only_when_a_second_officer_approves_it(w):
    movement = departed(w, K.MEDICAL)
    first_deadline = movement.expected_back_at
    later = NOW + timedelta(hours=48)
    extension = services.extension_request(
        movement=movement, by=w.sup, expected_back_at=later, reason="Surgery tomorrow"
    )
    movement.refresh_from_db()
    assert movement.expected_back_at == first_deadline  # nothing moves yet
    with pytest.raises(PermissionDenied, match="second officer"):
        services.extension_approve(extension=extension, by=w.sup)
    extension.refresh_from_db()
    assert extension.status == ExtensionStatus.PENDING
    with pytest.raises(IntegrityError), transaction.atomic():
        MovementExtension.objects.filter(pk=extension.pk).update(
            status=ExtensionStatus.APPROVED, decided_by=w.sup, decided_at=timezone.now()
        )

    services.extension_approve(extension=extension, by=w.sup2)
    movement.refresh_from_db()
    assert movement.expected_back_at == later
    assert actions(w.inmate)[-2:] == [
        "movement.extension_requested",
        "movement.extension_approved",
    ]
    # The overdue_return deadline moved with it.
    reconcile(w.facility, first_deadline + timedelta(minutes=30))
    assert not open_alerts(AlertKind.OVERDUE_RETURN)
    reconcile(w.facility, later + timedelta(minutes=30))
    assert len(open_alerts(AlertKind.OVERDUE_RETURN)) == 1


def test_a_pending_extension_does_not_move_the_deadline(w):
    movement = departed(w, K.COURT)
    services.extension_request(
        movement=movement,
        by=w.sup,
        expected_back_at=NOW + timedelta(hours=10),
        reason="Hearing postponed",
    )
    reconcile(w.facility, movement.expected_back_at + timedelta(minutes=30))
    assert len(open_alerts(AlertKind.OVERDUE_RETURN)) == 1


def test_extensions_through_the_api(w, api_as):
    first, second = api_as(w.sup), api_as(w.sup2)
    movement = departed(w, K.MEDICAL)
    base = f"/api/v1/movements/{movement.pk}"
    later = (NOW + timedelta(hours=30)).isoformat()
    bad = [
        ({"reason": "Surgery"}, "expected_back_at"),
        ({"expected_back_at": later}, "reason"),
        ({"expected_back_at": later, "reason": "x"}, "reason"),
        ({"expected_back_at": IN_2030, "reason": "Long stay"}, "expected_back_at"),
        ({"expected_back_at": "soon", "reason": "Long stay"}, "expected_back_at"),
        ({"expected_back_at": NOW.isoformat(), "reason": "Long stay"}, "expected_back_at"),
    ]
    for body, field in bad:
        response = post(first, f"{base}/extend/", body)
        assert response.status_code == 400, (body, response.json())
        assert field in response.json()["errors"], (body, response.json())
    response = post(first, f"{base}/extend/", {"expected_back_at": later, "reason": "Surgery"})
    assert response.status_code == 201, response.json()
    extension = response.json()
    assert extension["status"] == "pending" and extension["requested_by"] == "sup"
    again = post(first, f"{base}/extend/", {"expected_back_at": later, "reason": "Surgery"})
    assert again.status_code == 409
    approve = f"{base}/extensions/{extension['id']}/approve/"
    assert post(first, approve).status_code == 403
    assert post(second, f"{base}/extensions/99999/approve/").status_code == 404
    response = post(second, approve)
    assert response.status_code == 200, response.json()
    assert response.json()["decided_by"] == "sup2"
    shown = first.get(f"{base}/").json()
    assert shown["expected_back_at"] == "2026-11-25T18:00:00-06:00"
    assert [e["status"] for e in shown["extensions"]] == ["approved"]
    assert post(second, approve).status_code == 409  # decided once


def test_only_a_departed_outing_is_extended(w):
    movement = outing(w, K.COURT)
    with pytest.raises(Conflict):
        services.extension_request(
            movement=movement,
            by=w.sup,
            expected_back_at=NOW + timedelta(hours=8),
            reason="Hearing runs late",
        )


def test_a_rejected_extension_leaves_the_return_where_it_was(w):
    movement = departed(w, K.COURT)
    before = movement.expected_back_at
    extension = services.extension_request(
        movement=movement,
        by=w.sup,
        expected_back_at=NOW + timedelta(hours=8),
        reason="Hearing runs late",
    )
    services.extension_reject(extension=extension, by=w.sup2, reason="Judge said no")
    movement.refresh_from_db()
    assert movement.expected_back_at == before
    with pytest.raises(Conflict):
        services.extension_approve(extension=extension, by=w.sup3)


# --- Emergency medical ---------------------------------------------------------------


def test_an_emergency_leaves_on_one_word_and_is_recorded(w):
    movement = emergency(w)
    assert (movement.status, movement.approved_by, movement.departed_by) == (
        S.DEPARTED,
        None,
        w.sup,
    )
    event = LedgerEvent.objects.filter(action="movement.departed").get()
    assert event.data["emergency"] is True and event.data["unapproved"] is True
    assert event.data["emergency_reason"] == "Chest pain, ambulance called"
    # Neither who asked nor who let them out may approve it afterwards.
    with pytest.raises(PermissionDenied):
        services.movement_approve(movement=movement, by=w.sup)
    other = outing(w, K.MEDICAL, inmate=w.neighbour, emergency=True, emergency_reason="Seizure")
    services.movement_depart(movement=other, by=w.sup2)
    with pytest.raises(PermissionDenied):
        services.movement_approve(movement=other, by=w.sup2)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": "medical", "emergency": True}, "emergency_reason"),
        ({"kind": "medical", "emergency": True, "emergency_reason": "  "}, "emergency_reason"),
        ({"kind": "court", "emergency": True, "emergency_reason": "Urgent"}, "emergency"),
        ({"kind": "medical", "emergency_reason": "Not one"}, "emergency_reason"),
        ({"kind": "medical", "emergency": "maybe"}, "emergency"),
    ],
)
def test_a_bad_emergency_is_refused_naming_the_field(w, api_as, fields, field):
    body = {"inmate": "GT-1", "expected_back_at": (NOW + timedelta(hours=3)).isoformat()}
    response = post(api_as(w.sup), "/api/v1/movements/", {**body, **fields})
    assert response.status_code == 400, response.json()
    assert field in response.json()["errors"]
    assert not Movement.objects.filter(inmate=w.inmate, kind__in=OUTINGS).exists()


def test_an_emergency_nobody_approves_in_30_minutes_opens_one_critical_alert(w):
    movement = emergency(w)
    reconcile(w.facility, NOW + timedelta(minutes=29))
    assert not open_alerts(AlertKind.UNAPPROVED_DEPARTURE)
    reconcile(w.facility, NOW + timedelta(minutes=31))
    reconcile(w.facility, NOW + timedelta(minutes=45))
    [alert] = open_alerts(AlertKind.UNAPPROVED_DEPARTURE)
    assert alert.severity == Severity.CRITICAL and alert.movement_id == movement.pk
    assert alert.details["departed_by"] == "sup"

    with time_machine.travel(NOW + timedelta(minutes=50), tick=False):
        services.movement_approve(movement=movement, by=w.sup2)
    reconcile(w.facility, NOW + timedelta(minutes=51))
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED
    assert alert.resolved_by_observation["approved_by"] == "sup2"
    event = LedgerEvent.objects.filter(action="movement.emergency_approved").get()
    assert event.actor == "user:sup2" and event.data["approved_after_seconds"] == 50 * 60


def test_an_emergency_approved_within_30_minutes_raises_nothing(w):
    movement = emergency(w)
    with time_machine.travel(NOW + timedelta(minutes=20), tick=False):
        services.movement_approve(movement=movement, by=w.sup2)
    movement.refresh_from_db()
    assert movement.status == S.DEPARTED and movement.approved_by == w.sup2
    for minutes in (31, 60, 120):
        reconcile(w.facility, NOW + timedelta(minutes=minutes))
    assert not Alert.objects.filter(kind=AlertKind.UNAPPROVED_DEPARTURE).exists()


# --- The freeze before a formal count --------------------------------------------------


def schedule(w, hhmm, *, unit=None, kind="formal"):
    with time_machine.travel(NOW - timedelta(days=1), tick=False):
        return count_schedules.count_schedule_create(
            facility=w.facility,
            location=unit or w.unit,
            time_of_day=datetime.strptime(hhmm, "%H:%M").time(),
            kind=kind,
            grace_minutes=15,
            by=w.sup,
        )


def count_unit(w, unit):
    rollcall, _ = rollcalls.rollcall_start(location=unit, kind="formal", by=w.guard)
    marks = [entry(line.booking_number) for line in rollcall_roster(rollcall)]
    rollcalls.rollcall_record_entries(rollcall=rollcall, raw_entries=marks, by=w.guard)
    return rollcalls.rollcall_submit(rollcall=rollcall, by=w.guard)


def cell_move(w, to, inmate=None):
    movement = services.movement_request(
        inmate=inmate or w.inmate, kind=K.CELL_MOVE, to_location=to, by=w.sup
    )
    return services.movement_approve(movement=movement, by=w.sup2)


def test_a_cell_move_10_minutes_before_a_formal_count_waits_for_its_submission(
    w, api_as, _english_and_frozen_clock
):
    clock = _english_and_frozen_clock
    planned = schedule(w, "12:10")  # it is 12:00 there
    movement = cell_move(w, w.b2)  # paperwork is allowed; moving is not
    response = post(api_as(w.sup), f"/api/v1/movements/{movement.pk}/arrive/")
    assert response.status_code == 409, response.json()
    body = response.json()
    assert "Sector B" in body["detail"] and "12:10" in body["detail"]
    assert body["count"]["unit"] == "B" and body["count"]["schedule"] == planned.pk
    assert body["count"]["slot_at"] == "2026-11-24T12:10:00-06:00"
    movement.refresh_from_db()
    w.inmate.refresh_from_db()
    assert (movement.status, w.inmate.cell) == (S.APPROVED, w.b1)
    # Another unit is not frozen.
    services.movement_arrive(movement=cell_move(w, w.c2, inmate=w.neighbour), by=w.sup)

    clock.move_to(NOW + timedelta(minutes=5))
    count_unit(w, w.unit)
    services.movement_arrive(movement=movement, by=w.sup)
    w.inmate.refresh_from_db()
    assert w.inmate.cell == w.b2


def test_the_freeze_starts_count_freeze_seconds_before_and_ends_when_the_slot_is_missed(
    w, _english_and_frozen_clock
):
    clock = _english_and_frozen_clock
    schedule(w, "12:20")  # freeze from 12:05 (900 s), missed from 12:35
    movement = cell_move(w, w.b2)
    clock.move_to(NOW + timedelta(minutes=6))
    with pytest.raises(Conflict, match="12:20"):
        services.movement_arrive(movement=movement, by=w.sup)
    clock.move_to(NOW + timedelta(minutes=35))  # nobody counted: missed_rollcall's business
    services.movement_arrive(movement=movement, by=w.sup)


def test_an_informal_count_does_not_freeze(w):
    schedule(w, "12:10", kind="informal")
    services.movement_arrive(movement=cell_move(w, w.b2), by=w.sup)


def test_departures_freeze_but_an_emergency_medical_does_not(w):
    schedule(w, "12:10")
    movement = outing(w, K.COURT)
    services.movement_approve(movement=movement, by=w.sup2)
    with pytest.raises(Conflict, match="Sector B"):
        services.movement_depart(movement=movement, by=w.sup)
    services.movement_cancel(movement=movement, by=w.sup)
    rushed = emergency(w)
    assert rushed.status == S.DEPARTED
    event = LedgerEvent.objects.filter(action="movement.departed").get()
    assert event.data["count_freeze_overridden"][0]["unit"] == "B"


def test_the_pages_show_the_freeze(w, client):
    from tests.second_factor import sign_in

    schedule(w, "12:10")
    sign_in(client, w.sup)
    banner = "Movements frozen until the 12:10 count of Sector B is submitted."
    client.cookies["django_language"] = "en"
    for url in ("/counts/", f"/counts/schedules/{w.facility.code}/"):
        page = client.get(url)
        assert page.status_code == 200, url
        assert banner in " ".join(page.content.decode().split()), url
    count_unit(w, w.unit)
    assert banner not in " ".join(client.get("/counts/").content.decode().split())


# --- Collusion: the same two officers ---------------------------------------------------


def test_auditors_see_the_same_pair_approving_each_others_departures(w, make_user):
    people = [
        factories.InmateFactory(facility=w.facility, cell=w.b2, booking_number=f"GT-P{n}")
        for n in range(6)
    ]
    for n, person in enumerate(people):
        maker, checker = (w.sup, w.sup2) if n % 2 else (w.sup2, w.sup)
        movement = outing(w, K.COURT, by=maker, inmate=person)
        services.movement_approve(movement=movement, by=checker)
    # One approval with a third officer: not their pair.
    third = outing(w, K.COURT, by=w.sup3, inmate=w.neighbour)
    services.movement_approve(movement=third, by=w.sup)

    with translation.override("en"):
        report = integrity_report(
            facility=w.facility,
            period=Period(
                since=NOW - timedelta(days=1), until=NOW + timedelta(days=1), tz=w.facility.tzinfo
            ),
        )
    found = report.signal("same_pair_approving_movements")
    assert found.fired
    [row] = [r.values for r in found.rows]
    assert row[:6] == ["sup", "sup2", 6, 3, 3, 85.7]


# --- Two passes at once -------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_passes_open_one_unapproved_departure(facility, make_user):
    cell = factories.CellFactory(facility=facility, code="B-01")
    inmate = factories.InmateFactory(facility=facility, cell=cell, booking_number="GT-9")
    sup = make_user("supervisor", facility)
    movement = services.movement_request(
        inmate=inmate,
        kind=K.MEDICAL,
        by=sup,
        expected_back_at=NOW + timedelta(hours=3),
        emergency=True,
        emergency_reason="Stabbed in the yard",
    )
    services.movement_depart(movement=movement, by=sup)
    at = NOW + timedelta(minutes=40)
    race([lambda: reconcile_facility(facility=facility, now=at)] * 2)
    assert Alert.objects.filter(kind=AlertKind.UNAPPROVED_DEPARTURE).count() == 1


# --- The admin does not go around the rules ---------------------------------------------


def test_the_admin_only_shows_movements_and_extensions(w, client):
    from custody.models import User
    from tests.second_factor import sign_in

    sign_in(client, User.objects.create_superuser("root", "root@example.org", "a-long-pass-2026"))
    movement = departed(w, K.MEDICAL)
    extension = services.extension_request(
        movement=movement, by=w.sup, expected_back_at=NOW + timedelta(hours=9), reason="Surgery"
    )
    for model, pk in (("movement", movement.pk), ("movementextension", extension.pk)):
        assert client.get(f"/admin/custody/{model}/").status_code == 200, model
        assert client.get(f"/admin/custody/{model}/add/").status_code == 403, model
        change = f"/admin/custody/{model}/{pk}/change/"
        assert client.post(change, {"status": "approved"}).status_code == 403, model
    extension.refresh_from_db()
    assert extension.status == ExtensionStatus.PENDING
