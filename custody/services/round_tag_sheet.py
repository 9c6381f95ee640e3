"""A printable sheet of a unit's cell tags as QR codes, for places without
RFID: print, laminate, fix beside each door. The tablet's scanner reads the
code and types the tag's uid into the rounds screen.

A sheet is a copy of the proof of presence (whoever holds it could scan a
cell from the guard room), so only a supervisor or an administrator of the
facility prints one, and every sheet is an ``export.created`` event in the
ledger with who, which unit and the file's hash, like every other export.
The compliance report's implausible scans catch a sheet used at a desk.
"""

import hashlib
import io
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from reportlab.graphics import renderPDF
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from custody.models import Location, LocationKind, LocationTag, TagKind
from custody.roles import ADMIN_ROLES
from custody.services.ledger import ledger_append
from custody.services.rollcalls import require_counter

COLUMNS, ROWS = 3, 4  # labels per A4 page
MARGIN = 12 * mm
QR_SIZE = 42 * mm


@dataclass(frozen=True)
class SheetLabel:
    code: str
    name: str
    uid: str | None  # None: the cell has no QR tag yet


def sheet_labels(unit: Location) -> list[SheetLabel]:
    """Each cell of ``unit`` with its newest active QR tag, in code order."""
    cells = Location.objects.filter(parent=unit, kind=LocationKind.CELL).order_by("code")
    tags = {}
    for location_id, uid in (
        LocationTag.objects.filter(location__parent=unit, kind=TagKind.QR, retired_at__isnull=True)
        .order_by("registered_at", "id")
        .values_list("location_id", "uid")
    ):
        tags[location_id] = uid  # the newest wins
    return [SheetLabel(cell.code, cell.name, tags.get(cell.pk)) for cell in cells]


def round_tag_sheet(*, unit: Location, by) -> bytes:
    """The PDF of ``unit``'s cell tags, after its export is in the ledger.

    Refused (PermissionDenied) to anyone but an administrator assigned to the
    unit's facility: whoever holds a cell's QR code can "check" that cell
    from a desk, so the codes go only to those who register tags, as their
    uids do (``TAG_READER_ROLES``), and each print names its printer."""
    facility = unit.facility
    require_counter(by, facility)
    if by.role not in ADMIN_ROLES:
        raise PermissionDenied(_("Only an administrator may print tag sheets."))
    labels = sheet_labels(unit)
    body = _render(unit, labels, by=by)
    ledger_append(
        facility=facility,
        actor=by,
        action="export.created",
        subject=f"location:{unit.code}",
        data={
            "kind": "round_tag_sheet",
            "format": "pdf",
            "rows": len(labels),
            "tags": sorted(label.uid for label in labels if label.uid),
            "sha256": hashlib.sha256(body).hexdigest(),
        },
    )
    return body


def _render(unit: Location, labels: list[SheetLabel], *, by) -> bytes:
    out = io.BytesIO()
    width, height = A4
    title = _("Round tags of %(unit)s") % {"unit": f"{unit.code} — {unit.name}"}
    canvas = Canvas(out, pagesize=A4, invariant=False)
    canvas.setTitle(title)
    canvas.setAuthor(by.username)
    box_w = (width - 2 * MARGIN) / COLUMNS
    box_h = (height - 2 * MARGIN - 16 * mm) / ROWS
    per_page = COLUMNS * ROWS
    printed = date_format(
        timezone.localtime(timezone.now(), unit.facility.tzinfo), "DATETIME_FORMAT"
    )
    pages = max((len(labels) + per_page - 1) // per_page, 1)
    for page in range(pages):
        canvas.setFont("Helvetica-Bold", 12)
        canvas.drawString(MARGIN, height - MARGIN - 4 * mm, title)
        canvas.setFont("Helvetica", 7)
        canvas.drawString(
            MARGIN,
            height - MARGIN - 9 * mm,
            _("%(facility)s · printed %(when)s by %(who)s · page %(page)s of %(pages)s")
            % {
                "facility": unit.facility.code,
                "when": printed,
                "who": by.username,
                "page": page + 1,
                "pages": pages,
            },
        )
        if not labels:
            canvas.setFont("Helvetica", 10)
            canvas.drawString(MARGIN, height / 2, _("This unit has no cells."))
        for index, label in enumerate(labels[page * per_page : (page + 1) * per_page]):
            column, row = index % COLUMNS, index // COLUMNS
            left = MARGIN + column * box_w
            top = height - MARGIN - 16 * mm - row * box_h
            _label(canvas, label, left, top, box_w, box_h)
        canvas.showPage()
    canvas.save()
    return out.getvalue()


def _label(canvas, label: SheetLabel, left, top, box_w, box_h) -> None:
    canvas.setDash(2, 2)
    canvas.rect(left + 2 * mm, top - box_h + 2 * mm, box_w - 4 * mm, box_h - 4 * mm)
    canvas.setDash()
    centre = left + box_w / 2
    if label.uid:
        widget = QrCodeWidget(label.uid, barLevel="M")
        x0, y0, x1, y1 = widget.getBounds()
        drawing = Drawing(
            QR_SIZE, QR_SIZE, transform=[QR_SIZE / (x1 - x0), 0, 0, QR_SIZE / (y1 - y0), 0, 0]
        )
        drawing.add(widget)
        renderPDF.draw(drawing, canvas, centre - QR_SIZE / 2, top - 6 * mm - QR_SIZE)
    else:
        canvas.setFont("Helvetica-Oblique", 9)
        canvas.drawCentredString(centre, top - 6 * mm - QR_SIZE / 2, _("No QR tag registered"))
    canvas.setFont("Helvetica-Bold", 16)
    canvas.drawCentredString(centre, top - 13 * mm - QR_SIZE, label.code)
    canvas.setFont("Helvetica", 8)
    canvas.drawCentredString(centre, top - 18 * mm - QR_SIZE, label.name[:48])
    # The uid is not printed in letters: read off a photograph, it could be
    # typed from anywhere. Only a scanner reads it, at the door.
