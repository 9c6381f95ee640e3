"""Bad input answers a 4xx JSON error naming the field; never a 500 or HTML."""

import pytest

from custody.models import Inmate
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def supervisor_client(facility, make_user, api_as):
    factories.CellFactory(facility=facility, code="A-01")
    return api_as(make_user("supervisor", facility))


@pytest.fixture
def admin_client(facility, make_user, api_as):
    return api_as(make_user("admin", facility))


def inmate_body(facility_, **overrides):
    body = {
        "booking_number": "GT-2026-000001",
        "first_name": "María",
        "last_name": "Pérez",
        "facility": facility_.code,
        "cell": "A-01",
        "security_level": "medium",
    }
    body.update(overrides)
    return body


def assert_field_error(response, field, status=400):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["detail"]
    assert field in body["errors"], body
    assert field in body["detail"]


def test_malformed_json_is_a_400_json_error(supervisor_client):
    response = supervisor_client.generic(
        "POST", "/api/v1/inmates/", "{not json", content_type="application/json"
    )
    assert response.status_code == 400
    assert "detail" in response.json()


def test_non_json_media_type_is_a_415(supervisor_client):
    response = supervisor_client.generic(
        "POST", "/api/v1/inmates/", "<xml/>", content_type="application/xml"
    )
    assert response.status_code == 415
    assert "detail" in response.json()


def test_unknown_cell_code_names_the_cell(supervisor_client, facility):
    response = supervisor_client.post(
        "/api/v1/inmates/", inmate_body(facility, cell="NOPE-9"), format="json"
    )
    assert_field_error(response, "cell")
    assert not Inmate.objects.exists()


def test_a_unit_is_not_a_cell(supervisor_client, facility):
    unit = factories.LocationFactory(facility=facility, code="UNIT-A")
    response = supervisor_client.post(
        "/api/v1/inmates/", inmate_body(facility, cell=unit.code), format="json"
    )
    assert_field_error(response, "cell")


def test_a_cell_of_another_facility_is_unknown_here(supervisor_client, facility, other_facility):
    factories.CellFactory(facility=other_facility, code="B-01")
    response = supervisor_client.post(
        "/api/v1/inmates/", inmate_body(facility, cell="B-01"), format="json"
    )
    assert_field_error(response, "cell")


def test_admission_without_a_cell_is_refused(supervisor_client, facility):
    body = inmate_body(facility)
    del body["cell"]
    assert_field_error(supervisor_client.post("/api/v1/inmates/", body, format="json"), "cell")


def test_duplicate_booking_number_names_the_field(supervisor_client, facility):
    assert (
        supervisor_client.post("/api/v1/inmates/", inmate_body(facility), format="json").status_code
        == 201
    )
    response = supervisor_client.post("/api/v1/inmates/", inmate_body(facility), format="json")
    assert_field_error(response, "booking_number")
    assert Inmate.objects.count() == 1


def test_over_long_strings_name_the_field(supervisor_client, facility):
    response = supervisor_client.post(
        "/api/v1/inmates/", inmate_body(facility, last_name="x" * 500), format="json"
    )
    assert_field_error(response, "last_name")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("security_level", "extreme"),
        ("booking_number", "has spaces/and slash"),
        ("facility", 12),
        ("cell", ["A-01"]),
        ("admitted_at", "yesterday"),
        # Local mean time before 1900 (-06:02:04) is no RFC 3339 offset.
        ("admitted_at", "0772-11-17T04:27:09-06:00"),
        ("admitted_at", "9999-01-01T00:00:00Z"),
    ],
)
def test_wrong_values_name_the_field(supervisor_client, facility, field, value):
    response = supervisor_client.post(
        "/api/v1/inmates/", inmate_body(facility, **{field: value}), format="json"
    )
    assert_field_error(response, field)


def test_booking_number_and_facility_cannot_change(supervisor_client, facility, other_facility):
    supervisor_client.post("/api/v1/inmates/", inmate_body(facility), format="json")
    response = supervisor_client.patch(
        "/api/v1/inmates/GT-2026-000001/", {"booking_number": "OTHER"}, format="json"
    )
    assert_field_error(response, "booking_number")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"code": "X1", "name": "X", "timezone": "Mars/Olympus"}, "timezone"),
        (
            {"code": "X2", "name": "X", "check_interval_seconds": {"maximum": 5}},
            "check_interval_seconds",
        ),
        ({"code": "X3", "name": "X", "check_interval_seconds": "often"}, "check_interval_seconds"),
        (
            {
                "code": "X4",
                "name": "X",
                "check_interval_seconds": {"maximum": 10, "medium": 3600, "minimum": 7200},
            },
            "check_interval_seconds",
        ),
        ({"code": "X5", "name": "X", "grace_seconds": -1}, "grace_seconds"),
        ({"code": "X6", "name": "X", "grace_seconds": 10**9}, "grace_seconds"),
        ({"code": "X7", "name": "X", "max_absence_seconds": "long"}, "max_absence_seconds"),
        (
            {"code": "X8", "name": "X", "max_absence_seconds": {"court": 3600}},
            "max_absence_seconds",
        ),
        (
            {
                "code": "X9",
                "name": "X",
                "max_absence_seconds": {"court": 0, "medical": 3600, "temporary_release": 3600},
            },
            "max_absence_seconds",
        ),
        (
            {
                "code": "XA",
                "name": "X",
                "max_absence_seconds": {
                    "court": 3600,
                    "medical": True,
                    "temporary_release": 3600,
                },
            },
            "max_absence_seconds",
        ),
        (
            {
                "code": "XB",
                "name": "X",
                "max_absence_seconds": {
                    "court": 3600,
                    "medical": 3600,
                    "temporary_release": 10**9,
                },
            },
            "max_absence_seconds",
        ),
        ({"code": "XC", "name": "X", "count_freeze_seconds": 0}, "count_freeze_seconds"),
        ({"code": "XD", "name": "X", "count_freeze_seconds": 10**6}, "count_freeze_seconds"),
        ({"code": "XE", "name": "X", "count_freeze_seconds": "soon"}, "count_freeze_seconds"),
        ({"code": "bad code", "name": "X"}, "code"),
        ({"name": "X"}, "code"),
    ],
)
def test_facility_settings_are_validated(admin_client, body, field):
    assert_field_error(admin_client.post("/api/v1/facilities/", body, format="json"), field)


def test_facility_code_is_unique(admin_client, facility):
    response = admin_client.post(
        "/api/v1/facilities/", {"code": facility.code, "name": "Dup"}, format="json"
    )
    assert_field_error(response, "code")


def test_location_code_is_unique_inside_a_facility_only(
    admin_client, facility, other_facility, make_user, api_as
):
    body = {"facility": facility.code, "code": "U-1", "name": "Unidad", "kind": "unit"}
    assert admin_client.post("/api/v1/locations/", body, format="json").status_code == 201
    assert_field_error(
        admin_client.post("/api/v1/locations/", body, format="json"), "non_field_errors"
    )
    other_admin = api_as(make_user("admin", other_facility))
    body["facility"] = other_facility.code
    assert other_admin.post("/api/v1/locations/", body, format="json").status_code == 201


def test_a_cell_needs_a_capacity_and_cannot_contain_locations(admin_client, facility):
    unit = {"facility": facility.code, "code": "U-1", "name": "U", "kind": "unit"}
    admin_client.post("/api/v1/locations/", unit, format="json")
    cell = {"facility": facility.code, "code": "C-1", "name": "C", "kind": "cell", "parent": "U-1"}
    assert_field_error(admin_client.post("/api/v1/locations/", cell, format="json"), "capacity")
    cell["capacity"] = 4
    assert admin_client.post("/api/v1/locations/", cell, format="json").status_code == 201
    inner = {
        "facility": facility.code,
        "code": "I-1",
        "name": "I",
        "kind": "other",
        "parent": "C-1",
    }
    assert_field_error(admin_client.post("/api/v1/locations/", inner, format="json"), "parent")


def test_a_location_cannot_be_its_own_ancestor(admin_client, facility):
    a = admin_client.post(
        "/api/v1/locations/",
        {"facility": facility.code, "code": "A", "name": "A", "kind": "unit"},
        format="json",
    ).json()
    admin_client.post(
        "/api/v1/locations/",
        {"facility": facility.code, "code": "B", "name": "B", "kind": "unit", "parent": "A"},
        format="json",
    )
    response = admin_client.patch(f"/api/v1/locations/{a['id']}/", {"parent": "B"}, format="json")
    assert_field_error(response, "parent")


def test_device_location_must_exist_in_its_facility(admin_client, facility):
    response = admin_client.post(
        "/api/v1/devices/",
        {"facility": facility.code, "name": "r1", "kind": "biometric", "location": "NOWHERE"},
        format="json",
    )
    assert_field_error(response, "location")


def test_user_password_is_validated_and_never_returned(admin_client, facility):
    weak = {"username": "g1", "password": "123", "role": "guard", "facilities": [facility.code]}
    assert_field_error(admin_client.post("/api/v1/users/", weak, format="json"), "password")
    ok = {**weak, "password": "una-clave-muy-larga-2026"}
    response = admin_client.post("/api/v1/users/", ok, format="json")
    assert response.status_code == 201
    assert "password" not in response.json()


def test_user_needs_a_known_role_and_a_facility(admin_client, facility):
    base = {"username": "g2", "password": "una-clave-muy-larga-2026"}
    assert_field_error(
        admin_client.post(
            "/api/v1/users/",
            {**base, "role": "warden", "facilities": [facility.code]},
            format="json",
        ),
        "role",
    )
    assert_field_error(
        admin_client.post(
            "/api/v1/users/", {**base, "role": "guard", "facilities": []}, format="json"
        ),
        "facilities",
    )


def test_unknown_api_paths_and_methods_answer_json(admin_client):
    response = admin_client.get("/api/v1/nothing-here/")
    assert response.status_code == 404
    assert response.json()["detail"]
    response = admin_client.delete("/api/v1/facilities/whatever/")
    assert response.status_code == 405
    assert response.json()["detail"]


def test_wrong_credentials_for_a_token_are_a_400(facility, make_user, api_as):
    user = make_user("guard", facility)
    client = api_as()
    bad = client.post(
        "/api/v1/auth/token/", {"username": user.username, "password": "nope"}, format="json"
    )
    assert bad.status_code == 400 and bad.json()["detail"]
    good = client.post(
        "/api/v1/auth/token/",
        {"username": user.username, "password": factories.PASSWORD},
        format="json",
    )
    assert good.status_code == 200 and len(good.json()["token"]) == 64
    assert good.json()["expiry"]


@pytest.mark.parametrize(
    "query",
    [
        "is_active=maybe",
        "is_active=true&is_active=false",
        "kind=",
        "kind=spaceship",
        "page_size=0",
        "page_size=abc",
        "page_size=100000",
    ],
)
def test_list_filters_refuse_what_they_cannot_use(admin_client, query):
    response = admin_client.get(f"/api/v1/devices/?{query}")
    assert response.status_code == 400, response.content
    assert response.json()["detail"]


def test_a_nul_byte_in_a_filter_or_path_is_a_400(admin_client):
    assert admin_client.get("/api/v1/inmates/?cell=A%00B").status_code == 400
    assert admin_client.get("/api/v1/inmates/X%00Y/").status_code in (400, 404)


def test_a_time_whose_offset_has_seconds_is_shown_in_utc(supervisor_client, facility):
    """A row from before 1900 (an old import) still answers a time any RFC 3339
    reader takes: the same instant in UTC rather than the zone's -06:02:04."""
    from datetime import UTC, datetime

    inmate = factories.InmateFactory(
        facility=facility, admitted_at=datetime(1899, 6, 1, 12, 0, tzinfo=UTC)
    )
    body = supervisor_client.get(f"/api/v1/inmates/{inmate.booking_number}/").json()
    assert body["admitted_at"] == "1899-06-01T12:00:00+00:00"


@pytest.mark.parametrize("until", ["1136-08-12T16:31:04Z", "9500-01-01T00:00:00Z"])
def test_a_period_outside_the_years_of_any_record_is_refused(supervisor_client, facility, until):
    """The fuzzer asked who was in a cell in 1136: the answer named the period
    with an offset (-06:02:04) no RFC 3339 reader takes. Such a period is a 400."""
    cell = facility.locations.get(code="A-01")
    response = supervisor_client.get(f"/api/v1/locations/{cell.pk}/occupants/", {"until": until})
    assert_field_error(response, "until")
