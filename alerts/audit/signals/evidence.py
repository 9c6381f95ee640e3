"""Evidence from the wrong source or the wrong time (services.evidence).

Ingestion refuses a person's "fingerprint" and accepts a reader's scans up to
72 hours late; both leave traces worth reading. A guard whose token claims
biometric matches is trying to forge evidence; a reader or an officer whose
observations arrive long after they were made may be replaying a buffer, or
writing up checks nobody made — above all when those late observations closed
alerts that stood open meanwhile.
"""

from collections import defaultdict
from datetime import timedelta

from django.db.models import Count, DurationField, ExpressionWrapper, F, Max, Min
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from alerts.audit.signals import links
from alerts.audit.signals.base import NUMBER, TIME, Column, Row, Scope, Signal, threshold
from alerts.models import Alert, AlertKind, AlertStatus
from custody.models import MAX_CHECKIN_AGE, CheckIn, QuarantinedCheckIn
from custody.services.evidence import METHOD_NOT_ALLOWED

BIOMETRIC_CLAIMS_MIN = 1  # one forged claim is already a trace
# Received this long after it was made: more than a network hiccup, whatever
# a reader may legitimately buffer (a cable cut, a power failure).
LATE_EVIDENCE_MINUTES = 30
LATE_EVIDENCE_MIN = 1  # fires from this many late observations


def biometric_claims_by_persons(scope: Scope) -> Signal:
    fires_at = threshold("BIOMETRIC_CLAIMS_MIN", BIOMETRIC_CLAIMS_MIN)
    by_officer = defaultdict(lambda: {"scans": 0, "methods": set(), "first": None, "last": None})
    for username, method, scans, first, last in _claims(scope):
        tally = by_officer[username]
        tally["scans"] += scans
        tally["methods"].add(str(method))
        tally["first"] = min(filter(None, (tally["first"], first)))
        tally["last"] = max(filter(None, (tally["last"], last)))
    rows = [
        Row(
            [
                username,
                ", ".join(sorted(tally["methods"])),
                tally["scans"],
                scope.local(tally["first"]),
                scope.local(tally["last"]),
            ],
            [
                links.officer(scope, username),
                links.quarantine(
                    scope,
                    _("their refused claims"),
                    reason=METHOD_NOT_ALLOWED,
                    submitted_by=username,
                ),
            ],
        )
        for username, tally in sorted(by_officer.items(), key=lambda i: (-i[1]["scans"], i[0]))
        if tally["scans"] >= fires_at
    ]
    return Signal(
        key="biometric_claims_by_persons",
        title=_("Biometric claims refused from persons"),
        explanation=ngettext(
            "Check-ins a signed-in person posted as fingerprint, face, iris or rfid, which "
            "only a device that declares them may make: refused and quarantined, per "
            "officer. Fires from %(claims)s claim.",
            "Check-ins a signed-in person posted as fingerprint, face, iris or rfid, which "
            "only a device that declares them may make: refused and quarantined, per "
            "officer. Fires from %(claims)s claims.",
            fires_at,
        )
        % {"claims": fires_at},
        fired=bool(rows),
        columns=[
            Column("officer", _("Officer")),
            Column("methods", _("Methods claimed")),
            Column("claims", _("Claims"), NUMBER),
            Column("first", _("First"), TIME),
            Column("last", _("Last"), TIME),
        ],
        rows=rows,
        thresholds={"BIOMETRIC_CLAIMS_MIN": fires_at},
    )


def _claims(scope: Scope):
    return (
        QuarantinedCheckIn.objects.filter(
            facility=scope.facility,
            received_at__gte=scope.since,
            received_at__lt=scope.until,
            reason=METHOD_NOT_ALLOWED,
            device__isnull=True,
            submitted_by__isnull=False,
        )
        .values_list("submitted_by__username", "raw__method")
        .annotate(scans=Count("id"), first=Min("received_at"), last=Max("received_at"))
        .order_by()
    )


def late_evidence(scope: Scope) -> Signal:
    minutes = threshold("LATE_EVIDENCE_MINUTES", LATE_EVIDENCE_MINUTES)
    fires_at = threshold("LATE_EVIDENCE_MIN", LATE_EVIDENCE_MIN)
    late = timedelta(minutes=minutes)
    tallies = defaultdict(lambda: {"scans": 0, "closed": 0, "delay": timedelta(0), "last": None})
    names = {}
    for device_id, device_name, username, scans, delay, last in _late(scope, late):
        key = ("device", device_id) if device_id is not None else ("officer", username)
        names[key] = device_name if device_id is not None else username
        tally = tallies[key]
        tally["scans"] += scans
        tally["delay"] = max(tally["delay"], delay)
        tally["last"] = max(filter(None, (tally["last"], last)))
    for key, closed in _closed_alerts(scope, late).items():
        if key in tallies:
            tallies[key]["closed"] += closed
    rows = []
    # Those that closed alerts first: the alert stood open while the evidence waited.
    for key, tally in sorted(
        tallies.items(), key=lambda i: (-i[1]["closed"], -i[1]["scans"], names[i[0]] or "")
    ):
        if tally["scans"] < fires_at:
            continue
        by, subject = key
        if by == "device":
            label, row_links = _("reader or tablet"), [links.device(subject, names[key])]
        else:
            label, row_links = _("officer"), [links.officer(scope, subject)]
        rows.append(
            Row(
                [
                    label,
                    names[key],
                    tally["scans"],
                    tally["closed"],
                    round(tally["delay"].total_seconds() / 60),
                    scope.local(tally["last"]),
                ],
                row_links,
            )
        )
    return Signal(
        key="late_evidence",
        title=_("Evidence received late"),
        explanation=ngettext(
            "Observations made in the period that reached the server more than %(minutes)s "
            "minutes after they were made, per reader or tablet and per officer; those "
            "that closed a missed check-in alert first. Fires from %(scans)s late "
            "observation.",
            "Observations made in the period that reached the server more than %(minutes)s "
            "minutes after they were made, per reader or tablet and per officer; those "
            "that closed a missed check-in alert first. Fires from %(scans)s late "
            "observations.",
            fires_at,
        )
        % {"minutes": minutes, "scans": fires_at},
        fired=bool(rows),
        columns=[
            Column("by", _("By")),
            Column("name", _("Device or officer")),
            Column("scans", _("Late observations"), NUMBER),
            Column("closed", _("Alerts they closed"), NUMBER),
            Column("longest", _("Longest delay (min)"), NUMBER),
            Column("last", _("Last made"), TIME),
        ],
        rows=rows,
        thresholds={"LATE_EVIDENCE_MINUTES": minutes, "LATE_EVIDENCE_MIN": fires_at},
    )


def _late(scope: Scope, late: timedelta):
    return (
        CheckIn.objects.filter(
            facility=scope.facility,
            observed_at__gte=scope.since,
            observed_at__lt=scope.until,
            received_at__gt=F("observed_at") + late,
        )
        .values_list("device_id", "device__name", "recorded_by__username")
        .annotate(
            scans=Count("id"),
            delay=Max(ExpressionWrapper(F("received_at") - F("observed_at"), DurationField())),
            last=Max("observed_at"),
        )
        .order_by()
    )


def _closed_alerts(scope: Scope, late: timedelta) -> dict[tuple, int]:
    """(by, device id or username) -> missed check-in alerts that a late
    observation of the period closed (reconcile records its delay)."""
    checkin_ids = [
        observation["checkin"]
        for observation in Alert.objects.filter(
            facility=scope.facility,
            kind=AlertKind.MISSED_CHECKIN,
            status=AlertStatus.RESOLVED,
            resolved_at__gte=scope.since,
            # A scan of the period may arrive, and close its alert, this much later.
            resolved_at__lt=scope.until_and(MAX_CHECKIN_AGE),
            resolved_by_observation__delay_seconds__gt=late.total_seconds(),
        ).values_list("resolved_by_observation", flat=True)
        if observation.get("checkin")
    ]
    closed: dict[tuple, int] = defaultdict(int)
    for device_id, username in CheckIn.objects.filter(
        facility=scope.facility,
        id__in=checkin_ids,
        observed_at__gte=scope.since,
        observed_at__lt=scope.until,
    ).values_list("device_id", "recorded_by__username"):
        closed[("device", device_id) if device_id is not None else ("officer", username)] += 1
    return closed
