"""Sitting on alerts: owned, then closed just before the clock would climb.

An acknowledged alert climbs past its owner when the rung's resolve time
runs out (``alerts.services.escalation``). Someone who acknowledges alerts
and closes them, again and again, only when that time is nearly gone keeps
the rung above from ever hearing, while the person behind each alert gets
the most time to be far away. One such alert is a busy shift; a habit is a
pattern to read.
"""

from django.db.models import F
from django.utils.translation import gettext as _

from alerts.audit.signals import links
from alerts.audit.signals.base import NUMBER, TIME, Column, Row, Scope, Signal, threshold
from alerts.models import Alert, AlertStatus

NEAR_LIMIT_SHARE = 0.8  # resolved after this share of the resolve time had gone...
NEAR_LIMIT_MIN_ALERTS = 3  # ...on this many alerts of the period, by one officer


def resolved_near_the_limit(scope: Scope) -> Signal:
    share = threshold("NEAR_LIMIT_SHARE", NEAR_LIMIT_SHARE)
    min_alerts = threshold("NEAR_LIMIT_MIN_ALERTS", NEAR_LIMIT_MIN_ALERTS)
    officers = {}  # username -> tallies
    for pk, owned_at, resolved_at, limit, who in _owned_and_resolved(scope):
        tally = officers.setdefault(who, {"resolved": 0, "near": [], "used": []})
        tally["resolved"] += 1
        window = (limit - owned_at).total_seconds()
        used = (resolved_at - owned_at).total_seconds() / window if window > 0 else 1.0
        if share <= used <= 1.0:
            tally["near"].append((resolved_at, pk))
            tally["used"].append(used)
    rows = [
        Row(
            [
                who,
                len(tally["near"]),
                tally["resolved"],
                round(100 * sum(tally["used"]) / len(tally["used"]), 1),
                scope.local(min(tally["near"])[0]),
                scope.local(max(tally["near"])[0]),
            ],
            [links.officer(scope, who), *(links.alert(pk) for _at, pk in sorted(tally["near"]))],
        )
        for who, tally in sorted(
            officers.items(), key=lambda item: (-len(item[1]["near"]), item[0])
        )
        if len(tally["near"]) >= min_alerts
    ]
    return Signal(
        key="resolved_near_the_limit",
        title=_("Alerts owned and resolved just before they would climb"),
        explanation=_(
            "Alerts acknowledged and resolved by the same officer in the period, at the rung "
            "where they took it, after %(share)s%% or more of the rung's resolve time had "
            "gone (just before it would have climbed past them and named them to the rung "
            "above). Fires on an officer with at least %(alerts)s such alerts."
        )
        % {"share": round(share * 100), "alerts": min_alerts},
        fired=bool(rows),
        columns=[
            Column("officer", _("Officer")),
            Column("near_limit", _("Resolved near the limit"), NUMBER),
            Column("resolved", _("Owned and resolved"), NUMBER),
            Column("average_used", _("Resolve time used, on average (%)"), NUMBER),
            Column("first", _("First"), TIME),
            Column("last", _("Last"), TIME),
        ],
        rows=rows,
        thresholds={"NEAR_LIMIT_SHARE": share, "NEAR_LIMIT_MIN_ALERTS": min_alerts},
    )


def _owned_and_resolved(scope: Scope):
    """(alert, acknowledged at, resolved at, resolve by, officer) of alerts one
    officer both owned and closed in the period, at the rung they owned it on."""
    return (
        Alert.objects.filter(
            facility=scope.facility,
            status=AlertStatus.RESOLVED,
            resolved_at__gte=scope.since,
            resolved_at__lt=scope.until,
            resolved_by=F("acknowledged_by"),
            acknowledged_at__isnull=False,
            resolve_by__isnull=False,
            escalation_level=F("acknowledged_level"),
        )
        .order_by()
        .values_list("pk", "acknowledged_at", "resolved_at", "resolve_by", "resolved_by__username")
    )
