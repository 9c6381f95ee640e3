"""Low biometric scores: readers that accepted weak matches.

A check-in is stored whatever its score; a reader that keeps matching
weakly is dirty, badly set, or being fed someone else's finger. Per reader
(or officer, for a tablet signed in by a person) and per person.
"""

from django.db.models import Count, Max, Min
from django.utils.translation import gettext as _

from alerts.audit.signals import links
from alerts.audit.signals.base import NUMBER, TIME, Column, Link, Row, Scope, Signal, threshold
from custody.models import CheckIn

LOW_SCORE = 0.80  # a biometric match scored below this is weak


def low_biometric_scores(scope: Scope) -> Signal:
    low = threshold("LOW_SCORE", LOW_SCORE)
    weak = CheckIn.objects.filter(
        facility=scope.facility,
        observed_at__gte=scope.since,
        observed_at__lt=scope.until,
        is_biometric=True,
        score__lt=low,
    )
    aggregates = {"checks": Count("id"), "lowest": Min("score"), "last": Max("observed_at")}
    by_sender = (
        weak.values_list("device_id", "device__name", "recorded_by__username")
        .annotate(**aggregates)
        .order_by("-checks", "device__name", "recorded_by__username")
    )
    by_person = (
        weak.values_list("inmate__booking_number")
        .annotate(**aggregates)
        .order_by("-checks", "inmate__booking_number")
    )
    rows = []
    for device_id, device_name, username, checks, lowest, last in by_sender:
        if device_id is not None:
            by, name, sender = _("reader"), device_name, links.device(device_id, device_name)
        else:
            by, name, sender = _("officer"), username, links.officer(scope, username or "")
        rows.append(Row([by, name, checks, round(lowest, 3), scope.local(last)], [sender]))
    period = {"since": scope.iso(scope.since), "until": scope.iso(scope.until, up=True)}
    for booking, checks, lowest, last in by_person:
        rows.append(
            Row(
                [_("person"), booking, checks, round(lowest, 3), scope.local(last)],
                [
                    links.person(scope, booking),
                    Link(
                        _("check-ins of %(booking)s") % {"booking": booking},
                        links.api_path("checkins/", facility=scope.code, inmate=booking, **period),
                    ),
                ],
            )
        )
    return Signal(
        key="low_biometric_scores",
        title=_("Weak biometric matches"),
        explanation=_(
            "Accepted biometric check-ins whose match score was below %(score)s, per reader "
            "and per person: how many, the lowest score and the last time. Fires on any."
        )
        % {"score": low},
        fired=bool(rows),
        columns=[
            Column("by", _("By")),
            Column("name", _("Reader, officer or person")),
            Column("checks", _("Weak matches"), NUMBER),
            Column("lowest", _("Lowest score"), NUMBER),
            Column("last", _("Last"), TIME),
        ],
        rows=rows,
        thresholds={"LOW_SCORE": low},
    )
