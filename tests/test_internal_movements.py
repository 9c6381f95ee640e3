"""Internal movements paired with returns (issue 19): a person sent to the
yard, the workshop, a visit... is completed by their next observation back in
their cell; ``unpaired_movement`` opens when the return passes without one
and closes by itself when it comes. Unit sessions move a unit at once."""

import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from alerts.models import Alert, AlertKind, AlertStatus
from custody.exceptions import Conflict
from custody.models import (
    CheckIn,
    LedgerEvent,
    Movement,
    MovementKind,
    MovementSession,
    MovementStatus,
)
from custody.selectors.headcount import facility_headcount
from custody.services import count_schedules
from custody.services.checkins import Sender, checkins_ingest
from custody.services.internal_movements import internal_send, session_end, session_start
from tests import factories
from tests.alerting import reconcile
from tests.concurrent import race
from tests.invariants import custody_invariant_problems

pytestmark = pytest.mark.django_db

K, S = MovementKind, MovementStatus
# 10:00 in the facility (America/Guatemala, UTC-6).
NOW = datetime(2026, 11, 24, 16, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _frozen_clock():
    with translation.override("en"), time_machine.travel(NOW, tick=False) as clock:
        yield clock


@pytest.fixture
def w(facility, make_user):
    unit = factories.LocationFactory(facility=facility, code="B", name="Sector B", kind="unit")
    other = factories.LocationFactory(facility=facility, code="C", name="Sector C", kind="unit")
    b1 = factories.CellFactory(facility=facility, parent=unit, code="B-01")
    b2 = factories.CellFactory(facility=facility, parent=unit, code="B-02")
    c1 = factories.CellFactory(facility=facility, parent=other, code="C-01")
    yard = factories.LocationFactory(facility=facility, code="PATIO", kind="yard")
    workshop = factories.LocationFactory(facility=facility, code="TALLER", kind="workshop")
    return SimpleNamespace(
        facility=facility,
        unit=unit,
        other=other,
        b1=b1,
        b2=b2,
        c1=c1,
        yard=yard,
        workshop=workshop,
        ana=factories.InmateFactory(facility=facility, cell=b1, booking_number="GT-1"),
        beto=factories.InmateFactory(facility=facility, cell=b2, booking_number="GT-2"),
        ciro=factories.InmateFactory(facility=facility, cell=c1, booking_number="GT-3"),
        guard=make_user("guard", facility, username="guard"),
        sup=make_user("supervisor", facility, username="sup"),
        auditor=make_user("auditor", facility, username="aud"),
    )


def send(w, inmate=None, *, to=None, hours=1, by=None):
    return internal_send(
        inmate=inmate or w.ana,
        to_location=to or w.yard,
        expected_back_at=NOW + timedelta(hours=hours),
        by=by or w.guard,
    )


def seen(w, inmate, location, at, method="visual"):
    """A guard's scan of ``inmate`` at ``location`` at ``at`` (clock there too)."""
    sender = Sender(
        principal=w.guard, device=None, user=w.guard, facility_ids=frozenset({w.facility.pk})
    )
    item = {
        "id": str(uuid.uuid4()),
        "inmate": inmate.booking_number,
        "location": location.code,
        "method": method,
        "observed_at": at.isoformat(),
    }
    with time_machine.travel(at, tick=False):
        result = checkins_ingest(raw_items=[item], sender=sender)
    assert result.items[0].status == "accepted", result.items[0].errors
    return item["id"]


def alerts(w, kind=AlertKind.UNPAIRED_MOVEMENT):
    return list(Alert.objects.filter(facility=w.facility, kind=kind).order_by("id"))


# --- One person, over a simulated day ----------------------------------------------


def test_sent_to_the_yard_and_seen_back_in_the_cell_completes_with_the_observation(w):
    movement = send(w)
    w.ana.refresh_from_db()
    assert (movement.status, movement.kind, w.ana.status) == (S.DEPARTED, K.INTERNAL, "in_custody")
    assert w.ana.next_due_at is not None  # still watched: missed_checkin applies
    # Seen in the yard: where the record says, so not out of place, and a positive sighting.
    seen(w, w.ana, w.yard, NOW + timedelta(minutes=20))
    assert not CheckIn.objects.get(location=w.yard).out_of_place
    movement.refresh_from_db()
    assert movement.status == S.DEPARTED
    back = seen(w, w.ana, w.b1, NOW + timedelta(minutes=50))
    movement.refresh_from_db()
    assert movement.status == S.COMPLETED
    assert movement.completed_at == NOW + timedelta(minutes=50)
    assert movement.paired_observation["checkin"] == back
    event = LedgerEvent.objects.filter(action="movement.completed").get()
    assert event.subject == "inmate:GT-1" and event.data["paired_by"]["checkin"] == back
    assert event.actor == "user:guard"
    assert not alerts(w)


def test_not_seen_back_opens_unpaired_movement_which_closes_when_seen(w):
    movement = send(w)  # due back 11:00; facility grace 300 s
    assert not reconcile(w.facility, NOW + timedelta(hours=1, minutes=4)).opened
    reconcile(w.facility, NOW + timedelta(hours=1, minutes=6))
    (alert,) = alerts(w)
    assert (alert.severity, alert.status, alert.movement_id) == ("high", "open", movement.pk)
    assert alert.details["to_location"] == "PATIO"
    # Seen in the yard only: still out, still open.
    seen(w, w.ana, w.yard, NOW + timedelta(hours=1, minutes=10))
    reconcile(w.facility, NOW + timedelta(hours=1, minutes=12))
    alert.refresh_from_db()
    assert alert.status == AlertStatus.OPEN
    seen(w, w.ana, w.b1, NOW + timedelta(hours=1, minutes=20))
    reconcile(w.facility, NOW + timedelta(hours=1, minutes=22))
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED
    assert alert.resolved_by_observation["location"] == "B-01"
    assert len(alerts(w)) == 1  # never reopened


def test_the_reconciler_pairs_a_return_that_ingestion_could_not_see(w):
    """A scan stored while the movement was being created (written here
    straight to the table) is paired by the pass before any alert fires."""
    movement = send(w)
    factories.CheckInFactory(inmate=w.ana, location=w.b1, observed_at=NOW + timedelta(minutes=30))
    report = reconcile(w.facility, NOW + timedelta(hours=1, minutes=6))
    assert report.paired == 1 and not alerts(w)
    movement.refresh_from_db()
    assert movement.status == S.COMPLETED
    assert LedgerEvent.objects.filter(action="movement.completed").count() == 1


def test_a_scan_before_the_departure_or_in_another_cell_does_not_pair(w):
    movement = send(w)
    seen(w, w.ana, w.b1, NOW - timedelta(minutes=5))  # buffered, from before
    seen(w, w.ana, w.c1, NOW + timedelta(minutes=5))  # someone else's cell
    movement.refresh_from_db()
    assert movement.status == S.DEPARTED
    assert CheckIn.objects.get(location=w.c1).out_of_place


def test_undeclared_destination_scans_stay_out_of_place(w):
    seen(w, w.beto, w.yard, NOW + timedelta(minutes=5))  # no movement for Beto
    assert CheckIn.objects.get(inmate=w.beto).out_of_place
    reconcile(w.facility, NOW + timedelta(minutes=10))
    assert [a.inmate_id for a in alerts(w, AlertKind.OUT_OF_PLACE)] == [w.beto.pk]
    # With the movement declared, a scan there is in place.
    send(w, w.ana)
    seen(w, w.ana, w.yard, NOW + timedelta(minutes=6))
    reconcile(w.facility, NOW + timedelta(minutes=12))
    assert [a.inmate_id for a in alerts(w, AlertKind.OUT_OF_PLACE)] == [w.beto.pk]


def test_missed_checkin_still_applies_on_an_internal_movement(w):
    send(w, hours=8)
    w.ana.refresh_from_db()
    due = w.ana.next_due_at + timedelta(seconds=w.facility.grace_seconds + 60)
    reconcile(w.facility, due)
    assert w.ana.pk in [a.inmate_id for a in alerts(w, AlertKind.MISSED_CHECKIN)]
    # Present in the headcount only while on schedule, like anyone inside.
    with time_machine.travel(NOW + timedelta(minutes=1), tick=False):
        headcount = facility_headcount(facility=w.facility)
    assert (headcount.expected, headcount.present, headcount.out_authorized) == (3, 3, 0)


def test_limits_and_refusals(w):
    w.facility.internal_movement_max_seconds = 4 * 3600
    w.facility.save()
    w.ana.refresh_from_db()
    with pytest.raises(ValidationError) as exc:
        send(w, hours=5)
    assert "internal_movement_max_seconds" in str(exc.value.message_dict["expected_back_at"])
    with pytest.raises(ValidationError) as exc:
        send(w, to=w.b2)
    assert "to_location" in exc.value.message_dict
    with pytest.raises(PermissionDenied):
        send(w, by=w.auditor)
    send(w)
    with pytest.raises(Conflict):
        send(w, to=w.workshop)  # one open movement per person


def test_two_tablets_sending_the_same_person_make_one_movement(w, transactional_db):
    results = race([lambda: _try_send(w), lambda: _try_send(w)])
    assert sorted(results) == ["conflict", "sent"]
    assert Movement.objects.filter(inmate=w.ana, kind=K.INTERNAL).count() == 1


def test_a_session_and_a_tablet_sending_one_of_its_people_never_make_two(w, transactional_db):
    def session():
        try:
            return len(start(w).sent)
        except Conflict:
            return "conflict"

    results = race([session, lambda: _try_send(w)])
    assert results in ([2, "conflict"], [1, "sent"]), results
    for inmate in (w.ana, w.beto):
        assert Movement.objects.filter(inmate=inmate, status=S.DEPARTED).count() == 1


def test_the_schema_describes_the_endpoints():
    from drf_spectacular.generators import SchemaGenerator

    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    assert "requestBody" in paths["/api/v1/internal-movements/"]["post"]
    start_op = paths["/api/v1/sessions/"]["post"]
    assert {"201", "400", "403", "409"} <= set(start_op["responses"])
    assert "post" in paths["/api/v1/sessions/{id}/end/"]
    assert "overdue" in str(paths["/api/v1/movements/unpaired/"]["get"]["parameters"])


def _try_send(w):
    try:
        send(w)
    except Conflict:
        return "conflict"
    return "sent"


# --- Unit sessions -----------------------------------------------------------------


def start(w, *, excluded=(), hours=1, to=None, unit=None):
    return session_start(
        facility=w.facility,
        unit=unit or w.unit,
        to_location=to or w.yard,
        ends_at=NOW + timedelta(hours=hours),
        by=w.guard,
        excluded=excluded,
    )


def test_a_session_sends_the_unit_but_the_excluded_and_the_already_moving(w):
    other = factories.InmateFactory(facility=w.facility, cell=w.b1, booking_number="GT-4")
    send(w, other, to=w.workshop)
    started = start(w, excluded=["GT-2"])
    assert [m.inmate_id for m in started.sent] == [w.ana.pk]
    assert list(started.skipped) == ["GT-4"]
    assert started.session.excluded == ["GT-2"]
    movement = Movement.objects.get(session=started.session)
    assert (movement.status, movement.to_location, movement.expected_back_at) == (
        S.DEPARTED,
        w.yard,
        NOW + timedelta(hours=1),
    )
    event = LedgerEvent.objects.get(action="movement_session.started")
    assert event.actor == "user:guard" and event.data["sent"] == ["GT-1"]
    with pytest.raises(ValidationError) as exc:
        start(w, excluded=["GT-3"])  # not in this unit
    assert "excluded" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        start(w, unit=w.b1)
    assert "unit" in exc.value.message_dict


def test_ending_a_session_early_brings_the_returns_forward(w):
    started = start(w, hours=2)
    seen(w, w.beto, w.b2, NOW + timedelta(minutes=10))  # Beto is back already
    with time_machine.travel(NOW + timedelta(minutes=30), tick=False):
        session_end(session=started.session, by=w.sup)
    ana = Movement.objects.get(inmate=w.ana, session=started.session)
    assert ana.status == S.DEPARTED and ana.expected_back_at == NOW + timedelta(minutes=30)
    event = LedgerEvent.objects.get(action="movement_session.ended")
    assert event.actor == "user:sup" and event.data["still_out"] == ["GT-1"]
    with pytest.raises(Conflict):
        session_end(session=started.session, by=w.sup)
    reconcile(w.facility, NOW + timedelta(minutes=36))
    assert [a.inmate_id for a in alerts(w)] == [w.ana.pk]


def test_a_session_is_refused_in_the_freeze_before_a_formal_count(w):
    with time_machine.travel(NOW - timedelta(days=1), tick=False):
        count_schedules.count_schedule_create(
            facility=w.facility,
            location=w.unit,
            time_of_day=datetime.strptime("10:10", "%H:%M").time(),
            kind="formal",
            grace_minutes=15,
            by=w.sup,
        )
    with pytest.raises(Conflict) as exc:
        start(w)
    assert exc.value.data["count"]["unit"] == "B"
    assert not MovementSession.objects.exists()
    start(w, unit=w.other)  # another unit is not frozen
    assert custody_invariant_problems() == []


def test_nobody_is_still_out_when_a_formal_count_freezes(w):
    """A formal count at 11:00 freezes from 10:45: a session until 11:00 is
    refused, one until 10:40 goes; another unit's count does not matter."""
    with time_machine.travel(NOW - timedelta(days=1), tick=False):
        count_schedules.count_schedule_create(
            facility=w.facility,
            location=w.unit,
            time_of_day=datetime.strptime("11:00", "%H:%M").time(),
            kind="formal",
            grace_minutes=15,
            by=w.sup,
        )
    with pytest.raises(Conflict) as exc:
        start(w)
    assert "10:45" in exc.value.message and exc.value.data["count"]["unit"] == "B"
    with pytest.raises(Conflict):
        send(w)  # one person of the unit alike
    start(w, hours=40 / 60)
    start(w, unit=w.other)


def test_a_session_of_100_people_takes_a_bounded_number_of_queries(w):
    for n in range(98):
        factories.InmateFactory(
            facility=w.facility, cell=w.b1 if n % 2 else w.b2, booking_number=f"GT-B{n}"
        )
    with CaptureQueriesContext(connection) as queries:
        started = start(w)
    assert len(started.sent) == 100
    assert len(queries) <= 14, [q["sql"][:120] for q in queries]
    # Pairing the whole unit back is one batch, also bounded.
    sender = Sender(
        principal=w.guard, device=None, user=w.guard, facility_ids=frozenset({w.facility.pk})
    )
    back = NOW + timedelta(minutes=40)
    items = [
        {
            "id": str(uuid.uuid4()),
            "inmate": m.inmate.booking_number,
            "location": m.inmate.cell.code,
            "method": "visual",
            "observed_at": back.isoformat(),
        }
        for m in Movement.objects.filter(session=started.session).select_related("inmate__cell")
    ]
    with time_machine.travel(back, tick=False), CaptureQueriesContext(connection) as queries:
        checkins_ingest(raw_items=items, sender=sender)
    assert len(queries) <= 14
    assert not Movement.objects.filter(session=started.session, status=S.DEPARTED).exists()
    assert LedgerEvent.objects.filter(action="movement.completed").count() == 100


def test_sessions_are_never_deleted_nor_rewritten(w):
    started = start(w)
    for change in (
        lambda: MovementSession.objects.filter(pk=started.session.pk).delete(),
        lambda: MovementSession.objects.filter(pk=started.session.pk).update(
            ends_at=NOW + timedelta(hours=5)
        ),
    ):
        with pytest.raises(DatabaseError), transaction.atomic():
            change()
    started.session.refresh_from_db()
    assert started.session.ends_at == NOW + timedelta(hours=1)


# --- API ----------------------------------------------------------------------------


def test_the_api_sends_starts_ends_and_reports(w, api_as):
    guard = api_as(w.guard)
    answer = guard.post(
        "/api/v1/internal-movements/",
        {
            "inmate": "GT-3",
            "to_location": "TALLER",
            "expected_back_at": "2026-11-24T12:00:00-06:00",
        },
        format="json",
    )
    assert answer.status_code == 201, answer.json()
    body = answer.json()
    assert (body["kind"], body["status"], body["to_location"]) == ("internal", "departed", "TALLER")
    assert body["from_location"] == "C-01" and body["departed_by"] == "guard"

    answer = guard.post(
        "/api/v1/sessions/",
        {
            "facility": w.facility.code,
            "unit": "B",
            "to_location": "PATIO",
            "ends_at": "2026-11-24T11:00:00-06:00",
            "excluded": ["GT-2"],
        },
        format="json",
    )
    assert answer.status_code == 201, answer.json()
    started = answer.json()
    assert started["sent"] == ["GT-1"] and started["skipped"] == {}
    assert started["session"]["out"] == ["GT-1"] and started["session"]["returned"] == 0
    assert started["session"]["ends_at"] == "2026-11-24T11:00:00-06:00"
    session_id = started["session"]["id"]
    listed = guard.get("/api/v1/sessions/", {"open": "true"}).json()["results"]
    assert [s["id"] for s in listed] == [session_id]

    report = api_as(w.sup).get("/api/v1/movements/unpaired/", {"facility": w.facility.code})
    assert report.status_code == 200
    assert [(r["inmate"], r["overdue"]) for r in report.json()] == [
        ("GT-1", False),
        ("GT-3", False),
    ]
    with time_machine.travel(NOW + timedelta(hours=1, minutes=1), tick=False):
        overdue = api_as(w.sup).get(
            "/api/v1/movements/unpaired/", {"facility": w.facility.code, "overdue": "true"}
        )
    assert [r["inmate"] for r in overdue.json()] == ["GT-1"]

    ended = guard.post(f"/api/v1/sessions/{session_id}/end/")
    assert ended.status_code == 200 and ended.json()["ended_by"] == "guard"
    again = guard.post(f"/api/v1/sessions/{session_id}/end/")
    assert again.status_code == 409 and "2026-11-24 10:00" in again.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"unit": "B-01"}, "unit"),  # a cell, not a unit
        ({"unit": "NOPE"}, "unit"),
        ({"to_location": "B-02"}, "to_location"),  # a cell is no destination
        ({"ends_at": "2026-11-24T20:00:00-06:00"}, "ends_at"),  # beyond 8 h
        ({"ends_at": "2026-11-24T09:00:00-06:00"}, "ends_at"),  # in the past
        ({"ends_at": "tomorrow"}, "ends_at"),
        ({"excluded": "GT-1"}, "excluded"),
        ({"excluded": ["GT-3"]}, "excluded"),  # not in this unit
        ({"facility": None}, "facility"),
    ],
)
def test_bad_session_input_is_a_clear_400(w, api_as, body, field):
    payload = {
        "facility": w.facility.code,
        "unit": "B",
        "to_location": "PATIO",
        "ends_at": "2026-11-24T11:00:00-06:00",
        **body,
    }
    answer = api_as(w.guard).post("/api/v1/sessions/", payload, format="json")
    assert answer.status_code == 400, answer.content
    assert field in answer.json()["errors"], answer.json()
    assert not MovementSession.objects.exists()


def test_scope_and_roles(w, api_as, other_facility, make_user):
    stranger = make_user("supervisor", other_facility, username="stranger")
    answer = api_as(stranger).post(
        "/api/v1/internal-movements/",
        {"inmate": "GT-1", "to_location": "PATIO", "expected_back_at": "2026-11-24T11:00:00-06:00"},
        format="json",
    )
    assert answer.status_code == 400 and "inmate" in answer.json()["errors"]
    answer = api_as(stranger).post(
        "/api/v1/sessions/",
        {
            "facility": w.facility.code,
            "unit": "B",
            "to_location": "PATIO",
            "ends_at": "2026-11-24T11:00:00-06:00",
        },
        format="json",
    )
    assert answer.status_code == 400 and "facility" in answer.json()["errors"]
    assert api_as(w.auditor).post("/api/v1/sessions/", {}, format="json").status_code == 403
    assert (
        api_as(stranger)
        .get("/api/v1/movements/unpaired/", {"facility": w.facility.code})
        .status_code
        == 404
    )
    started = start(w)
    assert api_as(stranger).post(f"/api/v1/sessions/{started.session.pk}/end/").status_code == 404
    assert not api_as(stranger).get("/api/v1/sessions/").json()["results"]


def test_an_internal_movement_is_not_requested_through_movements(w, api_as):
    answer = api_as(w.sup).post(
        "/api/v1/movements/",
        {"inmate": "GT-1", "kind": "internal", "expected_back_at": "2026-11-24T11:00:00-06:00"},
        format="json",
    )
    assert answer.status_code == 400 and "kind" in answer.json()["errors"]


def test_an_emergency_from_the_yard_takes_over_the_internal_movement(w):
    from custody import services

    movement = send(w)
    with pytest.raises(Conflict):
        services.movement_request(
            inmate=w.ana, kind=K.COURT, by=w.sup, expected_back_at=NOW + timedelta(hours=3)
        )
    emergency = services.movement_request(
        inmate=w.ana,
        kind=K.MEDICAL,
        by=w.sup,
        expected_back_at=NOW + timedelta(hours=3),
        emergency=True,
        emergency_reason="collapsed in the yard",
    )
    movement.refresh_from_db()
    assert movement.status == S.COMPLETED
    assert movement.paired_observation == {"superseded_by": "emergency"}
    assert emergency.status == S.REQUESTED


# --- The tablet page --------------------------------------------------------------


def test_the_tablet_page_starts_shows_and_ends_a_session(w, client):
    client.force_login(w.guard)
    page = client.get("/counts/sessions/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "PATIO" in html and "TALLER" in html and 'value="60" selected' in html
    assert 'action="/counts/sessions/start/"' in html
    answer = client.post(
        "/counts/sessions/start/",
        {"unit": w.unit.pk, "to_location": w.yard.pk, "minutes": 60, "excluded": "GT-2"},
    )
    assert answer.status_code == 302
    session = MovementSession.objects.get()
    assert session.excluded == ["GT-2"] and session.ends_at == NOW + timedelta(hours=1)
    html = client.get("/counts/sessions/").content.decode()
    assert f'data-session="{session.pk}"' in html and "GT-1" in html
    # Too long for the facility: a clear refusal, nothing sent.
    refused = client.post(
        "/counts/sessions/start/",
        {"unit": w.other.pk, "to_location": w.workshop.pk, "minutes": 600},
    )
    assert refused.status_code == 400 and b"internal_movement_max_seconds" in refused.content
    assert client.post(f"/counts/sessions/{session.pk}/end/").status_code == 302
    session.refresh_from_db()
    assert session.ended_by == w.guard
    # An auditor sees, never sends.
    client.force_login(w.auditor)
    assert b'action="/counts/sessions/start/"' not in client.get("/counts/sessions/").content
    assert client.post(f"/counts/sessions/{session.pk}/end/").status_code in (403, 409)


def test_a_longer_internal_movement_limit_waits_for_a_second_officer(w):
    from custody.services.change_kinds import facility_weakens

    before = {"internal_movement_max_seconds": 28800}
    assert facility_weakens(
        target=w.facility, before=before, after={"internal_movement_max_seconds": 36000}
    ) == ["internal_movement_max_seconds"]
    assert not facility_weakens(
        target=w.facility, before=before, after={"internal_movement_max_seconds": 3600}
    )


def test_the_unpaired_query_reads_the_partial_index(w):
    from custody.selectors import due

    query = due.internal_movements_unpaired_query(facility=w.facility, before=NOW)
    sql, params = query.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "movement_internal_due" in plan, plan
