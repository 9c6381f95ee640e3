"""/api/v1/rollcalls/ (docs/api.md "Roll calls"): the lifecycle over HTTP."""

import uuid
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from custody import services
from custody.models import CheckIn, Inmate, LedgerEvent, RollCall, RollCallEntry
from tests import factories
from tests.rollcall_world import count_world, entry

pytestmark = pytest.mark.django_db
NOW = "2026-11-24 12:00:00+00:00"


@pytest.fixture
def api_as(english_api_as):
    return english_api_as  # the assertions read the messages


@pytest.fixture
def w(facility, make_user):
    return count_world(facility, make_user)


def start(client, w, **extra):
    return client.post(
        "/api/v1/rollcalls/", {"location": w.unit.code, "kind": "formal", **extra}, format="json"
    )


def test_start_freezes_the_roster_of_the_unit(w, api_as):
    response = start(api_as(w.users["guard"]), w)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["location"] == w.unit.code
    assert body["status"] == "in_progress"
    assert body["started_at"].endswith("-06:00")  # the facility's zone
    assert sorted(line["inmate"] for line in body["expected"]) == sorted(
        p["booking_number"] for p in w.people
    )
    assert {line["status"] for line in body["expected"]} == {"in_custody"}
    assert body["totals"] == {
        "expected": 6,
        "present": 0,
        "out_authorized": 0,
        "unaccounted": None,
        "unmarked": 6,
        "would_be_unaccounted": 6,
    }
    assert body["entries"] == []
    assert LedgerEvent.objects.filter(action="rollcall.started").count() == 1


def test_roster_is_frozen_at_start_and_a_newcomer_cannot_be_marked(w, api_as):
    client = api_as(w.users["guard"])
    rollcall_id = start(client, w).json()["id"]
    # Admitted to the unit after the count started: not on this count.
    services.inmate_admit(
        facility=w.facility,
        cell=w.cells[0],
        booking_number="GT-LATE",
        first_name="Tarde",
        last_name="Llegada",
        security_level="medium",
        admitted_at=timezone.now(),
    )
    body = client.get(f"/api/v1/rollcalls/{rollcall_id}/").json()
    assert "GT-LATE" not in {line["inmate"] for line in body["expected"]}
    answer = client.post(
        f"/api/v1/rollcalls/{rollcall_id}/entries/", [entry("GT-LATE")], format="json"
    ).json()
    assert answer["rejected"] == 1
    assert "roster" in answer["results"][0]["errors"]["inmate"][0]


def test_entries_are_idempotent_by_id(w, api_as):
    client = api_as(w.users["guard"])
    rollcall_id = start(client, w).json()["id"]
    marks = [entry(w.booking(0)), entry(w.booking(1))]
    first = client.post(f"/api/v1/rollcalls/{rollcall_id}/entries/", marks, format="json")
    assert first.status_code == 200
    assert first.json()["accepted"] == 2
    again = client.post(
        f"/api/v1/rollcalls/{rollcall_id}/entries/", [*marks, marks[0]], format="json"
    ).json()
    assert again["duplicate"] == 3 and again["accepted"] == 0
    assert RollCallEntry.objects.filter(rollcall_id=rollcall_id).count() == 2
    # A present mark is also a check-in (same id) and moves last_seen_at.
    assert CheckIn.objects.filter(id__in=[m["id"] for m in marks]).count() == 2
    seen = Inmate.objects.get(booking_number=w.booking(0)).last_seen_at
    assert seen is not None


def test_submit_with_everyone_present_clears(w, api_as):
    client = api_as(w.users["guard"])
    rollcall_id = start(client, w).json()["id"]
    client.post(
        f"/api/v1/rollcalls/{rollcall_id}/entries/",
        [entry(p["booking_number"]) for p in w.people],
        format="json",
    )
    body = client.post(f"/api/v1/rollcalls/{rollcall_id}/submit/").json()
    assert body["status"] == "submitted"
    assert body["unaccounted_count"] == 0
    assert body["present_count"] == 6
    assert body["needs_verification"] is True


def test_submit_names_who_is_unaccounted(w, api_as):
    client = api_as(w.users["guard"])
    rollcall_id = start(client, w).json()["id"]
    client.post(
        f"/api/v1/rollcalls/{rollcall_id}/entries/",
        [entry(p["booking_number"]) for p in w.people[:4]]
        + [entry(w.booking(4), "absent"), entry(w.booking(5), "out_authorized")],
        format="json",
    )
    body = client.post(f"/api/v1/rollcalls/{rollcall_id}/submit/").json()
    # Marked out by the guard, but no movement says so: still unaccounted.
    assert sorted(row["inmate"] for row in body["unaccounted"]) == [w.booking(4), w.booking(5)]
    assert body["unaccounted_count"] == 2
    assert body["present_count"] == 4


def test_submit_twice_is_a_conflict_and_records_once(w, api_as):
    client = api_as(w.users["guard"])
    rollcall_id = start(client, w).json()["id"]
    assert client.post(f"/api/v1/rollcalls/{rollcall_id}/submit/").status_code == 200
    second = client.post(f"/api/v1/rollcalls/{rollcall_id}/submit/")
    assert second.status_code == 409
    assert "submitted" in second.json()["detail"]
    assert LedgerEvent.objects.filter(action="rollcall.submitted").count() == 1


def test_marks_after_submission_are_refused_but_replays_are_duplicates(w, api_as):
    client = api_as(w.users["guard"])
    rollcall_id = start(client, w).json()["id"]
    early = entry(w.booking(0))
    client.post(f"/api/v1/rollcalls/{rollcall_id}/entries/", [early], format="json")
    client.post(f"/api/v1/rollcalls/{rollcall_id}/submit/")
    answer = client.post(
        f"/api/v1/rollcalls/{rollcall_id}/entries/", [early, entry(w.booking(1))], format="json"
    ).json()
    assert [r["status"] for r in answer["results"]] == ["duplicate", "rejected"]


def recount_and_verify(client, rollcall_id):
    """A second officer's verification through the API: recount what the
    server draws, every drawn person found, then verify."""
    drawn = client.post(f"/api/v1/rollcalls/{rollcall_id}/recount/")
    if drawn.status_code != 200:
        return drawn
    marks = [entry(row["inmate"]) for row in drawn.json()["sample"]]
    client.post(f"/api/v1/rollcalls/{rollcall_id}/recount/entries/", marks, format="json")
    return client.post(f"/api/v1/rollcalls/{rollcall_id}/verify/")


def test_the_counting_officer_cannot_verify_their_own_count(w, api_as):
    guard = api_as(w.users["guard"])
    rollcall_id = start(guard, w).json()["id"]
    guard.post(f"/api/v1/rollcalls/{rollcall_id}/submit/")
    refused = guard.post(f"/api/v1/rollcalls/{rollcall_id}/verify/")
    assert refused.status_code == 403
    assert "second officer" in refused.json()["detail"]
    ok = recount_and_verify(api_as(w.users["guard2"]), rollcall_id)
    assert ok.status_code == 200
    assert ok.json()["status"] == "verified"
    assert ok.json()["verified_by"] == w.users["guard2"].username


def test_an_officer_who_marked_people_cannot_verify(w, api_as):
    guard = api_as(w.users["guard"])
    helper = api_as(w.users["guard2"])
    rollcall_id = start(guard, w).json()["id"]
    helper.post(f"/api/v1/rollcalls/{rollcall_id}/entries/", [entry(w.booking(0))], format="json")
    guard.post(f"/api/v1/rollcalls/{rollcall_id}/submit/")
    assert helper.post(f"/api/v1/rollcalls/{rollcall_id}/verify/").status_code == 403
    assert helper.post(f"/api/v1/rollcalls/{rollcall_id}/recount/").status_code == 403
    assert recount_and_verify(api_as(w.users["supervisor"]), rollcall_id).status_code == 200


def test_a_second_count_of_the_same_unit_is_a_conflict_naming_the_first(w, api_as):
    first = start(api_as(w.users["guard"]), w).json()["id"]
    second = start(api_as(w.users["guard2"]), w)
    assert second.status_code == 409
    assert first in second.json()["detail"]


def test_starting_again_with_the_same_id_answers_the_same_count(w, api_as):
    client = api_as(w.users["guard"])
    key = str(uuid.uuid4())
    assert start(client, w, id=key).status_code == 201
    again = start(client, w, id=key)
    assert again.status_code == 200
    assert again.json()["id"] == key
    assert RollCall.objects.count() == 1


def send_out(w, inmate, kind: str, destination: str) -> None:
    """An authorised outing, requested, approved and departed by two officers."""
    movement = services.movement_request(
        inmate=inmate,
        kind=kind,
        by=w.users["supervisor"],
        destination=destination,
        expected_back_at=timezone.now() + timedelta(hours=4),
    )
    services.movement_approve(movement=movement, by=w.users["admin"])
    services.movement_depart(movement=movement, by=w.users["supervisor"])


def test_someone_out_on_an_authorised_movement_is_out_with_where(w, api_as):
    inmate = w.people[0]["inmate"]
    send_out(w, inmate, "court", "Juzgado de Mixco")
    client = api_as(w.users["guard"])
    body = start(client, w).json()
    line = next(line for line in body["expected"] if line["inmate"] == inmate.booking_number)
    assert line["status"] == "out_authorized"
    assert "Juzgado de Mixco" in line["whereabouts"]
    client.post(
        f"/api/v1/rollcalls/{body['id']}/entries/",
        [entry(p["booking_number"]) for p in w.people[1:]],
        format="json",
    )
    result = client.post(f"/api/v1/rollcalls/{body['id']}/submit/").json()
    assert result["unaccounted_count"] == 0
    assert result["out_count"] == 1


def test_someone_moved_out_mid_count_is_accounted_for_by_the_movement(w, api_as):
    client = api_as(w.users["guard"])
    body = start(client, w).json()
    send_out(w, w.people[0]["inmate"], "medical", "Hospital Roosevelt")
    client.post(
        f"/api/v1/rollcalls/{body['id']}/entries/",
        [entry(p["booking_number"]) for p in w.people[1:]],
        format="json",
    )
    result = client.post(f"/api/v1/rollcalls/{body['id']}/submit/").json()
    assert result["unaccounted_count"] == 0
    assert result["out_count"] == 1


def test_entry_times_follow_the_clock_rules(w, api_as):
    client = api_as(w.users["guard"])
    with time_machine.travel(NOW, tick=False):
        rollcall_id = start(client, w).json()["id"]
        now = timezone.now()
        answer = client.post(
            f"/api/v1/rollcalls/{rollcall_id}/entries/",
            [
                entry(w.booking(0), at=now + timedelta(minutes=3)),  # tablet clock ahead
                entry(w.booking(1), at=now - timedelta(minutes=10)),  # before the start
                entry(w.booking(2), at=now + timedelta(seconds=90)),  # within the skew
                {"id": "not-a-uuid", "inmate": w.booking(3), "status": "present"},
            ],
            format="json",
        ).json()
    assert [r["status"] for r in answer["results"]] == [
        "rejected",
        "rejected",
        "accepted",
        "rejected",
    ]
    assert "observed_at" in answer["results"][0]["errors"]
    assert set(answer["results"][3]["errors"]) == {"id", "observed_at"}


@pytest.mark.parametrize("role", ["auditor"])
def test_readers_may_read_but_not_count(w, api_as, role):
    client = api_as(w.users[role])
    assert start(client, w).status_code == 403
    rollcall_id = start(api_as(w.users["guard"]), w).json()["id"]
    assert client.get(f"/api/v1/rollcalls/{rollcall_id}/").status_code == 200
    assert client.post(f"/api/v1/rollcalls/{rollcall_id}/submit/").status_code == 403


def test_other_facilities_counts_are_404(w, api_as, other_facility, make_user):
    rollcall_id = start(api_as(w.users["guard"]), w).json()["id"]
    stranger = api_as(make_user("guard", other_facility))
    assert stranger.get(f"/api/v1/rollcalls/{rollcall_id}/").status_code == 404
    assert (
        stranger.post(f"/api/v1/rollcalls/{rollcall_id}/entries/", [], format="json").status_code
        == 404
    )


def test_bad_bodies_are_400_and_store_nothing(w, api_as):
    client = api_as(w.users["guard"])
    rollcall_id = start(client, w).json()["id"]
    url = f"/api/v1/rollcalls/{rollcall_id}/entries/"
    assert client.post(url, "3", content_type="application/json").status_code == 400
    too_many = [entry(w.booking(0)) for _ in range(1001)]
    assert client.post(url, too_many, format="json").status_code == 400
    assert client.post(url, "{", content_type="application/json").status_code == 400
    assert RollCallEntry.objects.count() == 0
    assert (
        client.post(
            "/api/v1/rollcalls/", {"location": "NOPE", "kind": "formal"}, format="json"
        ).status_code
        == 400
    )


def test_a_place_without_cells_cannot_be_counted(w, api_as):
    yard = factories.LocationFactory(facility=w.facility, code="PATIO", kind="yard")
    response = api_as(w.users["guard"]).post(
        "/api/v1/rollcalls/", {"location": yard.code, "kind": "formal"}, format="json"
    )
    assert response.status_code == 400
    assert "no cells" in response.json()["errors"]["location"][0]
