"""``/audit/<code>/``: a facility at a glance (alerts per day, how fast people
answered them, expected vs present per unit) and each unit's counts, with
their CSV and PDF exports."""

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, render
from django.urls import path, reverse
from django.utils.formats import date_format
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from alerts.audit import chart_data
from alerts.audit.access import audit_page
from alerts.audit.charts import PALETTE, Series, grouped_bar_chart, stacked_bar_chart, step_chart
from alerts.audit.exports import FORMATS, Report, Table, export_response
from alerts.audit.period import Period, page_period
from alerts.models import AlertKind
from custody.models import Location, RollCall
from custody.permissions import records_a_read

OVERVIEW, UNIT_COUNTS = "audit/overview.html", "audit/unit_counts.html"
PAGE_SIZE = 50
# One colour per kind, the same on every chart and every day.
KIND_COLORS = dict(zip(AlertKind.values, PALETTE, strict=True))
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


@dataclass
class Figure:
    """A chart and the same numbers as a table, for screen readers and print."""

    svg: SafeString
    caption: str
    columns: list[str]
    rows: list[list]


# --- Views ----------------------------------------------------------------------


@audit_page
@require_GET
def facility_overview(request, facility):
    period, context = page_period(
        request,
        facility,
        keep=("unit",),
        first_record=lambda: chart_data.first_activity(facility),
    )
    context["facility"] = facility
    if period is None:
        return render(request, OVERVIEW, context, status=400)
    summaries = chart_data.unit_summaries(facility, period)
    chosen = _chosen_unit(request.GET.get("unit", ""), summaries)
    context.update(summaries=summaries, period_query=urlencode(period.as_query()))
    if chosen is False:
        context["unit_error"] = _("Choose one of the units listed.")
        return render(request, OVERVIEW, context, status=400)
    responses = chart_data.response_times(facility, period)
    context.update(
        chosen=chosen,
        alerts_figure=alerts_figure(chart_data.alerts_per_day(facility, period)),
        response_figure=response_figure(responses),
        response_columns=response_columns(),
        response_rows=response_rows(responses),
        count_figure=(
            count_figure(chosen, chart_data.unit_count_series(chosen, period), period)
            if chosen
            else None
        ),
    )
    return render(request, OVERVIEW, context)


@audit_page
@require_GET
def unit_counts(request, facility, pk):
    unit = get_object_or_404(chart_data.counted_units(facility), pk=pk)
    period, context = page_period(request, facility)
    context.update(facility=facility, unit=unit)
    if period is None:
        return render(request, UNIT_COUNTS, context, status=400)
    page = Paginator(chart_data.unit_counts(unit, period), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    query = urlencode(period.as_query())
    context.update(
        page=page,
        columns=count_columns(),
        rows=count_rows(page.object_list, facility.tzinfo),
        figure=count_figure(unit, chart_data.unit_count_series(unit, period), period),
        period_query=query,
        exports=[(fmt.upper(), _export_url(facility, unit, fmt, query)) for fmt in FORMATS],
    )
    return render(request, UNIT_COUNTS, context)


@records_a_read
@audit_page
@require_POST
def unit_counts_export(request, facility, pk, fmt):
    unit = get_object_or_404(chart_data.counted_units(facility), pk=pk)
    period, context = page_period(request, facility)
    if period is None:
        context.update(facility=facility, unit=unit)
        return render(request, UNIT_COUNTS, context, status=400)
    report = Report(
        kind="unit_counts",
        subject=f"location:{unit.code}",
        title=_("Counts of %(unit)s") % {"unit": _unit_name(unit)},
        facility=facility,
        period=period,
        tables=[
            Table(
                title=_("Counts started in the period"),
                columns=count_columns(),
                rows=count_rows(chart_data.unit_counts(unit, period), facility.tzinfo),
            )
        ],
        notes=[_("Oldest first; times in %(zone)s.") % {"zone": facility.timezone}],
    )
    first, last = period.days[0], period.days[-1]
    filename = f"counts-{facility.code}-{unit.code}-{first:%Y%m%d}-{last:%Y%m%d}"
    return export_response(report, fmt=fmt, by=request.user, filename=filename)


def _chosen_unit(raw: str, summaries) -> Location | bool | None:
    """The unit asked for, else the first with counts in the period, else the
    first; ``False`` when the request names no unit of this facility."""
    units = [summary.unit for summary in summaries]
    if raw:
        found = [unit for unit in units if str(unit.pk) == raw.strip()]
        return found[0] if found else False
    counted = [summary.unit for summary in summaries if summary.counts]
    return (counted or units or [None])[0]


def _export_url(facility, unit, fmt: str, query: str) -> str:
    url = reverse(
        "audit-unit-counts-export", kwargs={"code": facility.code, "pk": unit.pk, "fmt": fmt}
    )
    return f"{url}?{query}"


# --- Figures ---------------------------------------------------------------------


def alerts_figure(data: chart_data.AlertsPerDay) -> Figure:
    labels = {kind: AlertKind(kind).label for kind in data.kinds}
    title = _("Alerts opened per day, by kind")
    svg = stacked_bar_chart(
        chart_id="alerts-per-day",
        title=title,
        description=_(
            "%(total)s alerts opened over %(days)s days, one bar per day in the facility's "
            "time zone, stacked by kind."
        )
        % {"total": data.total, "days": len(data.days)},
        categories=[date_format(day, "j M") for day in data.days],
        series=[
            Series(labels[kind], [data.count(day, kind) for day in data.days], KIND_COLORS[kind])
            for kind in data.kinds
        ],
        unit_label=_("alerts"),
    )
    rows = [
        [date_format(day, "D j M Y")]
        + [data.count(day, kind) for kind in data.kinds]
        + [data.day_total(day)]
        for day in data.days
        if data.day_total(day)
    ]
    return Figure(
        svg=svg,
        caption=_("Days without alerts are left out."),
        columns=[_("Day"), *labels.values(), _("Total")],
        rows=rows,
    )


def response_figure(report: chart_data.ResponseReport) -> Figure:
    ack, resolved = report.ack_buckets, report.resolve_buckets
    labels = [str(label) for label in chart_data.BUCKET_LABELS]
    svg = grouped_bar_chart(
        chart_id="response-times",
        title=_("How long alerts waited for a person"),
        description=_(
            "Of %(opened)s alerts opened in the period, how many were acknowledged and how "
            "many resolved by a person within each time; alerts closed by an observation are "
            "left out."
        )
        % {"opened": report.opened},
        categories=labels,
        series=[
            Series(_("Acknowledged"), ack, PALETTE[0]),
            Series(_("Resolved by a person"), resolved, PALETTE[1]),
        ],
        unit_label=_("alerts"),
    )
    return Figure(
        svg=svg,
        caption=_("Time from opening, all kinds together."),
        columns=[_("Waited"), _("Acknowledged"), _("Resolved by a person")],
        rows=[[label, a, r] for label, a, r in zip(labels, ack, resolved, strict=True)],
    )


def response_columns() -> list[str]:
    return [
        _("Kind"),
        _("Opened"),
        _("Acknowledged"),
        _("Median to acknowledge"),
        # xgettext:no-python-format
        _("90% acknowledged within"),
        _("Resolved by a person"),
        _("Median to resolve"),
        # xgettext:no-python-format
        _("90% resolved within"),
        _("Closed by an observation"),
        _("Not resolved yet"),
    ]


def response_rows(report: chart_data.ResponseReport) -> list[list]:
    return [
        [
            row.label,
            row.opened,
            row.acknowledged,
            wait_text(row.ack_median),
            wait_text(row.ack_p90),
            row.resolved,
            wait_text(row.resolve_median),
            wait_text(row.resolve_p90),
            row.closed_by_observation,
            row.unresolved,
        ]
        for row in report.kinds
    ]


def count_figure(unit: Location, points: list[chart_data.CountPoint], period: Period) -> Figure:
    tz = period.tz
    name = _unit_name(unit)
    svg = step_chart(
        chart_id=f"counts-{unit.pk}",
        title=_("Expected and present in %(unit)s") % {"unit": name},
        description=_(
            "Each count of %(unit)s submitted in the period, at the time it was submitted: "
            "people expected, present, out with authorisation and unaccounted; each figure "
            "holds until the next count. %(counts)s counts, %(short)s with someone unaccounted."
        )
        % {
            "unit": name,
            "counts": len(points),
            "short": sum(1 for point in points if point.unaccounted),
        },
        series=[
            Series(_("Expected"), [(p.at, p.expected) for p in points], PALETTE[0]),
            Series(_("Present"), [(p.at, p.present) for p in points], PALETTE[2], "7 4"),
            Series(_("Out, authorised"), [(p.at, p.out) for p in points], PALETTE[7], "2 4"),
            Series(_("Unaccounted"), [(p.at, p.unaccounted) for p in points], PALETTE[3]),
        ],
        start=period.since,
        end=period.until,
        tz=tz,
        unit_label=_("people"),
    )
    return Figure(
        svg=svg,
        caption=_("Submitted counts, oldest first."),
        columns=[
            _("Submitted"),
            _("Expected"),
            _("Present"),
            _("Out, authorised"),
            _("Unaccounted"),
        ],
        rows=[[_local(p.at, tz), p.expected, p.present, p.out, p.unaccounted] for p in points],
    )


# --- A unit's counts as rows (the page and both exports) -------------------------


def count_columns() -> list[str]:
    return [
        _("Count"),
        _("Kind"),
        _("Status"),
        _("Started"),
        _("Started by"),
        _("Submitted"),
        _("Submitted by"),
        _("Verified"),
        _("Verified by"),
        _("Expected"),
        _("Present"),
        _("Out, authorised"),
        _("Unaccounted"),
        _("Unaccounted people"),
        _("Recount of"),
        _("Cancelled"),
        _("Cancelled by"),
        _("Reason for cancelling"),
    ]


def count_rows(rollcalls, tz) -> list[list]:
    return [
        [
            str(count.pk),
            count.get_kind_display(),
            count.get_status_display(),
            _local(count.started_at, tz),
            _username(count.started_by),
            _local(count.submitted_at, tz),
            _username(count.submitted_by),
            _local(count.verified_at, tz),
            _username(count.verified_by),
            count.expected_count,
            count.present_count,
            count.out_count,
            count.unaccounted_count,
            _unaccounted_people(count),
            str(count.recount_of_id or ""),
            _local(count.cancelled_at, tz),
            _username(count.cancelled_by),
            count.cancel_reason,
        ]
        for count in rollcalls
    ]


def _unaccounted_people(count: RollCall) -> str:
    people = count.unaccounted if isinstance(count.unaccounted, list) else []
    return "; ".join(
        " ".join(
            part
            for part in (
                str(person.get("inmate", "")),
                str(person.get("name", "")),
                f"({person['cell']})" if person.get("cell") else "",
            )
            if part
        )
        for person in people
        if isinstance(person, dict)
    )


def _local(moment, tz) -> str:
    return moment.astimezone(tz).strftime(TIME_FORMAT) if moment else ""


def _username(user) -> str:
    return user.username if user else ""


def _unit_name(unit: Location) -> str:
    return f"{unit.code} — {unit.name}" if unit.name and unit.name != unit.code else unit.code


def wait_text(wait: timedelta | None) -> str:
    """A wait as people say it: 42 s, 12 min, 3 h 05 min, 2 d 4 h."""
    if wait is None:
        return "—"
    seconds = max(round(wait.total_seconds()), 0)
    if seconds < 60:
        return _("%(s)s s") % {"s": seconds}
    minutes = seconds // 60
    if minutes < 60:
        return _("%(m)s min") % {"m": minutes}
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return _("%(h)s h %(m)02d min") % {"h": hours, "m": minutes}
    days, hours = divmod(hours, 24)
    return _("%(d)s d %(h)s h") % {"d": days, "h": hours}


urlpatterns = [
    path("", facility_overview, name="audit-facility"),
    path("units/<int:pk>/counts/", unit_counts, name="audit-unit-counts"),
    path(
        "units/<int:pk>/counts/export.<export:fmt>",
        unit_counts_export,
        name="audit-unit-counts-export",
    ),
]
