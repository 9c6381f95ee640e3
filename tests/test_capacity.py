"""Nobody is placed past a cell's operational capacity on one officer's word:
admissions, cell moves and transfer arrivals answer 409, an override is a
higher operational capacity a second officer approves with its reason, and
two officers filling the last bed at once cannot both succeed."""

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone

from custody import services
from custody.exceptions import Conflict
from custody.models import Inmate, LedgerEvent, Location, MovementKind, PendingChange
from tests import factories
from tests.concurrent import race, token_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def w(facility, other_facility, make_user):
    full = factories.CellFactory(facility=facility, code="A-01", capacity=2)
    w = SimpleNamespace(
        facility=facility,
        full=full,
        spare=factories.CellFactory(facility=facility, code="A-02", capacity=2, parent=full.parent),
        sup=make_user("supervisor", facility),
        sup2=make_user("supervisor", facility),
        osup=make_user("supervisor", other_facility),
        osup2=make_user("supervisor", other_facility),
        other=other_facility,
    )
    for n in range(2):
        factories.InmateFactory(facility=facility, cell=full, booking_number=f"IN-{n}")
    w.mover = factories.InmateFactory(facility=facility, cell=w.spare, booking_number="MOVER")
    return w


def admission(w, booking="NEW-1", cell="A-01"):
    return {
        "booking_number": booking,
        "first_name": "Pedro",
        "last_name": "Tzoc",
        "facility": w.facility.code,
        "cell": cell,
        "security_level": "medium",
    }


def test_an_admission_into_a_full_cell_is_a_409_naming_the_cell(w, english_api_as):
    answer = english_api_as(w.sup).post("/api/v1/inmates/", admission(w), format="json")
    assert answer.status_code == 409
    body = answer.json()
    assert body["location"] == "A-01" and body["occupancy"] == 2
    assert body["operational_capacity"] == 2 and body["certified_capacity"] == 2
    assert "A-01" in body["detail"] and "second officer" in body["detail"]
    assert not Inmate.objects.filter(booking_number="NEW-1").exists()


def test_a_cell_move_into_a_full_cell_is_refused(w, api_as):
    answer = api_as(w.sup).patch("/api/v1/inmates/MOVER/", {"cell": "A-01"}, format="json")
    assert answer.status_code == 409 and answer.json()["location"] == "A-01"
    w.mover.refresh_from_db()
    assert w.mover.cell_id == w.spare.pk


def test_a_transfer_cannot_arrive_in_a_full_cell(w):
    z1 = factories.CellFactory(facility=w.other, code="Z-01")
    person = factories.InmateFactory(facility=w.other, cell=z1, booking_number="TR-1")
    transfer = services.movement_request(
        inmate=person,
        kind=MovementKind.TRANSFER,
        by=w.osup,
        to_facility=w.facility,
        expected_arrival_at=timezone.now() + timedelta(hours=4),
    )
    services.movement_approve(movement=transfer, by=w.osup2)
    services.movement_depart(movement=transfer, by=w.osup)
    with pytest.raises(Conflict):
        services.movement_arrive(movement=transfer, by=w.sup, cell=w.full)
    services.movement_arrive(movement=transfer, by=w.sup, cell=w.spare)  # a free bed: fine


def test_an_override_needs_a_second_officer_and_its_reason_goes_on_the_ledger(w, api_as):
    path = f"/api/v1/locations/{w.full.pk}/"
    body = {"operational_capacity": 3, "over_capacity_reason": "Flood in unit B, one night"}
    asked = api_as(w.sup).patch(path, body, format="json")
    assert asked.status_code == 202 and asked.json()["weakened"] == ["operational_capacity"]
    # Until a second officer approves, the cell stays full.
    refused = api_as(w.sup).post("/api/v1/inmates/", admission(w), format="json")
    assert refused.status_code == 409
    change = asked.json()["change"]
    assert api_as(w.sup).post(f"/api/v1/changes/{change}/approve/").status_code == 403
    assert api_as(w.sup2).post(f"/api/v1/changes/{change}/approve/").status_code == 200
    admitted = api_as(w.sup).post("/api/v1/inmates/", admission(w), format="json")
    assert admitted.status_code == 201, admitted.content
    event = LedgerEvent.objects.get(action="change.approved")
    assert "Flood in unit B" in str(event.data)
    # Full again at three: the override was for one more bed, no more.
    again = api_as(w.sup).post("/api/v1/inmates/", admission(w, "NEW-2"), format="json")
    assert again.status_code == 409 and again.json()["operational_capacity"] == 3


def test_raising_the_certified_capacity_waits_for_a_second_officer(w, api_as):
    answer = api_as(w.sup).patch(f"/api/v1/locations/{w.full.pk}/", {"capacity": 6}, format="json")
    assert answer.status_code == 202 and answer.json()["weakened"] == ["capacity"]
    w.full.refresh_from_db()
    assert w.full.capacity == 2


@pytest.mark.parametrize("body", [{"operational_capacity": 1}, {"capacity": 1}])
def test_lowering_a_capacity_applies_at_once(w, api_as, body):
    answer = api_as(w.sup).patch(f"/api/v1/locations/{w.full.pk}/", body, format="json")
    assert answer.status_code == 200, answer.content
    assert not PendingChange.objects.exists()


@pytest.mark.parametrize(
    "body, field",
    [
        ({"operational_capacity": -1}, "operational_capacity"),
        ({"operational_capacity": "lots"}, "operational_capacity"),
        ({"operational_capacity": 3}, "over_capacity_reason"),  # above certified, no reason
        ({"operational_capacity": 3, "over_capacity_reason": "x"}, "over_capacity_reason"),
    ],
)
def test_bad_capacities_are_a_400_naming_the_field(w, api_as, body, field):
    answer = api_as(w.sup).patch(f"/api/v1/locations/{w.full.pk}/", body, format="json")
    assert answer.status_code == 400, answer.content
    assert field in answer.json()["errors"]
    assert not PendingChange.objects.exists()


def test_a_unit_without_certified_capacity_takes_no_operational_one(w, api_as):
    unit = w.full.parent
    answer = api_as(w.sup).patch(
        f"/api/v1/locations/{unit.pk}/", {"operational_capacity": 10}, format="json"
    )
    assert answer.status_code == 400 and "operational_capacity" in answer.json()["errors"]


@pytest.mark.django_db(transaction=True)
def test_two_officers_filling_the_last_bed_at_once_cannot_both_succeed():
    facility = factories.FacilityFactory()
    factories.CellFactory(facility=facility, code="A-01", capacity=1)
    officers = [factories.UserFactory(role="supervisor", facilities=[facility]) for _ in range(2)]
    clients = [token_client(officer) for officer in officers]
    for round_ in range(3):
        Location.objects.filter(facility=facility, code="A-01").update(capacity=round_ + 1)
        bodies = [
            {
                "booking_number": f"RACE-{round_}-{n}",
                "first_name": "Ana",
                "last_name": "Paz",
                "facility": facility.code,
                "cell": "A-01",
                "security_level": "medium",
            }
            for n in range(2)
        ]
        answers = race(
            [
                lambda c=c, b=b: c.post("/api/v1/inmates/", b, format="json")
                for c, b in zip(clients, bodies, strict=True)
            ]
        )
        assert sorted(a.status_code for a in answers) == [201, 409], [a.content for a in answers]
        assert (
            Inmate.objects.filter(cell__code="A-01", cell__facility=facility).count() == round_ + 1
        )
