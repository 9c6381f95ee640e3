import pytest

pytestmark = pytest.mark.django_db


def test_admin_creates_facility_and_guard_reads_it(make_user, facility, api_as):
    admin = make_user("admin", facility)
    r = api_as(admin).post(
        "/api/v1/facilities/", {"code": "FJ2", "name": "Fraijanes II"}, format="json"
    )
    assert r.status_code == 201, r.json()
    assert r.json()["check_interval_seconds"] == {"maximum": 1800, "medium": 3600, "minimum": 7200}
    guard = make_user("guard", facility)
    assert api_as(guard).get("/api/v1/facilities/FJ2/").status_code == 404
