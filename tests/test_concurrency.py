"""Two tablets, one inmate: racing writes end in one record and a clear 4xx, never a 500."""

import pytest

from custody.models import CellAssignment, Inmate, Location, Movement
from tests import factories
from tests.concurrent import race, token_client


@pytest.mark.django_db(transaction=True)
def test_two_supervisors_admitting_the_same_booking_number_make_one_record():
    facility = factories.FacilityFactory()
    factories.CellFactory(facility=facility, code="A-01")
    one = factories.UserFactory(role="supervisor", facilities=[facility])
    two = factories.UserFactory(role="supervisor", facilities=[facility])
    body = {
        "booking_number": "GT-RACE-1",
        "first_name": "Pedro",
        "last_name": "Tzoc",
        "facility": facility.code,
        "cell": "A-01",
        "security_level": "maximum",
    }
    clients = [token_client(one), token_client(two)]
    for _round in range(5):
        # Admission also records a movement and a cell assignment (PROTECT).
        CellAssignment.objects.filter(inmate__booking_number="GT-RACE-1").delete()
        Movement.objects.filter(inmate__booking_number="GT-RACE-1").delete()
        Inmate.objects.filter(booking_number="GT-RACE-1").delete()
        responses = race(
            [lambda c=c: c.post("/api/v1/inmates/", body, format="json") for c in clients]
        )
        codes = sorted(r.status_code for r in responses)
        assert codes[0] == 201 and codes[1] in (400, 409), codes
        assert all(r.json() for r in responses)
        assert Inmate.objects.filter(booking_number="GT-RACE-1").count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_admins_creating_the_same_location_code_make_one_record():
    facility = factories.FacilityFactory()
    admins = [factories.UserFactory(role="admin", facilities=[facility]) for _ in range(2)]
    body = {"facility": facility.code, "code": "U-RACE", "name": "Sector", "kind": "unit"}
    clients = [token_client(a) for a in admins]
    responses = race(
        [lambda c=c: c.post("/api/v1/locations/", body, format="json") for c in clients]
    )
    codes = sorted(r.status_code for r in responses)
    assert codes[0] == 201 and codes[1] in (400, 409), codes
    assert Location.objects.filter(facility=facility, code="U-RACE").count() == 1
