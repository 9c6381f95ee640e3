"""``/audit/<code>/integrity/``: the integrity signals report, and its exports."""

from urllib.parse import urlencode

from django.shortcuts import render
from django.urls import path
from django.views.decorators.http import require_GET, require_POST

from alerts.audit.access import audit_page
from alerts.audit.exports import export_response
from alerts.audit.period import page_period
from alerts.audit.signals import integrity_report
from alerts.audit.signals.tables import export_report
from custody.permissions import records_a_read

TEMPLATE = "audit/integrity.html"
# A page is for reading; past this many rows of a signal the CSV has the rest.
PAGE_ROWS = 100
# Links shown per row; the CSV export lists them all.
PAGE_LINKS = 6


@require_GET
@audit_page
def integrity_page(request, facility):
    period, context = page_period(request, facility)
    context["facility"] = facility
    if period is None:
        return render(request, TEMPLATE, context, status=400)
    report = integrity_report(facility=facility, period=period)
    context.update(
        report=report,
        # Fired first, each group in the report's own order.
        cards=[_card(s) for s in sorted(report.signals, key=lambda signal: not signal.fired)],
        period_query=urlencode(period.as_query()),
    )
    return render(request, TEMPLATE, context)


def _card(signal):
    """A signal as the page shows it: each value with its column's kind, and
    no more rows and links than a page can usefully hold."""
    kinds = [column.kind for column in signal.columns]
    return {
        "signal": signal,
        "rows": [
            {
                "cells": list(zip(row.values, kinds, strict=True)),
                "links": row.links[:PAGE_LINKS],
                "more_links": max(len(row.links) - PAGE_LINKS, 0),
            }
            for row in signal.rows[:PAGE_ROWS]
        ],
        "hidden_rows": max(len(signal.rows) - PAGE_ROWS, 0),
    }


@records_a_read
@require_POST
@audit_page
def integrity_export(request, facility, fmt):
    period, context = page_period(request, facility)
    if period is None:
        return render(request, TEMPLATE, {**context, "facility": facility}, status=400)
    report = integrity_report(facility=facility, period=period)
    since, until = period.local()
    return export_response(
        export_report(report),
        fmt=fmt,
        by=request.user,
        filename=f"integrity-{facility.code}-{since:%Y%m%d}-{until:%Y%m%d}",
    )


urlpatterns = [
    path("", integrity_page, name="audit-integrity"),
    path("export.<export:fmt>", integrity_export, name="audit-integrity-export"),
]
