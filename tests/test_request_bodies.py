"""Request bodies a hostile client could send: too large (413, unread) or nested
too deep (400), on every kind of endpoint; never a 500, never read whole."""

import io
import json
import uuid
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from custody.models import LocationKind, SecurityLevel
from tests import factories

pytestmark = pytest.mark.django_db

LIMIT = settings.MAX_BODY_BYTES


class ExplodingInput(io.BytesIO):
    """A request body that fails the test if anything reads it."""

    def read(self, *args):
        raise AssertionError("an oversized body was read")

    readline = read


def oversized(client, path, *, content_type="application/json", **extra):
    # Declared one byte over the limit; nothing may read it to find out.
    return client.generic(
        "POST",
        path,
        b"",
        content_type=content_type,
        CONTENT_LENGTH=str(LIMIT + 1),
        **{"wsgi.input": ExplodingInput()},
        **extra,
    )


@pytest.mark.parametrize(
    "path",
    ["/api/v1/auth/token/", "/api/v1/checkins/", "/api/v1/inmates/", "/api/v1/users/"],
)
def test_an_oversized_api_body_is_refused_with_a_json_413_before_it_is_read(client, path):
    response = oversized(client, path)
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert str(LIMIT) in response.json()["detail"]


@pytest.mark.parametrize("path", ["/login/", "/admin/login/", "/counts/start/", "/logout/"])
def test_an_oversized_form_is_refused_with_a_short_page(client, path):
    response = oversized(client, path, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 413
    assert response["Content-Type"].startswith("text/html")
    assert b"413" in response.content


def test_the_refusal_speaks_the_callers_language(client):
    response = oversized(client, "/api/v1/auth/token/", HTTP_ACCEPT_LANGUAGE="en")
    assert "larger than" in response.json()["detail"]


def test_a_body_at_the_limit_passes_the_check(client, make_user, facility):
    user = make_user("guard", facility)
    body = json.dumps({"username": user.username, "password": factories.PASSWORD})
    padded = body + " " * (LIMIT - len(body))  # whitespace is valid JSON
    response = client.generic("POST", "/api/v1/auth/token/", padded, "application/json")
    assert response.status_code == 200, response.content


def test_a_chunked_body_is_read_only_to_one_byte_past_the_limit(client, settings):
    settings.MAX_BODY_BYTES = 1000
    stream = io.BytesIO(b"[" + b"1," * 5000 + b"1]")
    response = client.generic(
        "POST",
        "/api/v1/auth/token/",
        b"",
        content_type="application/json",
        CONTENT_LENGTH="",
        HTTP_TRANSFER_ENCODING="chunked",
        **{"wsgi.input": stream},
    )
    assert response.status_code == 413
    assert stream.tell() == 1001


def test_a_small_chunked_body_is_read_as_the_body(client, make_user, facility):
    user = make_user("guard", facility)
    body = json.dumps({"username": user.username, "password": factories.PASSWORD}).encode()
    response = client.generic(
        "POST",
        "/api/v1/auth/token/",
        b"",
        content_type="application/json",
        CONTENT_LENGTH="",
        CONTENT_TYPE="application/json",  # the client sets it only with a body
        HTTP_TRANSFER_ENCODING="chunked",
        **{"wsgi.input": io.BytesIO(body)},
    )
    assert response.status_code == 200, response.content


def test_a_content_length_that_is_not_a_number_is_a_400(client):
    response = client.generic(
        "POST", "/api/v1/auth/token/", b"{}", "application/json", CONTENT_LENGTH="many"
    )
    assert response.status_code == 400
    assert response.json()["detail"]


def test_djangos_own_form_limit_is_the_same_number():
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == settings.MAX_BODY_BYTES


def _widest_item(booking: str, location: str) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "inmate": booking,
        "location": location,
        "method": "fingerprint",
        "score": 0.1234567890123456,
        "observed_at": (timezone.now() - timedelta(seconds=30))
        .astimezone(timezone.get_fixed_timezone(-360))
        .isoformat(timespec="microseconds"),
    }


def test_a_full_batch_of_the_widest_check_ins_fits_well_under_the_limit(facility, api_as):
    unit = factories.LocationFactory(facility=facility, code="U" * 32, kind=LocationKind.UNIT)
    cell = factories.CellFactory(facility=facility, parent=unit, code="C" * 32)
    inmate = factories.InmateFactory(
        facility=facility,
        cell=cell,
        booking_number="B" * 32,
        security_level=SecurityLevel.MAXIMUM,
    )
    _device, key = factories.device(facility, location=unit)
    batch = [_widest_item(inmate.booking_number, cell.code) for _ in range(1000)]
    # Pretty-printed, as a careless client might send it: still a quarter of the limit.
    body = json.dumps(batch, indent=4)
    assert len(body.encode()) < LIMIT / 4, len(body)
    response = api_as(device_key=key).generic("POST", "/api/v1/checkins/", body, "application/json")
    assert response.status_code == 200, response.content[:500]
    assert {r["status"] for r in response.json()["results"]} == {"accepted"}


DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/auth/token/",
        "/api/v1/checkins/",
        "/api/v1/inmates/",
        "/api/v1/movements/",
        "/api/v1/locations/",
        "/api/v1/count-schedules/",
    ],
)
def test_json_nested_a_hundred_thousand_deep_is_a_400(path, make_user, facility, api_as):
    client = api_as(make_user("admin", facility))
    response = client.generic("POST", path, DEEP, "application/json")
    assert response.status_code == 400, response.content[:300]
    assert "detail" in response.json()


def test_deep_json_inside_a_check_in_is_a_400_not_a_quarantined_item(facility, english_api_as):
    from custody.models import QuarantinedCheckIn

    # Deep enough to parse, and to overflow whatever walked it next.
    _device, key = factories.device(facility)
    nested = "[" * 900 + "]" * 900
    body = f'[{{"id": "{uuid.uuid4()}", "inmate": {nested}}}]'
    reader = english_api_as(device_key=key)
    response = reader.generic("POST", "/api/v1/checkins/", body, "application/json")
    assert response.status_code == 400
    assert "nested more than 32 levels" in response.json()["detail"]
    assert not QuarantinedCheckIn.objects.exists()


def test_the_schema_documents_413_wherever_a_body_is_taken():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    writes = [
        (path, method, operation)
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if method in ("post", "put", "patch")
    ]
    assert len(writes) > 20
    missing = [
        (path, method) for path, method, op in writes if not {"400", "413"} <= set(op["responses"])
    ]
    assert missing == []
