"""A transfer may go to any facility, so an officer names any destination
code; but whether another facility's code, or a cell inside it, exists is
learnt only by a request that goes on the record, never by a refusal that
leaves no trace. Those who may not request transfers hear the same refusal
whatever they name."""

from datetime import timedelta

import pytest
from django.utils import timezone

from custody.models import LedgerEvent, Movement
from tests import factories

pytestmark = pytest.mark.django_db

URL = "/api/v1/movements/"


@pytest.fixture
def w(make_user, english_api_as):
    a = factories.FacilityFactory(code="FA")
    b = factories.FacilityFactory(code="FB")
    cell = factories.CellFactory(facility=a, code="A-01")
    factories.CellFactory(facility=b, code="B-01")
    factories.InmateFactory(facility=a, cell=cell, booking_number="GT-1")
    factories.InmateFactory(facility=a, cell=cell, booking_number="GT-2")
    users = {role: make_user(role, a) for role in ("guard", "auditor", "supervisor")}
    return {"a": a, "b": b, **{role: english_api_as(user) for role, user in users.items()}}


def transfer(booking="GT-1", to_facility="FB", **extra) -> dict:
    body = {
        "inmate": booking,
        "kind": "transfer",
        "to_facility": to_facility,
        "expected_arrival_at": (timezone.now() + timedelta(hours=6)).isoformat(),
        **extra,
    }
    return {key: value for key, value in body.items() if value is not None}


def answers(client, *bodies) -> list[tuple[int, dict]]:
    return [
        (response.status_code, response.json())
        for response in (client.post(URL, body, format="json") for body in bodies)
    ]


def test_a_refused_request_sounds_the_same_for_a_real_and_a_made_up_destination(w):
    sup = w["supervisor"]
    # GT-1 already has an open movement: every transfer of theirs is refused.
    assert sup.post(URL, transfer("GT-1"), format="json").status_code == 201
    recorded = LedgerEvent.objects.filter(facility=w["a"]).count()

    busy = answers(
        sup,
        transfer("GT-1", "FB"),
        transfer("GT-1", "NOPE"),
        transfer("GT-1", "FB", to_location="B-01"),
        transfer("GT-1", "FB", to_location="B-99"),
    )
    assert busy[0][0] == 409
    assert all(answer == busy[0] for answer in busy)

    # GT-2 is free, but the request lacks its arrival time.
    incomplete = answers(
        sup,
        transfer("GT-2", "FB", expected_arrival_at=None),
        transfer("GT-2", "NOPE", expected_arrival_at=None),
        transfer("GT-2", "FB", to_location="B-99", expected_arrival_at=None),
    )
    assert incomplete[0][0] == 400
    assert set(incomplete[0][1]["errors"]) == {"expected_arrival_at"}
    assert all(answer == incomplete[0] for answer in incomplete)
    # None of these probes wrote anything.
    assert LedgerEvent.objects.filter(facility=w["a"]).count() == recorded
    assert Movement.objects.filter(kind="transfer").count() == 1


def test_a_request_that_would_be_recorded_names_what_is_wrong_with_its_destination(w):
    sup = w["supervisor"]

    status, body = answers(sup, transfer("GT-2", "NOPE"))[0]
    assert status == 400 and set(body["errors"]) == {"to_facility"}
    status, body = answers(sup, transfer("GT-2", "FB", to_location="B-99"))[0]
    assert status == 400 and set(body["errors"]) == {"to_location"}
    status, body = answers(sup, transfer("GT-2", "FA"))[0]
    assert status == 400 and "another facility" in body["errors"]["to_facility"][0]
    assert not Movement.objects.filter(kind="transfer").exists()

    status, body = answers(sup, transfer("GT-2", "FB", to_location="B-01"))[0]
    assert status == 201, body
    assert (body["to_facility"], body["to_location"]) == ("FB", "B-01")
    requested = LedgerEvent.objects.get(facility=w["a"], action="movement.requested")
    assert requested.data["to_facility"] == "FB"


@pytest.mark.parametrize("role", ["guard", "auditor"])
def test_those_who_may_not_request_transfers_hear_the_same_whatever_they_name(w, role):
    refused = answers(
        w[role],
        transfer("GT-2", "FB"),
        transfer("GT-2", "NOPE"),
        transfer("GT-2", "FB", to_location="B-01"),
        transfer("GT-2", "FB", to_location="B-99"),
    )
    assert refused[0][0] == 403
    assert all(answer == refused[0] for answer in refused)
