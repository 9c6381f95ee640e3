"""Invariant 9 (docs/architecture.md): a user sees only the facilities they are assigned to."""

import pytest

from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_facilities(facility, other_facility):
    here = factories.InmateFactory(facility=facility, booking_number="HERE-1")
    there = factories.InmateFactory(facility=other_facility, booking_number="THERE-1")
    there_device, _ = factories.device(other_facility, name="there-reader")
    return here, there, there_device


@pytest.mark.parametrize("role", ["guard", "supervisor", "auditor", "admin"])
def test_lists_show_only_assigned_facilities(
    role, facility, other_facility, two_facilities, make_user, api_as
):
    client = api_as(make_user(role, facility))
    for path, key, expected in [
        ("/api/v1/facilities/", "code", {facility.code}),
        ("/api/v1/inmates/", "booking_number", {"HERE-1"}),
        ("/api/v1/locations/", "facility", {facility.code}),
    ]:
        body = client.get(path).json()
        assert {row[key] for row in body["results"]} == expected, path


@pytest.mark.parametrize("role", ["guard", "supervisor", "auditor", "admin"])
def test_another_facilitys_objects_answer_404(
    role, facility, other_facility, two_facilities, make_user, api_as
):
    _here, there, there_device = two_facilities
    client = api_as(make_user(role, facility))
    for path in [
        f"/api/v1/facilities/{other_facility.code}/",
        f"/api/v1/inmates/{there.booking_number}/",
        f"/api/v1/locations/{there.cell_id}/",
        f"/api/v1/devices/{there_device.pk}/",
    ]:
        response = client.get(path)
        assert response.status_code == 404, path
        assert set(response.json()) == {"detail"}


def test_writes_cannot_target_a_facility_you_cannot_see(
    facility, other_facility, make_user, api_as
):
    factories.CellFactory(facility=other_facility, code="Z-1")
    client = api_as(make_user("supervisor", facility))
    response = client.post(
        "/api/v1/inmates/",
        {
            "booking_number": "GT-X",
            "first_name": "A",
            "last_name": "B",
            "facility": other_facility.code,
            "cell": "Z-1",
            "security_level": "medium",
        },
        format="json",
    )
    assert response.status_code == 400
    assert "facility" in response.json()["errors"]


def test_an_admin_sees_and_assigns_only_their_own_facilities(
    facility, other_facility, make_user, api_as
):
    admin = make_user("admin", facility)
    colleague = make_user("guard", facility, other_facility)
    stranger = make_user("guard", other_facility)
    client = api_as(admin)
    usernames = {u["username"] for u in client.get("/api/v1/users/").json()["results"]}
    assert colleague.username in usernames and stranger.username not in usernames
    # The admin does not learn the colleague's other facility...
    detail = client.get(f"/api/v1/users/{colleague.username}/").json()
    assert detail["facilities"] == [facility.code]
    # ...and editing the colleague's facilities keeps the one the admin cannot see.
    response = client.patch(
        f"/api/v1/users/{colleague.username}/", {"facilities": [facility.code]}, format="json"
    )
    assert response.status_code == 200
    assert set(colleague.facilities.values_list("code", flat=True)) == {
        facility.code,
        other_facility.code,
    }
    assert client.get(f"/api/v1/users/{stranger.username}/").status_code == 404


def test_an_admin_who_creates_a_facility_is_assigned_to_it(facility, make_user, api_as):
    admin = make_user("admin", facility)
    client = api_as(admin)
    assert (
        client.post(
            "/api/v1/facilities/", {"code": "NEW", "name": "Nuevo"}, format="json"
        ).status_code
        == 201
    )
    assert client.get("/api/v1/facilities/NEW/").status_code == 200


def test_a_superuser_sees_every_facility(facility, other_facility, api_as):
    from custody.models import User

    root = User.objects.create_superuser("root", "root@example.org", "x-very-long-pass-1")
    codes = {row["code"] for row in api_as(root).get("/api/v1/facilities/").json()["results"]}
    assert {facility.code, other_facility.code} <= codes
