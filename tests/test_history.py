"""GET /api/v1/inmates/{booking_number}/history/: one timeline of what was
observed, moved and recorded about a person, oldest first, a page at a time,
at the same few queries however long the history is."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from custody import services
from custody.models import DEPARTURE_KINDS, LedgerEvent, Movement
from custody.services.ledger import PendingEvent
from tests import factories

pytestmark = pytest.mark.django_db

T0 = timezone.now() - timedelta(days=2)


@pytest.fixture
def inmate(facility):
    cell = factories.CellFactory(facility=facility, code="A-01")
    return factories.InmateFactory(
        facility=facility, cell=cell, booking_number="GT-7", admitted_at=T0 - timedelta(days=1)
    )


def checkin(inmate, at, **kwargs):
    return factories.CheckInFactory(inmate=inmate, observed_at=at, **kwargs)


def movement(inmate, at, officer, **kwargs):
    kwargs = {
        "facility": inmate.facility,
        "kind": "court",
        "status": "completed",
        "destination": "Juzgado 3",
        **kwargs,
    }
    if kwargs["kind"] in DEPARTURE_KINDS and "approved_by" not in kwargs:
        # Every departure has a second officer (the database refuses one alone).
        kwargs["approved_by"] = factories.UserFactory(
            role="supervisor", facilities=[inmate.facility]
        )
    return Movement.objects.create(
        inmate=inmate,
        requested_by=officer,
        requested_at=at,
        departed_at=at + timedelta(hours=1),
        completed_at=at + timedelta(hours=5),
        **kwargs,
    )


def note(inmate, at, facility=None, **data):
    return services.ledger_append(
        facility=facility or inmate.facility,
        actor=None,
        action="inmate.note",
        subject=f"inmate:{inmate.booking_number}",
        data=data,
        at=at,
    )


def history(client, booking_number="GT-7", query=""):
    response = client.get(f"/api/v1/inmates/{booking_number}/history/{query}")
    assert response.status_code == 200, response.content
    return response.json()


def mine(entries, ids):
    return [(e["type"], e["id"]) for e in entries if e["id"] in ids]


def test_checkins_movements_and_ledger_events_make_one_timeline_oldest_first(
    inmate, make_user, api_as
):
    officer = make_user("supervisor", inmate.facility)
    a = checkin(inmate, T0 + timedelta(minutes=1))
    m = movement(inmate, T0 + timedelta(minutes=2), officer)
    e = note(inmate, T0 + timedelta(minutes=3), text="visita")
    b = checkin(inmate, T0 + timedelta(minutes=4))
    # At one instant: check-in, then ledger, then movement (by type).
    tie = T0 + timedelta(minutes=5)
    tm, tc, te = movement(inmate, tie, officer), checkin(inmate, tie), note(inmate, tie)

    body = history(api_as(officer))
    ids = {str(x.id) for x in (a, m, e, b, tm, tc, te)}
    assert mine(body["results"], ids) == [
        ("checkin", str(a.id)),
        ("movement", str(m.id)),
        ("ledger", str(e.id)),
        ("checkin", str(b.id)),
        ("checkin", str(tc.id)),
        ("ledger", str(te.id)),
        ("movement", str(tm.id)),
    ]
    times = [entry["at"] for entry in body["results"]]
    assert times == sorted(times)
    assert body["count"] == len(body["results"])


def test_ids_sort_as_numbers_within_one_instant(inmate, make_user, api_as):
    # Ledger events appended together share their time; the id decides.
    at = T0 + timedelta(minutes=1)
    common = {"facility": inmate.facility, "at": at, "actor": "system", "prev_hash": "", "hash": ""}
    for pk in (10_000_000, 9_999_999):
        LedgerEvent.objects.create(
            id=pk, seq=pk, action="inmate.note", subject="inmate:GT-7", **common
        )
    body = history(api_as(make_user("auditor", inmate.facility)))
    assert mine(body["results"], {"9999999", "10000000"}) == [
        ("ledger", "9999999"),
        ("ledger", "10000000"),
    ]


def test_entries_say_what_happened_in_facility_time(inmate, make_user, api_as):
    guard = make_user("guard", inmate.facility)
    device, _key = factories.device(inmate.facility, name="reader-A")
    c = checkin(inmate, T0, device=device, recorded_by=guard, out_of_place=True)
    m = movement(inmate, T0 + timedelta(minutes=1), guard)
    e = note(inmate, T0 + timedelta(minutes=2), text="visita")

    entries = {x["id"]: x for x in history(api_as(guard))["results"]}
    seen = entries[str(c.id)]
    assert seen["type"] == "checkin"
    assert seen["at"].endswith("-06:00")  # America/Guatemala
    assert seen["summary"] == {
        "facility": inmate.facility.code,
        "location": "A-01",
        "method": "fingerprint",
        "biometric": True,
        "score": 0.93,
        "out_of_place": True,
        "device": str(device.pk),
        "device_name": "reader-A",
        "recorded_by": guard.username,
        "received_at": (c.received_at.astimezone(inmate.facility.tzinfo).isoformat()),
    }
    moved = entries[str(m.id)]["summary"]
    assert (moved["kind"], moved["status"], moved["destination"]) == (
        "court",
        "completed",
        "Juzgado 3",
    )
    assert moved["requested_by"] == guard.username
    assert moved["completed_at"] == m.completed_at.astimezone(inmate.facility.tzinfo).isoformat()
    assert moved["approved_at"] is None
    recorded = entries[str(e.id)]["summary"]
    assert recorded == {
        "facility": inmate.facility.code,
        "seq": e.seq,
        "actor": "system",
        "action": "inmate.note",
        "data": {"text": "visita"},
    }


def test_history_is_paginated(inmate, make_user, api_as):
    for minute in range(7):
        checkin(inmate, T0 + timedelta(minutes=minute))
    client = api_as(make_user("auditor", inmate.facility))
    whole = history(client, query="?page_size=500")
    first = history(client, query="?page_size=3")
    second = history(client, query="?page_size=3&page=2")
    assert first["count"] == whole["count"] >= 7
    assert first["next"].endswith("page=2&page_size=3")
    assert first["results"] + second["results"] == whole["results"][:6]
    assert (
        api_as(make_user("auditor", inmate.facility))
        .get("/api/v1/inmates/GT-7/history/?page_size=0")
        .status_code
        == 400
    )


def test_a_page_costs_the_same_queries_however_long_the_history(
    inmate, make_user, api_as, django_assert_max_num_queries
):
    officer = make_user("supervisor", inmate.facility)
    client = api_as(officer)
    checkin(inmate, T0)

    def queries():
        with CaptureQueriesContext(connection) as captured:
            history(client, query="?page_size=100")
        return len(captured)

    short = queries()
    for minute in range(1, 60):
        checkin(inmate, T0 + timedelta(minutes=minute))
    for hour in range(1, 6):
        movement(inmate, T0 + timedelta(hours=hour), officer)
    services.ledger_append_many(
        facility=inmate.facility,
        events=[PendingEvent("inmate.note", "inmate:GT-7", {"i": i}) for i in range(20)],
    )
    assert queries() == short
    with django_assert_max_num_queries(10):
        body = history(client, query="?page_size=100")
    assert body["count"] >= 85


def test_history_is_for_the_inmates_facilities_only(
    inmate, facility, other_facility, make_user, api_as
):
    note(inmate, T0, facility=other_facility, text="elsewhere")
    for role in ("guard", "supervisor", "auditor", "admin"):
        assert (
            api_as(make_user(role, facility)).get("/api/v1/inmates/GT-7/history/").status_code
            == 200
        )
    outsider = api_as(make_user("admin", other_facility))
    assert outsider.get("/api/v1/inmates/GT-7/history/").status_code == 404
    assert (
        api_as(make_user("auditor", facility)).get("/api/v1/inmates/NOPE/history/").status_code
        == 404
    )
    _device, key = factories.device(facility)
    assert api_as(device_key=key).get("/api/v1/inmates/GT-7/history/").status_code == 403
    assert api_as().get("/api/v1/inmates/GT-7/history/").status_code == 401

    # Another facility's chain mentions the inmate: only those who see it read it.
    def noted_elsewhere(client):
        return [
            e
            for e in history(client)["results"]
            if e["summary"].get("data") == {"text": "elsewhere"}
        ]

    assert noted_elsewhere(api_as(make_user("auditor", facility))) == []
    assert len(noted_elsewhere(api_as(make_user("auditor", facility, other_facility)))) == 1


def test_an_incoming_transfer_is_in_the_receiving_facilitys_history(
    inmate, facility, other_facility, make_user, api_as
):
    officer = make_user("supervisor", facility)
    transfer = movement(inmate, T0, officer, kind="transfer", to_facility=other_facility)
    # The inmate now lives in the receiving facility.
    inmate.facility = other_facility
    inmate.cell = factories.CellFactory(facility=other_facility)
    inmate.save()
    receiving = api_as(make_user("auditor", other_facility))
    entries = history(receiving)["results"]
    assert ("movement", str(transfer.id)) in mine(entries, {str(transfer.id)})


def test_pages_of_the_timeline_join_up_into_the_whole_of_it(inmate, make_user, api_as):
    """Each page takes only its own rows from each branch; stitched together,
    the pages are exactly the timeline, in order, with nothing twice."""
    officer = make_user("supervisor", inmate.facility)
    client = api_as(officer)
    for minute in range(0, 60, 2):
        checkin(inmate, T0 + timedelta(minutes=minute))
    for minute in range(1, 60, 7):
        note(inmate, T0 + timedelta(minutes=minute), text=f"n{minute}")

    whole = history(client, query="?page_size=500")["results"]
    pages = []
    for number in range(1, 100):
        body = history(client, query=f"?page_size=7&page={number}")
        pages += body["results"]
        if not body["next"]:
            break

    assert pages == whole
    assert [e["at"] for e in whole] == sorted(e["at"] for e in whole)
