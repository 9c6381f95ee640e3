"""Check-in ingestion (docs/api.md "Check-ins"; invariants 2, 3 and 9 of docs/architecture.md)."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from custody import services
from custody.models import (
    CheckIn,
    Inmate,
    LedgerEvent,
    LocationKind,
    Movement,
    QuarantinedCheckIn,
    SecurityLevel,
)
from custody.services import ledger_verify
from tests import factories

NOW = datetime(2026, 11, 24, 7, 15, tzinfo=UTC)
URL = "/api/v1/checkins/"


def scan(inmate, location=None, *, at=None, method="fingerprint", **extra):
    return {
        "id": str(uuid.uuid4()),
        "inmate": inmate.booking_number,
        "location": (location or inmate.cell).code,
        "method": method,
        "score": 0.97,
        "observed_at": (at or timezone.now()).astimezone(inmate.facility.tzinfo).isoformat(),
        **extra,
    }


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def unit(facility):
    return factories.LocationFactory(facility=facility, code="B", kind=LocationKind.UNIT)


@pytest.fixture
def cell(facility, unit):
    return factories.CellFactory(facility=facility, parent=unit, code="B-2-14")


@pytest.fixture
def inmate(frozen, facility, cell):
    return factories.InmateFactory(
        facility=facility,
        cell=cell,
        security_level=SecurityLevel.MAXIMUM,
        admitted_at=NOW - timedelta(hours=5),
    )


@pytest.fixture
def reader(facility, unit, api_as):
    _device, key = factories.device(facility, location=unit)
    return api_as(device_key=key)


@pytest.fixture
def handheld(facility, api_as):
    """A reader carried around the facility: no location, so any place of it."""
    _device, key = factories.device(facility, name="handheld")
    return api_as(device_key=key)


def test_an_accepted_scan_moves_last_seen_and_the_next_deadline(inmate, reader, facility):
    item = scan(inmate, at=NOW - timedelta(minutes=3))

    response = reader.post(URL, item, format="json")

    assert response.status_code == 200, response.content
    assert response.json() == {
        "results": [{"id": item["id"], "status": "accepted", "errors": {}, "out_of_place": False}],
        "accepted": 1,
        "duplicate": 0,
        "rejected": 0,
    }
    inmate.refresh_from_db()
    assert inmate.last_seen_at == NOW - timedelta(minutes=3)
    # Maximum security: the next positive observation is due 30 minutes later.
    assert inmate.next_due_at == NOW - timedelta(minutes=3) + timedelta(minutes=30)
    stored = CheckIn.objects.get(id=item["id"])
    assert (stored.method, stored.is_biometric, stored.score) == ("fingerprint", True, 0.97)
    assert stored.received_at == NOW
    summary = LedgerEvent.objects.filter(facility=facility, action="checkins.received").get()
    assert summary.data["accepted"] == 1
    assert ledger_verify(facility=facility).ok


def test_the_interval_follows_the_security_level_and_the_facility(frozen, facility, cell, reader):
    facility.check_interval_seconds = {"maximum": 900, "medium": 2400, "minimum": 5400}
    facility.save()
    people = {
        level: factories.InmateFactory(facility=facility, cell=cell, security_level=level)
        for level in SecurityLevel.values
    }
    reader.post(URL, [scan(p, at=NOW) for p in people.values()], format="json")

    due = {level: Inmate.objects.get(pk=p.pk).next_due_at - NOW for level, p in people.items()}
    assert due == {
        "maximum": timedelta(seconds=900),
        "medium": timedelta(seconds=2400),
        "minimum": timedelta(seconds=5400),
    }


def test_a_late_buffered_scan_never_moves_last_seen_backwards(inmate, reader):
    reader.post(URL, scan(inmate, at=NOW - timedelta(minutes=1)), format="json")
    late = scan(inmate, at=NOW - timedelta(hours=30))

    response = reader.post(URL, late, format="json")

    assert response.json()["accepted"] == 1  # stored: it is still evidence
    inmate.refresh_from_db()
    assert inmate.last_seen_at == NOW - timedelta(minutes=1)
    assert inmate.next_due_at == NOW - timedelta(minutes=1) + timedelta(minutes=30)


def test_only_the_latest_scan_of_a_batch_counts_for_the_deadline(inmate, reader):
    items = [scan(inmate, at=NOW - timedelta(minutes=m)) for m in (40, 2, 15)]
    reader.post(URL, items, format="json")

    inmate.refresh_from_db()
    assert inmate.last_seen_at == NOW - timedelta(minutes=2)
    assert CheckIn.objects.filter(inmate=inmate).count() == 3


def test_posting_the_same_id_again_stores_nothing_new(inmate, reader, facility):
    items = [scan(inmate, at=NOW - timedelta(minutes=m)) for m in (1, 2)]
    first = reader.post(URL, items, format="json").json()
    again = reader.post(URL, items, format="json").json()
    same_id_other_time = reader.post(
        URL, {**items[0], "observed_at": (NOW - timedelta(hours=1)).isoformat()}, format="json"
    ).json()

    assert (first["accepted"], again["duplicate"]) == (2, 2)
    assert [r["status"] for r in again["results"]] == ["duplicate", "duplicate"]
    assert same_id_other_time["results"][0]["status"] == "duplicate"
    assert CheckIn.objects.count() == 2


def test_a_batch_mixing_every_failure_kind_stores_the_good_and_quarantines_the_rest(
    frozen, facility, other_facility, inmate, cell, reader
):
    stranger = factories.InmateFactory(facility=other_facility)
    good = scan(inmate, at=NOW - timedelta(minutes=5))
    good_visual_twin = dict(good)  # same id again in the same batch
    bad = {
        "not an object": ["a", "list"],
        "bad id": {**scan(inmate), "id": "not-a-uuid"},
        "no inmate": {k: v for k, v in scan(inmate).items() if k != "inmate"},
        "unknown inmate": {**scan(inmate), "inmate": "GT-0000-999999"},
        "other facility": scan(stranger, location=cell),
        "unknown location": {**scan(inmate), "location": "NOWHERE"},
        "bad method": {**scan(inmate), "method": "smell"},
        "visual from a device": {**scan(inmate), "method": "visual"},
        "score out of range": {**scan(inmate), "score": 7},
        "naive time": {**scan(inmate), "observed_at": "2026-11-24T01:00:00"},
        "garbage time": {**scan(inmate), "observed_at": "yesterday"},
        "future": scan(inmate, at=NOW + timedelta(minutes=3)),
        "too old": scan(inmate, at=NOW - timedelta(hours=73)),
    }
    still_good = scan(inmate, at=NOW - timedelta(minutes=1))
    batch = [good, *bad.values(), good_visual_twin, still_good]

    response = reader.post(URL, batch, format="json")

    assert response.status_code == 200
    body = response.json()
    statuses = [r["status"] for r in body["results"]]
    assert statuses == ["accepted", *["rejected"] * len(bad), "duplicate", "accepted"]
    assert (body["accepted"], body["duplicate"], body["rejected"]) == (2, 1, len(bad))
    errors = dict(zip(bad, (r["errors"] for r in body["results"][1 : len(bad) + 1]), strict=True))
    assert "id" in errors["bad id"]
    assert "inmate" in errors["no inmate"] and "inmate" in errors["unknown inmate"]
    assert "inmate" in errors["other facility"]
    assert "location" in errors["unknown location"]
    assert "method" in errors["bad method"] and "method" in errors["visual from a device"]
    assert "score" in errors["score out of range"]
    assert all(
        "observed_at" in errors[k] for k in ("naive time", "garbage time", "future", "too old")
    )
    assert set(CheckIn.objects.values_list("id", flat=True)) == {
        uuid.UUID(good["id"]),
        uuid.UUID(still_good["id"]),
    }
    reasons = sorted(QuarantinedCheckIn.objects.values_list("reason", flat=True))
    assert reasons == sorted(
        [
            "invalid",  # not an object
            "invalid",  # bad id
            "invalid",  # no inmate
            "unknown_inmate",
            "unknown_inmate",  # another facility's person: unknown to this reader
            "unknown_location",
            "invalid",  # bad method
            "visual_needs_guard",
            "invalid",  # score
            "invalid",  # naive
            "invalid",  # garbage
            "clock_future",
            "clock_past",
        ]
    )
    kept = QuarantinedCheckIn.objects.get(reason="unknown_inmate", raw__inmate="GT-0000-999999")
    assert kept.facility == facility
    quarantined = LedgerEvent.objects.get(facility=facility, action="checkins.quarantined")
    assert quarantined.data["count"] == len(bad)
    assert ledger_verify(facility=facility).ok


def test_a_retried_request_does_not_quarantine_twice(inmate, reader):
    bad = {**scan(inmate), "inmate": "GT-0000-999999"}
    reader.post(URL, [bad], format="json")
    reader.post(URL, [bad], format="json")

    assert QuarantinedCheckIn.objects.count() == 1


def test_the_quarantine_refuses_nul_bytes_gracefully(inmate, reader):
    response = reader.post(URL, [{**scan(inmate), "inmate": "A\x00B", "x": "\x00"}], format="json")

    assert response.status_code == 200
    assert response.json()["rejected"] == 1
    assert QuarantinedCheckIn.objects.get().raw["x"] == "\\u0000"


def test_a_visual_check_needs_a_guard_and_is_stored_as_non_biometric(
    inmate, facility, make_user, api_as
):
    guard = make_user("guard", facility)

    response = api_as(guard).post(URL, scan(inmate, method="visual", score=None), format="json")

    assert response.json()["accepted"] == 1
    stored = CheckIn.objects.get()
    assert (stored.is_biometric, stored.recorded_by, stored.device) == (False, guard, None)
    inmate.refresh_from_db()
    assert inmate.last_seen_at == NOW  # a guard's eyes still count as seen


def test_a_guard_cannot_post_for_a_facility_that_is_not_theirs(
    frozen, facility, other_facility, make_user, api_as
):
    stranger = factories.InmateFactory(facility=other_facility)
    guard = make_user("guard", facility)

    body = api_as(guard).post(URL, scan(stranger, method="visual"), format="json").json()

    assert body["results"][0]["status"] == "rejected"
    assert body["results"][0]["errors"]["inmate"]  # unknown to them, nothing leaked
    assert not CheckIn.objects.exists()
    stranger.refresh_from_db()
    assert stranger.last_seen_at is None


def test_a_scan_where_no_cell_or_movement_puts_the_person_is_marked_out_of_place(
    inmate, facility, unit, handheld, make_user, api_as
):
    reader = handheld
    other_unit = factories.LocationFactory(facility=facility, code="C", kind=LocationKind.UNIT)
    other_cell = factories.CellFactory(facility=facility, parent=other_unit, code="C-1-01")
    infirmary = factories.LocationFactory(
        facility=facility, code="ENF", kind=LocationKind.INFIRMARY
    )

    body = reader.post(
        URL,
        [scan(inmate), scan(inmate, unit), scan(inmate, other_cell), scan(inmate, infirmary)],
        format="json",
    ).json()

    assert [r["out_of_place"] for r in body["results"]] == [False, False, True, True]
    assert CheckIn.objects.filter(out_of_place=True).count() == 2
    # A medical visit to the infirmary, requested and approved, puts them there.
    supervisor = make_user("supervisor", facility)
    response = api_as(supervisor).post(
        "/api/v1/movements/",
        {
            "inmate": inmate.booking_number,
            "kind": "medical",
            "to_location": "ENF",
            "expected_back_at": (NOW + timedelta(hours=2)).isoformat(),
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    movement = Movement.objects.get(pk=response.json()["id"])
    second = make_user("supervisor", facility)  # every departure: a second officer
    services.movement_approve(movement=movement, by=second)
    body = reader.post(URL, [scan(inmate, infirmary)], format="json").json()
    assert body["results"][0]["out_of_place"] is False


def test_a_device_without_location_in_the_item_uses_its_own(inmate, reader, unit):
    item = scan(inmate)
    del item["location"]

    assert reader.post(URL, item, format="json").json()["accepted"] == 1
    assert CheckIn.objects.get().location == unit


@pytest.mark.parametrize(
    "body, content_type",
    [
        (b"{not json", "application/json"),
        (b'"just a string"', "application/json"),
        (b"42", "application/json"),
        (b"id=1", "application/x-www-form-urlencoded"),
    ],
)
def test_a_body_that_is_not_an_object_or_list_is_refused_whole(inmate, reader, body, content_type):
    response = reader.generic("POST", URL, body, content_type=content_type)

    assert response.status_code in (400, 415)
    assert "detail" in response.json()
    assert not CheckIn.objects.exists() and not QuarantinedCheckIn.objects.exists()


def test_more_than_a_thousand_items_stores_nothing(inmate, reader):
    response = reader.post(URL, [scan(inmate) for _ in range(1001)], format="json")

    assert response.status_code == 400
    assert not CheckIn.objects.exists()


def test_who_may_post_and_read(inmate, facility, make_user, api_as, reader):
    auditor = api_as(make_user("auditor", facility))
    assert auditor.post(URL, scan(inmate), format="json").status_code == 403
    assert api_as().post(URL, scan(inmate), format="json").status_code == 401
    assert reader.get(URL).status_code == 403  # devices post, they do not browse
    reader.post(URL, scan(inmate), format="json")
    listing = auditor.get(URL, {"inmate": inmate.booking_number}).json()
    assert listing["count"] == 1
    assert listing["results"][0]["observed_at"].endswith("-06:00")  # facility time


def test_the_quarantine_is_readable_by_supervisors_in_scope(
    inmate, facility, other_facility, make_user, api_as, reader
):
    reader.post(URL, {**scan(inmate), "inmate": "GT-0000-999999"}, format="json")

    mine = api_as(make_user("supervisor", facility)).get("/api/v1/quarantine/").json()
    theirs = api_as(make_user("supervisor", other_facility)).get("/api/v1/quarantine/").json()
    guard = api_as(make_user("guard", facility)).get("/api/v1/quarantine/")

    assert mine["count"] == 1 and mine["results"][0]["reason"] == "unknown_inmate"
    assert theirs["count"] == 0
    assert guard.status_code == 403


def test_a_batch_costs_the_same_number_of_queries_whatever_its_size(frozen, facility, cell, reader):
    people = [factories.InmateFactory(facility=facility, cell=cell) for _ in range(60)]

    def queries_for(batch):
        with CaptureQueriesContext(connection) as captured:
            assert reader.post(URL, batch, format="json").json()["accepted"] == len(batch)
        return len(captured)

    small = queries_for([scan(p) for p in people[:3]])
    large = queries_for([scan(p) for p in people for _ in range(5)])
    assert small == large


def test_heartbeat(facility, reader, make_user, api_as, frozen):
    response = reader.post(
        "/api/v1/devices/heartbeat/", {"at": (NOW + timedelta(seconds=30)).isoformat()}
    )

    assert response.status_code == 200, response.content
    assert response.json()["clock_offset_seconds"] == 30.0
    device = facility.devices.get()
    assert device.last_heartbeat_at == NOW
    with time_machine.travel(NOW + timedelta(minutes=1), tick=False):
        too_far = reader.post(
            "/api/v1/devices/heartbeat/", {"at": (NOW + timedelta(minutes=6)).isoformat()}
        )
    # The device learns its clock is wrong, and nothing good is lost: it is
    # alive, and its offset is kept for the integrity signals.
    assert too_far.status_code == 400
    assert "reloj" in too_far.json()["errors"]["at"][0]  # Spanish first
    device.refresh_from_db()
    assert device.last_heartbeat_at == NOW + timedelta(minutes=1)
    assert device.clock_offset_seconds == 300.0
    person = api_as(make_user("admin", facility))
    assert person.post("/api/v1/devices/heartbeat/", {}).status_code == 403


def test_a_check_in_batch_counts_as_contact_from_the_device(inmate, reader, facility):
    reader.post(URL, scan(inmate), format="json")

    assert facility.devices.get().last_heartbeat_at == NOW


def test_the_ledger_summary_digest_can_be_recomputed_from_the_stored_check_ins(
    inmate, reader, facility
):
    """An auditor can tie every stored scan to the hash chain."""
    import hashlib

    reader.post(
        URL, [scan(inmate, at=NOW - timedelta(minutes=m)) for m in (1, 2, 3)], format="json"
    )
    summary = LedgerEvent.objects.get(facility=facility, action="checkins.received")

    lines = sorted(
        "|".join(
            (
                str(c.id),
                c.inmate.booking_number,
                c.location.code,
                c.method,
                c.observed_at.astimezone(UTC).isoformat(),
            )
        )
        for c in CheckIn.objects.select_related("inmate", "location")
    )
    assert hashlib.sha256("\n".join(lines).encode()).hexdigest() == summary.data["digest"]
