"""The report as plain tables, for the CSV and PDF exports."""

from datetime import datetime

from django.utils.translation import gettext as _

from alerts.audit.exports import Report, Table
from alerts.audit.signals.base import IntegrityReport, Row, Signal

KIND = "integrity_report"


def plain(value):
    """A value as an export writes it: times with their offset, to the second."""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    return value


def export_row(row: Row) -> list:
    """The row's values, then the paths of the records behind it."""
    return [plain(value) for value in row.values] + [" ".join(link.url for link in row.links)]


def signal_table(signal: Signal) -> Table:
    return Table(
        title=signal.title,
        columns=[column.label for column in signal.columns] + [_("Records")],
        rows=[export_row(row) for row in signal.rows],
    )


def summary_table(report: IntegrityReport) -> Table:
    return Table(
        title=_("Summary"),
        columns=[_("Signal"), _("Key"), _("Fired"), _("Rows"), _("What it means")],
        rows=[
            [s.title, s.key, _("yes") if s.fired else _("no"), len(s.rows), s.explanation]
            for s in report.signals
        ],
    )


def export_report(report: IntegrityReport) -> Report:
    fired = report.fired
    return Report(
        kind=KIND,
        subject=f"facility:{report.facility.code}",
        title=_("Integrity signals"),
        facility=report.facility,
        period=report.period,
        tables=[summary_table(report), *(signal_table(signal) for signal in report.signals)],
        notes=[
            _("%(fired)s of %(total)s signals fired: %(names)s.")
            % {
                "fired": len(fired),
                "total": len(report.signals),
                "names": ", ".join(signal.title for signal in fired) or _("none"),
            }
        ],
    )
