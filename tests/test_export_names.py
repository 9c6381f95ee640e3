"""What people typed into names is printed in the PDF exports, never read as
formatting: a "%" (Python's format marker), "<" and "&" (reportlab's markup)
in a person's, a unit's, a reader's or a facility's name."""

import io
import uuid
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.utils import timezone
from pypdf import PdfReader

from custody.models import CheckIn, LedgerEvent
from tests import factories

pytestmark = pytest.mark.django_db

PERSON_FIRST, PERSON_LAST = "100%", "Pérez <b>&"
UNIT = "Sector 50%"
READER = "Lector 100% <i>&"
FACILITY = "Centro 100% <Norte> & Sur"
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


@pytest.fixture
def w(make_user):
    facility = factories.FacilityFactory(name=FACILITY)
    unit = factories.LocationFactory(facility=facility, code="S50", name=UNIT, kind="unit")
    cell = factories.CellFactory(facility=facility, code="S50-01", parent=unit)
    person = factories.InmateFactory(
        facility=facility,
        cell=cell,
        booking_number="GT-PCT",
        first_name=PERSON_FIRST,
        last_name=PERSON_LAST,
    )
    reader, _key = factories.device(facility, name=READER, location=cell)
    at = timezone.now() - timedelta(days=1)
    # A weak match, so that the integrity report names the reader.
    CheckIn.objects.create(
        id=uuid.uuid4(),
        observed_at=at,
        received_at=at,
        facility=facility,
        inmate=person,
        location=cell,
        method="fingerprint",
        is_biometric=True,
        score=0.5,
        device=reader,
    )
    client = Client()
    client.force_login(make_user("auditor", facility, username="auditora"))
    return facility, unit, client


def download(client, url, **params):
    """The export, whichever method its view takes (GET, or POST with the form)."""
    response = client.get(url, params, **EN)
    if response.status_code == 405:
        response = client.post(f"{url}?{urlencode(params)}", params, **EN)
    return response


def pdf_text(response) -> str:
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(response.content))
    return " ".join(page.extract_text() for page in reader.pages)


def period() -> dict:
    today = timezone.localdate()
    return {
        "since": (today - timedelta(days=3)).isoformat(),
        "until": (today + timedelta(days=1)).isoformat(),
    }


def test_a_person_named_with_percent_and_markup_gets_a_history_pdf(w):
    facility, _unit, client = w
    text = pdf_text(
        download(client, f"/audit/{facility.code}/people/GT-PCT/export.pdf", period="all")
    )

    assert f"{PERSON_FIRST} {PERSON_LAST}" in text
    assert FACILITY in text
    assert LedgerEvent.objects.filter(facility=facility, action="export.created").count() == 1


def test_a_unit_named_with_percent_gets_its_counts_pdf(w):
    facility, unit, client = w
    url = f"/audit/{facility.code}/units/{unit.pk}/counts/export.pdf"
    text = pdf_text(download(client, url, **period()))

    assert UNIT in text
    assert FACILITY in text


def test_the_integrity_pdf_prints_names_with_percent_and_markup(w):
    facility, _unit, client = w
    text = pdf_text(download(client, f"/audit/{facility.code}/integrity/export.pdf", **period()))

    assert READER in text
    assert FACILITY in text
