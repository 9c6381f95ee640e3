"""``/audit/<code>/rounds/``: the observation rounds compliance report, graded
against a chosen standard, and its CSV and PDF exports."""

from urllib.parse import urlencode

from django.shortcuts import render
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from django.views.decorators.http import require_GET, require_POST

from alerts.audit.access import audit_page
from alerts.audit.exports import FORMATS, export_response
from alerts.audit.period import page_period
from alerts.audit.rounds_report import (
    export_report,
    figure_columns,
    figure_row,
    gaps_figure,
    regular_columns,
    regular_rows,
    rounds_report,
    standard_from,
)
from custody.permissions import records_a_read
from custody.round_standards import standard_choices

TEMPLATE = "audit/rounds.html"


def _report_or_errors(request, facility):
    """(report, context); the report is None and the context says why when
    the period or the standard is wrong."""
    period, context = page_period(request, facility, keep=("standard",))
    standard = standard_from(request.GET.get("standard"))
    context.update(
        facility=facility,
        standards=standard_choices(),
        chosen_standard=standard or request.GET.get("standard", ""),
    )
    if standard is None:
        context["standard_error"] = _("Choose one of the standards listed.")
    if period is None or standard is None:
        return None, context
    return rounds_report(facility=facility, period=period, standard=standard), context


@require_GET
@audit_page
def rounds_page(request, facility):
    report, context = _report_or_errors(request, facility)
    if report is None:
        return render(request, TEMPLATE, context, status=400)
    query = urlencode({**report.period.as_query(), "standard": report.compliance.standard.key})
    context.update(
        report=report,
        standard=report.compliance.standard,
        total=report.compliance.total,
        columns=figure_columns(pgettext("written standard", "Standard")),
        standard_rows=[figure_row(line) for line in report.standards],
        unit_columns=figure_columns(_("Unit")),
        unit_rows=[figure_row(line) for line in report.units],
        officer_columns=figure_columns(_("Officer")),
        officer_rows=[figure_row(line) for line in report.officers],
        regular_columns=regular_columns(),
        regular_rows=regular_rows(report),
        figure=gaps_figure(report),
        exports=[(fmt.upper(), f"{request.path}export.{fmt}?{query}") for fmt in FORMATS],
    )
    return render(request, TEMPLATE, context)


@records_a_read
@require_POST
@audit_page
def rounds_export(request, facility, fmt):
    report, context = _report_or_errors(request, facility)
    if report is None:
        return render(request, TEMPLATE, context, status=400)
    since, until = report.period.local()
    return export_response(
        export_report(report),
        fmt=fmt,
        by=request.user,
        filename=(
            f"rounds-{facility.code}-{report.compliance.standard.key}-{since:%Y%m%d}-{until:%Y%m%d}"
        ),
    )


urlpatterns = [
    path("", rounds_page, name="audit-rounds"),
    path("export.<export:fmt>", rounds_export, name="audit-rounds-export"),
]
