"""Device clock drift: readers and tablets whose time cannot be trusted.

Deadlines run on the times devices send. A clock that runs fast makes a scan
look later than it was, and pushes the next deadline away; one that runs
slow hides when people were really seen. Three traces: check-ins that
arrived before they were made, scans refused for their clock, and the offset
the device itself reported at its last heartbeat.
"""

from datetime import timedelta

from django.db.models import Count, F, Max
from django.utils.translation import gettext as _

from alerts.audit.signals import links
from alerts.audit.signals.base import NUMBER, TIME, Column, Link, Row, Scope, Signal, threshold
from custody.models import CheckIn, Device, QuarantinedCheckIn
from custody.services.checkin_items import Reason

CLOCK_AHEAD_SECONDS = 30  # a check-in made this much after it arrived: a fast clock
CLOCK_OFFSET_MAX_SECONDS = 60  # a heartbeat offset beyond this, either way, fires


def device_clock_drift(scope: Scope) -> Signal:
    ahead_limit = threshold("CLOCK_AHEAD_SECONDS", CLOCK_AHEAD_SECONDS)
    offset_max = threshold("CLOCK_OFFSET_MAX_SECONDS", CLOCK_OFFSET_MAX_SECONDS)
    senders = {}  # ("device", id) or ("officer", username) -> tallies

    def sender(device_id, username):
        key = ("device", device_id) if device_id is not None else ("officer", username)
        return senders.setdefault(
            key, {"ahead": 0, "worst": None, "future": 0, "past": 0, "offset": None, "at": None}
        )

    for device_id, username, checks, worst in _arrived_before_made(scope, ahead_limit):
        tally = sender(device_id, username)
        tally["ahead"] += checks
        tally["worst"] = max(tally["worst"] or worst, worst)
    for device_id, username, reason, scans in _refused_for_clock(scope):
        tally = sender(device_id, username)
        tally["future" if reason == Reason.CLOCK_FUTURE else "past"] += scans
    devices = {}
    for pk, name, offset, checked_at in Device.objects.filter(facility=scope.facility).values_list(
        "pk", "name", "clock_offset_seconds", "clock_checked_at"
    ):
        devices[pk] = name
        in_period = offset is not None and scope.since <= checked_at < scope.until
        if in_period and (abs(offset) > offset_max or ("device", pk) in senders):
            tally = sender(pk, None)
            tally["offset"], tally["at"] = offset, checked_at
    rows = []
    for (by, who), tally in senders.items():
        if by == "device":
            name = devices.get(who, str(who))
            label, sender_links = _("reader or tablet"), [links.device(who, name)]
        else:
            name = who or "?"
            label, sender_links = _("officer"), [links.officer(scope, name)]
        rows.append(
            Row(
                [
                    label,
                    name,
                    tally["ahead"],
                    round(tally["worst"].total_seconds(), 1) if tally["worst"] else None,
                    tally["future"],
                    tally["past"],
                    round(tally["offset"], 1) if tally["offset"] is not None else None,
                    scope.local(tally["at"]),
                ],
                sender_links + _refused_links(scope, tally, by, who),
            )
        )
    rows.sort(key=lambda row: (-(row.values[2] + row.values[4] + row.values[5]), row.values[1]))
    return Signal(
        key="device_clock_drift",
        title=_("Device clocks that drift"),
        explanation=_(
            "Per reader, tablet or officer: check-ins made more than %(ahead)s seconds after "
            "they arrived (the clock runs fast), scans refused because their time was in the "
            "future or too old, and the clock offset a device reported at its last heartbeat "
            "in the period. Fires on any such check-in or scan, or an offset beyond "
            "%(offset)s seconds either way."
        )
        % {"ahead": ahead_limit, "offset": offset_max},
        fired=bool(rows),
        columns=[
            Column("by", _("By")),
            Column("name", _("Device or officer")),
            Column("arrived_before_made", _("Check-ins ahead of arrival"), NUMBER),
            Column("most_ahead_seconds", _("Most ahead (s)"), NUMBER),
            Column("refused_future", _("Refused: time in the future"), NUMBER),
            Column("refused_past", _("Refused: time too old"), NUMBER),
            Column("offset_seconds", _("Heartbeat offset (s)"), NUMBER),
            Column("offset_at", _("Offset reported at"), TIME),
        ],
        rows=rows,
        thresholds={
            "CLOCK_AHEAD_SECONDS": ahead_limit,
            "CLOCK_OFFSET_MAX_SECONDS": offset_max,
        },
    )


def _arrived_before_made(scope: Scope, ahead_limit):
    """(device, officer, check-ins, most ahead) of check-ins made after they arrived."""
    ahead = F("observed_at") - F("received_at")
    return (
        CheckIn.objects.filter(
            facility=scope.facility,
            observed_at__gte=scope.since,
            observed_at__lt=scope.until,
            observed_at__gt=F("received_at") + timedelta(seconds=ahead_limit),
        )
        .values_list("device_id", "recorded_by__username")
        .annotate(checks=Count("id"), worst=Max(ahead))
        .order_by()
    )


def _refused_for_clock(scope: Scope):
    return (
        QuarantinedCheckIn.objects.filter(
            facility=scope.facility,
            received_at__gte=scope.since,
            received_at__lt=scope.until,
            reason__in=[Reason.CLOCK_FUTURE, Reason.CLOCK_PAST],
        )
        .values_list("device_id", "submitted_by__username", "reason")
        .annotate(scans=Count("id"))
        .order_by()
    )


def _refused_links(scope: Scope, tally, by: str, who) -> list[Link]:
    """The sender's scans refused for their clock, one link per reason."""
    sender = {"device": who} if by == "device" else {"submitted_by": who}
    return [
        links.quarantine(
            scope, _("refused scans (%(reason)s)") % {"reason": reason}, reason=reason, **sender
        )
        for reason, scans in (
            (Reason.CLOCK_FUTURE, tally["future"]),
            (Reason.CLOCK_PAST, tally["past"]),
        )
        if scans
    ]
