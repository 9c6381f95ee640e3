"""CSV and PDF exports, each recorded in the ledger (who exported what, when).

A view builds a ``Report`` (a title, what it covers, and tables of plain
values) and answers with ``export_response``; the same report gives the CSV
and the PDF, so the two never disagree.
"""

import csv
import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.http import HttpResponse
from django.urls import register_converter
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.platypus import LongTable, Paragraph, SimpleDocTemplate, Spacer, TableStyle

from alerts.audit.period import Period
from custody.models import Facility
from custody.services import ledger_append

CSV, PDF = "csv", "pdf"
FORMATS = (CSV, PDF)


class ExportFormatConverter:
    """``<export:fmt>`` in a URL: one of ``FORMATS``; anything else is no URL (404)."""

    regex = "|".join(FORMATS)

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


# The pages that export name their URLs with it; they import this module first.
register_converter(ExportFormatConverter, "export")
# A PDF is for reading; past this many rows of a table it says so and the CSV
# (which always has every row) is the place to look.
PDF_MAX_ROWS = 3000
TABLE_FONT_SIZE = 7.5
# Spreadsheets run text that starts like a formula (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass
class Table:
    title: str
    columns: Sequence[str]
    rows: list[Sequence] = field(default_factory=list)


@dataclass
class Report:
    kind: str  # what was exported, e.g. "inmate_history" (recorded in the ledger)
    subject: str  # the ledger subject it is about, e.g. "inmate:GT-1"
    title: str
    facility: Facility
    period: Period | None
    tables: list[Table]
    notes: list[str] = field(default_factory=list)

    @property
    def row_count(self) -> int:
        return sum(len(table.rows) for table in self.tables)


def csv_safe(value):
    """The value as a spreadsheet will show it, never run it."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def render_csv(report: Report) -> bytes:
    """One table: its columns then its rows. Several: a ``section`` column first."""
    out = io.StringIO()
    writer = csv.writer(out)
    several = len(report.tables) > 1
    previous_columns = None
    for table in report.tables:
        if list(table.columns) != previous_columns:
            if previous_columns is not None:
                writer.writerow([])
            writer.writerow(([_("section")] if several else []) + list(table.columns))
            previous_columns = list(table.columns)
        for row in table.rows:
            writer.writerow(([table.title] if several else []) + [csv_safe(v) for v in row])
    # A byte-order mark so that spreadsheet programs read the accents right.
    return ("\ufeff" + out.getvalue()).encode()


def render_pdf(report: Report, *, by) -> bytes:
    out = io.BytesIO()
    styles = getSampleStyleSheet()
    cell = styles["BodyText"].clone("cell", fontSize=TABLE_FONT_SIZE, leading=9)
    head = cell.clone("head", fontName="Helvetica-Bold")
    generated = date_format(
        timezone.localtime(timezone.now(), report.facility.tzinfo), "DATETIME_FORMAT"
    )
    story = [
        Paragraph(_escape(report.title), styles["Title"]),
        Paragraph(_escape(_cover_line(report)), styles["Normal"]),
        Paragraph(
            _escape(_("Exported %(when)s by %(who)s.") % {"when": generated, "who": by.username}),
            styles["Normal"],
        ),
    ]
    story += [Paragraph(_escape(note), styles["Italic"]) for note in report.notes]
    for table in report.tables:
        story += [Spacer(1, 5 * mm), Paragraph(_escape(table.title), styles["Heading2"])]
        rows = table.rows[:PDF_MAX_ROWS]
        if not rows:
            story.append(Paragraph(_escape(_("Nothing in this period.")), styles["Normal"]))
            continue
        data = [[Paragraph(_escape(str(c)), head) for c in table.columns]]
        data += [[Paragraph(_escape(_text(v)), cell) for v in row] for row in rows]
        grid = LongTable(
            data,
            repeatRows=1,
            colWidths=_column_widths(table.columns, rows),
            # A row taller than a page (a count missing 112 people, a long
            # resolution) continues on the next page instead of failing.
            splitInRow=1,
        )
        grid.setStyle(
            TableStyle(
                [
                    ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8ecf1")),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("LEFTPADDING", (0, 0), (-1, -1), CELL_PADDING),
                    ("RIGHTPADDING", (0, 0), (-1, -1), CELL_PADDING),
                ]
            )
        )
        story.append(grid)
        if len(table.rows) > PDF_MAX_ROWS:
            story.append(
                Paragraph(
                    _escape(
                        _("%(shown)s of %(total)s rows shown; the CSV export has them all.")
                        % {"shown": PDF_MAX_ROWS, "total": len(table.rows)}
                    ),
                    styles["Italic"],
                )
            )
    document = SimpleDocTemplate(
        out,
        pagesize=landscape(A4),
        title=report.title,
        author=by.username,
        leftMargin=12 * mm,
        rightMargin=12 * mm,
        topMargin=12 * mm,
        bottomMargin=14 * mm,
    )
    # Formatted twice (now, then per page): a "%" in a name must survive the first.
    footer = _("%(facility)s · %(title)s · page %%(page)s") % {
        "facility": report.facility.code.replace("%", "%%"),
        "title": report.title.replace("%", "%%"),
    }

    def number_pages(canvas, doc):
        canvas.saveState()
        canvas.setFont("Helvetica", 7)
        canvas.drawString(12 * mm, 7 * mm, footer % {"page": doc.page})
        canvas.restoreState()

    document.build(story, onFirstPage=number_pages, onLaterPages=number_pages)
    return out.getvalue()


def export_response(report: Report, *, fmt: str, by, filename: str) -> HttpResponse:
    """The file, after its export is appended to the facility's ledger."""
    if fmt == CSV:
        body, content_type = render_csv(report), "text/csv; charset=utf-8"
    else:
        body, content_type = render_pdf(report, by=by), "application/pdf"
    record_export(report, fmt=fmt, by=by, body=body)
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}.{fmt}"'
    return response


def record_export(report: Report, *, fmt: str, by, body: bytes):
    data = {
        "kind": report.kind,
        "format": fmt,
        "rows": report.row_count,
        # An exported file can be matched to this event later.
        "sha256": hashlib.sha256(body).hexdigest(),
    }
    if report.period is not None:
        data.update(since=report.period.since, until=report.period.until)
    return ledger_append(
        facility=report.facility,
        actor=by,
        action="export.created",
        subject=report.subject,
        data=data,
    )


def _cover_line(report: Report) -> str:
    if report.period is None:
        return report.facility.name
    since, until = report.period.local()
    return _("%(facility)s, from %(since)s to %(until)s") % {
        "facility": report.facility.name,
        "since": date_format(since, "DATETIME_FORMAT"),
        "until": date_format(until, "DATETIME_FORMAT"),
    }


PAGE_WIDTH = landscape(A4)[0] - 24 * mm  # less the margins
CELL_PADDING = 3  # points, each side: wide tables need the room
PADDING = 2 * CELL_PADDING + 2  # a cell's own padding, left and right, and a little air
WIDEST_COLUMN = 180  # points: longer text wraps rather than squeezing the rest


def _width(text: str, *, bold: bool = False) -> float:
    return stringWidth(text, "Helvetica-Bold" if bold else "Helvetica", TABLE_FONT_SIZE)


def _column_widths(columns, rows) -> list[float]:
    """Each column as wide as its typical value (capped) and never narrower than
    the longest word of its heading; when the page is too narrow for all of
    that, only the widest columns give way, so headings never break mid-word."""
    floors, naturals = [], []
    for index, heading in enumerate(columns):
        widths = sorted(_width(_text(row[index])) for row in rows[:500])
        typical = min(widths[int(len(widths) * 0.9)] if widths else 0, WIDEST_COLUMN)
        word = max((_width(w, bold=True) for w in str(heading).split()), default=0)
        floors.append(word + PADDING)
        naturals.append(max(typical, word) + PADDING)
    total = sum(naturals)
    if total <= PAGE_WIDTH:
        return [width * PAGE_WIDTH / total for width in naturals]
    if sum(floors) >= PAGE_WIDTH:
        return [floor * PAGE_WIDTH / sum(floors) for floor in floors]
    # Lower one ceiling over every column until the table fits: narrow
    # columns keep their width, the widest give way down to their heading.
    low, high = 0.0, max(naturals)
    for _step in range(40):
        ceiling = (low + high) / 2
        fitted = [
            max(floor, min(natural, ceiling))
            for floor, natural in zip(floors, naturals, strict=True)
        ]
        low, high = (ceiling, high) if sum(fitted) <= PAGE_WIDTH else (low, ceiling)
    return [max(floor, min(natural, low)) for floor, natural in zip(floors, naturals, strict=True)]


def _text(value) -> str:
    return "" if value is None else str(value)


def _escape(text: str) -> str:
    # Paragraph reads a little markup; what people typed must not be read as it.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
