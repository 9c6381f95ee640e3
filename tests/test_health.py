"""/healthz: no auth, JSON, 503 naming the failing part."""

import pytest

from config.celery import app as celery_app

pytestmark = pytest.mark.django_db


def test_healthz_answers_ok_with_the_real_database_and_broker(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["db"] == "ok" and body["broker"] == "ok"
    assert body["reconciler"] in {"ok", "unknown"}
    assert "last_reconciled_at" in body


def test_healthz_is_503_and_names_the_broker_when_it_is_unreachable(client):
    original = celery_app.conf.broker_url
    celery_app.conf.broker_url = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    try:
        response = client.get("/healthz")
    finally:
        celery_app.conf.broker_url = original
    assert response.status_code == 503
    assert response.json()["broker"] == "unreachable"
    assert "broker" in response.json()["failing"]


def test_healthz_reveals_no_data_and_needs_no_login(client):
    body = client.get("/healthz").json()
    assert set(body) <= {"db", "broker", "reconciler", "last_reconciled_at", "failing"}


def test_the_api_docs_and_schema_are_served_by_the_service(client):
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "cdn." not in html and "unpkg" not in html and "jsdelivr" not in html
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in [
        "/api/v1/auth/token/",
        "/api/v1/facilities/",
        "/api/v1/facilities/{code}/",
        "/api/v1/locations/",
        "/api/v1/inmates/",
        "/api/v1/inmates/{booking_number}/",
        "/api/v1/devices/",
        "/api/v1/users/",
    ]:
        assert path in paths, path


def test_the_openapi_schema_is_valid_and_generates_without_warnings(tmp_path):
    from django.core.management import call_command

    target = tmp_path / "schema.yaml"
    # --fail-on-warn: an unresolvable serializer or name clash fails the suite.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    assert "/api/v1/inmates/{booking_number}/" in target.read_text()
