"""An administrator prints a unit's cell tags as QR codes (custody.services.round_tag_sheet)."""

import io

from django.test import Client
from pypdf import PdfReader
from reportlab.graphics.barcode.qr import QrCodeWidget

from custody.models import LedgerEvent, LocationTag
from tests import factories
from tests.rounds_report_world import rounds_world
from tests.second_factor import sign_in


def signed_in(user) -> Client:
    # Admins past their second factor, as after a real sign-in.
    return sign_in(Client(HTTP_ACCEPT_LANGUAGE="en"), user)


def sheet_url(world):
    return f"/counts/rounds/tags/{world.unit.pk}/sheet.pdf"


def test_an_admin_prints_each_cell_with_its_code_name_and_tag(facility, make_user):
    world = rounds_world(facility, make_user)
    # A cell without a QR tag says so rather than leaving a gap nobody notices.
    factories.CellFactory(facility=facility, parent=world.unit, code="C4", name="Celda C4")
    client = signed_in(world.users["admin"])
    listing = client.get("/counts/rounds/tags/")
    assert listing.status_code == 200 and 'data-unit="U"' in listing.content.decode()

    response = client.post(sheet_url(world))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)
    for code in ("C1", "C2", "C3", "C4", "Celda C1", "No QR tag registered"):
        assert code in text
    # The uid is in the QR only, never in letters someone could copy and type.
    assert "QRC1" not in text
    [event] = LedgerEvent.objects.filter(facility=facility, action="export.created")
    assert event.subject == "location:U" and event.actor == "user:adm"
    assert event.data["kind"] == "round_tag_sheet"
    assert event.data["tags"] == ["QRC1", "QRC2", "QRC3"] and event.data["rows"] == 4


def test_the_qr_drawn_encodes_the_tag_uid():
    # What the scanner will type into the rounds screen: the uid, nothing else.
    widget = QrCodeWidget("QRC1")
    assert widget.value == "QRC1"


def test_a_retired_tag_is_not_printed(facility, make_user):
    # Which uids a sheet carries is in its ledger event.
    world = rounds_world(facility, make_user)
    LocationTag.objects.filter(uid="QRC2").update(
        retired_at=world.tags["C2"].registered_at,
        retired_by=world.users["admin"],
        retire_reason="Rota",
    )
    response = signed_in(world.users["admin"]).post(sheet_url(world))
    assert response.status_code == 200, response.content[:300]
    [event] = LedgerEvent.objects.filter(action="export.created")
    assert event.data["tags"] == ["QRC1", "QRC3"]


def test_guards_supervisors_auditors_and_outsiders_print_nothing(
    facility, make_user, other_facility
):
    world = rounds_world(facility, make_user)
    assert signed_in(world.users["g1"]).get("/counts/rounds/tags/").status_code == 403
    assert signed_in(world.users["g1"]).post(sheet_url(world)).status_code == 403
    assert signed_in(world.users["auditor"]).post(sheet_url(world)).status_code == 403
    # Whoever holds a cell's QR can "check" it from a desk: admins only.
    assert signed_in(world.users["supervisor"]).get("/counts/rounds/tags/").status_code == 403
    assert signed_in(world.users["supervisor"]).post(sheet_url(world)).status_code == 403
    outsider = make_user("admin", other_facility)
    assert signed_in(outsider).post(sheet_url(world)).status_code == 404
    assert not LedgerEvent.objects.filter(action="export.created").exists()
