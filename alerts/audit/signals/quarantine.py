"""Quarantined scans: what readers and tablets sent that could not be kept.

An unknown booking number at a reader, another facility's prisoner, a clock
far off: each refused scan is kept with its reason because it may be the
first trace of something (a cloned tag, a reader moved, a made-up check).
"""

from collections import defaultdict

from django.db.models import Count, Max, Min
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from alerts.audit.signals import links
from alerts.audit.signals.base import NUMBER, TIME, Column, Link, Row, Scope, Signal, threshold
from custody.models import QuarantinedCheckIn

QUARANTINED_MIN = 1  # fires from this many refused scans in the period


def quarantined_scans(scope: Scope) -> Signal:
    fires_at = threshold("QUARANTINED_MIN", QUARANTINED_MIN)
    by = {"reason": defaultdict(list), "device": defaultdict(list), "officer": defaultdict(list)}
    total = 0
    for reason, device_id, device_name, username, scans, first, last in _refused(scope):
        total += scans
        tally = (scans, first, last)
        by["reason"][reason].append(tally)
        if device_id is not None:
            by["device"][(device_id, device_name)].append(tally)
        if username is not None:
            by["officer"][username].append(tally)
    rows = []
    if total >= fires_at:
        for reason, tallies in _most_first(by["reason"]):
            rows.append(_row(scope, _("reason"), reason, tallies, [_reason_link(scope, reason)]))
        for (device_id, name), tallies in _most_first(by["device"]):
            row_links = [
                links.device(device_id, name),
                links.quarantine(scope, _("its refused scans"), device=device_id),
            ]
            rows.append(_row(scope, _("reader or tablet"), name, tallies, row_links))
        for username, tallies in _most_first(by["officer"]):
            row_links = [
                links.officer(scope, username),
                links.quarantine(scope, _("their refused scans"), submitted_by=username),
            ]
            rows.append(_row(scope, _("officer"), username, tallies, row_links))
    return Signal(
        key="quarantined_scans",
        title=_("Quarantined scans"),
        explanation=ngettext(
            "Check-ins refused in the period and kept in quarantine, per reason, per reader "
            "or tablet and per officer who sent them: how many, the first and the last. "
            "Fires from %(scans)s refused scan.",
            "Check-ins refused in the period and kept in quarantine, per reason, per reader "
            "or tablet and per officer who sent them: how many, the first and the last. "
            "Fires from %(scans)s refused scans.",
            fires_at,
        )
        % {"scans": fires_at},
        fired=bool(rows),
        columns=[
            Column("by", _("By")),
            Column("name", _("Reason, device or officer")),
            Column("scans", _("Scans"), NUMBER),
            Column("first", _("First"), TIME),
            Column("last", _("Last"), TIME),
        ],
        rows=rows,
        thresholds={"QUARANTINED_MIN": fires_at},
    )


def _refused(scope: Scope):
    return (
        QuarantinedCheckIn.objects.filter(
            facility=scope.facility, received_at__gte=scope.since, received_at__lt=scope.until
        )
        .values_list("reason", "device_id", "device__name", "submitted_by__username")
        .annotate(scans=Count("id"), first=Min("received_at"), last=Max("received_at"))
        .order_by()
    )


def _most_first(groups: dict):
    return sorted(groups.items(), key=lambda item: (-sum(t[0] for t in item[1]), str(item[0])))


def _row(scope: Scope, by: str, name: str, tallies, row_links) -> Row:
    return Row(
        [
            by,
            name,
            sum(scans for scans, _first, _last in tallies),
            scope.local(min(first for _scans, first, _last in tallies)),
            scope.local(max(last for _scans, _first, last in tallies)),
        ],
        row_links,
    )


def _reason_link(scope: Scope, reason: str) -> Link:
    return links.quarantine(scope, _("quarantine: %(reason)s") % {"reason": reason}, reason=reason)
