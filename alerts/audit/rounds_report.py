"""The rounds compliance report as the workspace shows it: the selector's
figures (custody.selectors.round_compliance) as named rows, one chart of the
gaps over the day, and the same tables for the CSV, the PDF and the API."""

from dataclasses import dataclass

from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from alerts.audit.charts import PALETTE, Series, grouped_bar_chart
from alerts.audit.exports import Report, Table
from alerts.audit.pages.charts import Figure, wait_text
from alerts.audit.period import Period
from custody.models import Facility, Location, User
from custody.round_standards import DEFAULT_STANDARD, STANDARDS
from custody.selectors.round_compliance import (
    ComplianceReport,
    Figures,
    cells_unchecked,
    round_compliance,
)
from custody.selectors.rounds import cells_without_tag

TIME_FORMAT = "%Y-%m-%d %H:%M"


@dataclass
class Line:
    """A row of the report: a name and its figures."""

    key: str  # stable: a standard's key, a unit's code, an officer's username
    name: str
    figures: Figures


@dataclass
class RoundsReport:
    facility: Facility
    period: Period
    compliance: ComplianceReport
    standards: list[Line]
    units: list[Line]
    officers: list[Line]
    officer_names: dict[int, str]
    unit_names: dict[int, str]
    unchecked: list[str]  # codes of tagged cells no check reached in the period
    untagged: list[str]  # codes of occupied cells with no active tag (now)


def standard_from(raw: str | None) -> str | None:
    """The standard's key; the default when none is asked; None when unknown."""
    raw = (raw or "").strip()
    if not raw:
        return DEFAULT_STANDARD
    return raw if raw in STANDARDS else None


def rounds_report(*, facility: Facility, period: Period, standard: str) -> RoundsReport:
    compliance = round_compliance(
        facility=facility, since=period.since, until=period.until, standard=standard
    )
    unit_names = _unit_names(compliance)
    officer_names = dict(
        User.objects.filter(
            pk__in={*compliance.by_officer, *(r.officer_id for r in compliance.regular)}
        ).values_list("pk", "username")
    )
    return RoundsReport(
        facility=facility,
        period=period,
        compliance=compliance,
        standards=[
            Line(key, str(STANDARDS[key].label), figures)
            for key, figures in compliance.by_standard.items()
        ],
        units=sorted(
            (
                Line(unit_names.get(pk, "—"), unit_names.get(pk, "—"), figures)
                for pk, figures in compliance.by_unit.items()
            ),
            key=lambda line: line.name,
        ),
        officers=sorted(
            (
                Line(officer_names.get(pk, "—"), officer_names.get(pk, "—"), figures)
                for pk, figures in compliance.by_officer.items()
            ),
            key=lambda line: line.name,
        ),
        officer_names=officer_names,
        unit_names=unit_names,
        unchecked=[
            code
            for _pk, code in cells_unchecked(
                facility=facility, since=period.since, until=period.until
            )
        ],
        untagged=[code for _pk, code in cells_without_tag(facility=facility)],
    )


def _unit_names(compliance: ComplianceReport) -> dict[int, str]:
    ids = {*compliance.by_unit, *(shift.unit_id for shift in compliance.regular)} - {None}
    return {
        location.pk: f"{location.code} — {location.name}"
        if location.name and location.name != location.code
        else location.code
        for location in Location.objects.filter(pk__in=ids)
    }


# --- Rows ------------------------------------------------------------------------


def figure_columns(first: str) -> list[str]:
    return [
        first,
        _("Checks"),
        _("On time"),
        _("Asked for"),
        _("On-time share"),
        _("Missed"),
        _("Longest gap"),
        _("Implausible"),
        _("Too regular (cell-shifts)"),
    ]


def share_text(share: float | None) -> str:
    return "—" if share is None else f"{share * 100:.1f} %"


def figure_row(line: Line) -> list:
    f = line.figures
    return [
        line.name,
        f.checks,
        f.on_time,
        f.expected,
        share_text(f.on_time_share),
        f.missed,
        wait_text(f.longest),
        f.implausible,
        f.too_regular,
    ]


def regular_columns() -> list[str]:
    return [
        _("Cell"),
        _("Unit"),
        _("Shift from"),
        _("Intervals"),
        _("Mean interval"),
        _("Spread"),
        _("Officer"),
    ]


def regular_rows(report: RoundsReport) -> list[list]:
    tz = report.facility.tzinfo
    return [
        [
            shift.cell_code,
            report.unit_names.get(shift.unit_id, "—"),
            shift.shift_start.astimezone(tz).strftime(TIME_FORMAT),
            shift.intervals,
            wait_text(shift.mean),
            wait_text(shift.spread),
            report.officer_names.get(shift.officer_id, "—"),
        ]
        for shift in report.compliance.regular
    ]


def hour_columns() -> list[str]:
    return [_("Hour"), _("Gaps"), _("Average gap"), _("Longest gap")]


def hour_rows(report: RoundsReport) -> list[list]:
    return [
        [f"{hour.hour:02d}:00", hour.gaps, wait_text(hour.mean), wait_text(hour.longest)]
        for hour in report.compliance.hours
    ]


# --- The chart and the export -----------------------------------------------------


def gaps_figure(report: RoundsReport) -> Figure:
    """Average and longest gap by the hour of the day (minutes): nights that
    stretch, shift changes nobody covers."""
    by_hour = {hour.hour: hour for hour in report.compliance.hours}
    hours = range(24)

    def minutes(hour, attribute):
        found = by_hour.get(hour)
        return round(getattr(found, attribute).total_seconds() / 60) if found else 0

    limit = report.compliance.standard.limit("standard") // 60
    svg = grouped_bar_chart(
        chart_id="round-gaps",
        title=_("Gaps between checks of a cell, by hour of the day"),
        description=_(
            "For each hour of the day (facility time), the average and the longest time a "
            "cell waited for its check, in minutes; the standard's limit for a standard "
            "watch is %(limit)s minutes."
        )
        % {"limit": limit},
        categories=[f"{hour:02d}" for hour in hours],
        series=[
            Series(_("Average gap"), [minutes(h, "mean") for h in hours], PALETTE[0]),
            Series(_("Longest gap"), [minutes(h, "longest") for h in hours], PALETTE[3]),
        ],
        unit_label=_("minutes"),
    )
    return Figure(
        svg=svg,
        caption=_("Hours with checks, by the hour the gap ended."),
        columns=hour_columns(),
        rows=hour_rows(report),
    )


def export_report(report: RoundsReport) -> Report:
    standard = report.compliance.standard
    return Report(
        kind="rounds_compliance",
        subject=f"rounds:{standard.key}",
        title=_("Observation rounds: compliance"),
        facility=report.facility,
        period=report.period,
        tables=[
            Table(
                _("By standard"),
                figure_columns(pgettext("written standard", "Standard")),
                [figure_row(line) for line in report.standards],
            ),
            Table(
                _("By unit (%(standard)s)") % {"standard": standard.label},
                figure_columns(_("Unit")),
                [figure_row(line) for line in report.units],
            ),
            Table(
                _("By officer (%(standard)s)") % {"standard": standard.label},
                figure_columns(_("Officer")),
                [figure_row(line) for line in report.officers],
            ),
            Table(_("Too regular"), regular_columns(), regular_rows(report)),
            Table(_("Gaps by hour of the day"), hour_columns(), hour_rows(report)),
            Table(
                _("Cells not reached"),
                [_("Cell"), _("Why")],
                [[code, _("tagged, not checked in the period")] for code in report.unchecked]
                + [[code, _("occupied, no tag to scan (now)")] for code in report.untagged],
            ),
        ],
        notes=[
            _("Graded against: %(standard)s. Times in %(zone)s.")
            % {"standard": standard.label, "zone": report.facility.timezone},
            _(
                "Too regular: a cell checked at least four times in one eight-hour shift at "
                "intervals whose spread is under %(percent)s%% of their mean."
            )
            % {"percent": report.facility.round_min_spread_percent},
        ],
    )
