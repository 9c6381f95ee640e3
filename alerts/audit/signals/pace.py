"""Counts too fast: marks that came faster than people can be walked past.

A count is a walk past every cell, looking at each person. A whole unit
marked in seconds was written down, not counted.
"""

from django.db.models import Count, Max, Min
from django.utils.translation import gettext as _

from alerts.audit.signals import links
from alerts.audit.signals.base import NUMBER, TIME, Column, Row, Scope, Signal, threshold
from custody.models import CountKind, RollCallEntry
from custody.selectors.rollcalls import SETTLED

MAX_MARKS_PER_MINUTE = 12  # fires above this pace...
MIN_MARKS = 10  # ...on counts of at least this many people (a short count is quick)
# Marks made in the same second still took one: no division by zero, and an
# "everyone present" tap shows as the fastest possible pace.
SHORTEST_SPAN_SECONDS = 1


def counts_too_fast(scope: Scope) -> Signal:
    pace_max = threshold("MAX_MARKS_PER_MINUTE", MAX_MARKS_PER_MINUTE)
    min_marks = threshold("MIN_MARKS", MIN_MARKS)
    rows = []
    for count in _marking_spans(scope, min_marks):
        seconds = max((count["last"] - count["first"]).total_seconds(), SHORTEST_SPAN_SECONDS)
        pace = count["people"] * 60 / seconds
        if pace <= pace_max:
            continue
        started, submitted = count["rollcall__started_at"], count["rollcall__submitted_at"]
        submitter = count["rollcall__submitted_by__username"]
        rows.append(
            (
                pace,
                Row(
                    [
                        count["rollcall__location__code"],
                        str(CountKind(count["rollcall__kind"]).label),
                        scope.local(started),
                        scope.local(submitted),
                        submitter,
                        count["people"],
                        round((count["last"] - count["first"]).total_seconds()),
                        round(pace, 1),
                        round((submitted - started).total_seconds() / 60, 1),
                    ],
                    [links.rollcall(count["rollcall_id"]), links.officer(scope, submitter)],
                ),
            )
        )
    rows.sort(key=lambda item: -item[0])
    return Signal(
        key="counts_too_fast",
        title=_("Counts marked too fast"),
        explanation=_(
            "Submitted counts whose marks came faster than people can be walked past: people "
            "marked per minute, from the first mark to the last. Fires above %(pace)s per "
            "minute on counts of at least %(people)s people."
        )
        % {"pace": pace_max, "people": min_marks},
        fired=bool(rows),
        columns=[
            Column("unit", _("Unit")),
            Column("kind", _("Kind")),
            Column("started_at", _("Started"), TIME),
            Column("submitted_at", _("Submitted"), TIME),
            Column("submitted_by", _("Submitted by")),
            Column("people", _("People marked"), NUMBER),
            Column("marking_seconds", _("Seconds marking"), NUMBER),
            Column("per_minute", _("Per minute"), NUMBER),
            Column("minutes_open", _("Minutes start to submit"), NUMBER),
        ],
        rows=[row for _pace, row in rows],
        thresholds={"MAX_MARKS_PER_MINUTE": pace_max, "MIN_MARKS": min_marks},
    )


def _marking_spans(scope: Scope, min_marks: int):
    """Per count submitted in the period: people marked, first and last mark."""
    return (
        RollCallEntry.objects.filter(
            rollcall__facility=scope.facility,
            rollcall__status__in=SETTLED,
            rollcall__submitted_at__gte=scope.since,
            rollcall__submitted_at__lt=scope.until,
        )
        .values(
            "rollcall_id",
            "rollcall__location__code",
            "rollcall__kind",
            "rollcall__started_at",
            "rollcall__submitted_at",
            "rollcall__submitted_by__username",
        )
        .annotate(
            people=Count("inmate_id", distinct=True),
            first=Min("observed_at"),
            last=Max("observed_at"),
        )
        .filter(people__gte=min_marks)
        .order_by()
    )
