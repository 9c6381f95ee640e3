"""PDF exports of real data: a row taller than a page (a count missing 112
people, a 4,000-character resolution) continues on the next page instead of
failing with reportlab's LayoutError, and nothing in it is lost."""

import io
import zoneinfo
from types import SimpleNamespace

import pytest
from django.test import Client
from django.utils import timezone
from pypdf import PdfReader

from alerts.audit.exports import Report, Table, render_pdf
from alerts.models import AlertStatus
from alerts.services.lifecycle import MAX_RESOLUTION_LENGTH, InvalidResolution, alert_resolve
from tests import factories

MISSING = [f"Persona Apellido{i} (GT-2025-{i:06d})" for i in range(112)]
WORDS = "Se buscó en todos los patios, talleres y celdas del sector sin hallarlo. "


def text_of(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) > 1  # the long rows really did need more than a page
    # Lines are joined without their spaces: compare text without any.
    return "".join("".join(page.extract_text().split()) for page in reader.pages)


def test_a_row_taller_than_a_page_splits_across_pages():
    facility = SimpleNamespace(
        code="FJ2", name="Fraijanes II", tzinfo=zoneinfo.ZoneInfo("America/Guatemala")
    )
    # Eight columns, so the names fall in a narrow one, as in the counts export.
    columns = ["When", "Kind", "Missing", "Unit", "Started by", "Verified by", "Status", "Note"]
    resolution = (WORDS * 100)[:MAX_RESOLUTION_LENGTH]
    rows = [
        ["2026-12-01 22:00", "formal", ", ".join(MISSING), "B", "guardia1", "sup1", "x", ""],
        ["2026-12-02 02:00", "alert", resolution, "B", "sup1", "", "resolved", "y"],
    ]
    report = Report(
        kind="test",
        subject="location:B",
        title="Counts",
        facility=facility,
        period=None,
        tables=[Table(title="Counts", columns=columns, rows=rows)],
    )

    text = text_of(render_pdf(report, by=SimpleNamespace(username="auditora")))

    for booking in (f"GT-2025-{i:06d}" for i in range(112)):
        assert booking in text
    assert text.count("sinhallarlo") == resolution.count("sin hallarlo") > 40


@pytest.mark.django_db
def test_a_persons_history_pdf_carries_a_4000_character_resolution(make_user):
    facility = factories.FacilityFactory()
    person = factories.InmateFactory(facility=facility)
    supervisor = make_user("supervisor", facility)
    alert = factories.AlertFactory(facility=facility, inmate=person)
    resolution = (WORDS * 100)[:MAX_RESOLUTION_LENGTH]
    alert_resolve(alert=alert, by=supervisor, resolution=resolution)
    client = Client()
    client.force_login(make_user("auditor", facility))

    response = client.post(
        f"/audit/{facility.code}/people/{person.booking_number}/export.pdf?period=all",
        {"period": "all"},
    )

    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == "application/pdf"
    assert text_of(response.content).count("sinhallarlo") >= resolution.count("sin hallarlo")


@pytest.mark.django_db
def test_a_resolution_longer_than_announced_is_refused_by_the_service(make_user):
    facility = factories.FacilityFactory()
    alert = factories.AlertFactory(facility=facility)
    supervisor = make_user("supervisor", facility)

    with pytest.raises(InvalidResolution):
        alert_resolve(alert=alert, by=supervisor, resolution="x" * (MAX_RESOLUTION_LENGTH + 1))

    alert.refresh_from_db()
    assert alert.status == AlertStatus.OPEN
    assert alert.resolved_at is None


@pytest.mark.django_db
def test_the_page_refuses_a_6000_character_resolution(make_user):
    facility = factories.FacilityFactory()
    alert = factories.AlertFactory(facility=facility, opened_at=timezone.now())
    client = Client()
    client.force_login(make_user("supervisor", facility))

    response = client.post(f"/dashboard/alerts/{alert.pk}/resolve/", {"resolution": "x" * 6000})

    assert response.status_code == 400
    alert.refresh_from_db()
    assert alert.status == AlertStatus.OPEN
