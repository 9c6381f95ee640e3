"""The ladder and its clock (invariant 6): one indexed deadline per alert,
``next_escalation_at``, swept by the periodic pass (never a Celery countdown).

- Open: when its rung's acknowledge time passes it climbs one rung, and that
  rung is told. On a rung with no acknowledge time (the top) its channels are
  told again every ``repeat_every`` until someone acknowledges it.
- Acknowledged: the owner has the rung's resolve time. Then it climbs one
  rung, and both that rung and the owner's rung are told "acknowledged by X
  at T, not resolved"; the new rung's resolve time starts. At the top, the top
  rung and the owner's are told again when the resolve time passes, and every
  ``repeat_every`` after that until it is resolved.

The caller's pass has locked the facility's unresolved alerts (and its state
row with SKIP LOCKED), so two workers never serve the same deadline; the
``one_delivery_per_step_round`` constraint would drop a doubled message anyway.
"""

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Max

from alerts.models import Alert, AlertStatus, Notification, NotificationEvent
from alerts.services.notify import Step
from alerts.services.policy import Rung, escalation_ladder, rung_after, rung_at_least, rung_of
from custody.models import Facility


def open_deadline(rung: Rung, now: datetime) -> datetime:
    """When an open alert on ``rung`` climbs, or (no acknowledge time: the
    top) is told again."""
    return now + (rung.acknowledge_within or rung.repeat_every)


def first_escalation_at(ladder: tuple[Rung, ...], now: datetime) -> datetime | None:
    return open_deadline(ladder[0], now) if ladder else None


def acknowledged_clock(*, alert: Alert, ladder: tuple[Rung, ...], now: datetime) -> None:
    """Starts the owner's resolve time at the alert's rung (unsaved)."""
    window = rung_of(ladder, alert.escalation_level).resolve_window(alert.severity)
    alert.resolve_by = now + window
    alert.next_escalation_at = alert.resolve_by


@dataclass
class ClockReport:
    """What the clock did in one pass: alerts that climbed, alerts told again
    at their rung, and the messages to write for both."""

    climbed: list[Alert] = field(default_factory=list)
    repeated: list[Alert] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)


CLOCK_FIELDS = ["escalation_level", "next_escalation_at", "resolve_by"]


def escalate_due(*, facility: Facility, unresolved: list[Alert], now: datetime) -> ClockReport:
    """Serves every unresolved alert whose ``next_escalation_at`` has passed
    (the module's rules). ``unresolved`` are the facility's unresolved alerts,
    already locked by the caller's pass."""
    due = [a for a in unresolved if a.next_escalation_at and a.next_escalation_at <= now]
    report = ClockReport()
    if not due:
        return report
    ladder = escalation_ladder(facility)
    rounds = _next_rounds(due)
    for alert in due:
        above = rung_after(ladder, alert.escalation_level)
        if alert.status == AlertStatus.OPEN:
            _open_due(alert, ladder, above, rounds[alert.pk], now, report)
        else:
            _acknowledged_due(alert, ladder, above, rounds[alert.pk], now, report)
    Alert.objects.bulk_update(due, CLOCK_FIELDS, batch_size=500)
    return report


def _open_due(alert, ladder, above, round_, now, report) -> None:
    rung = rung_of(ladder, alert.escalation_level)
    if rung.acknowledge_within and above is not None:
        alert.escalation_level = above.level
        alert.next_escalation_at = open_deadline(above, now)
        report.climbed.append(alert)
        report.steps.append(Step(alert, NotificationEvent.ESCALATED, above.level))
    else:  # nobody left to climb to: tell this rung again
        alert.next_escalation_at = now + rung.repeat_every
        report.repeated.append(alert)
        report.steps.append(Step(alert, NotificationEvent.REPEATED, rung.level, round=round_))


def _acknowledged_due(alert, ladder, above, round_, now, report) -> None:
    if above is not None:
        alert.escalation_level = above.level
        alert.resolve_by = now + above.resolve_window(alert.severity)
        alert.next_escalation_at = alert.resolve_by
        report.climbed.append(alert)
        round_ = 0
    else:
        alert.next_escalation_at = now + rung_of(ladder, alert.escalation_level).repeat_every
        report.repeated.append(alert)
    report.steps.append(
        Step(alert, NotificationEvent.OVERDUE, alert.escalation_level, round=round_)
    )
    owner_level = alert.acknowledged_level
    if owner_level is not None and owner_level != alert.escalation_level:
        report.steps.append(
            Step(
                alert,
                NotificationEvent.OVERDUE,
                alert.escalation_level,
                round=round_,
                channel_level=owner_level,
            )
        )


def _next_rounds(alerts: list[Alert]) -> dict[int, int]:
    """Each alert's next round of messages: one more than any it was sent."""
    sent = dict(
        Notification.objects.filter(alert__in=alerts)
        .values_list("alert_id")
        .annotate(last=Max("round"))
        .order_by()
    )
    return {alert.pk: sent.get(alert.pk, 0) + 1 for alert in alerts}


def escalate_demanded(
    *, facility: Facility, unresolved: list[Alert], rungs: dict[str, int], now: datetime
) -> list[Alert]:
    """Puts alerts whose finding demands a higher rung there at once (a recount
    that still does not clear), acknowledged or not: the rung above must know.
    An acknowledged one gets that rung's resolve time."""
    if not rungs:
        return []
    ladder = escalation_ladder(facility)
    climbed = []
    for alert in unresolved:
        rung = rung_at_least(ladder, rungs.get(alert.dedup_key, 0))
        if rung is None or alert.escalation_level >= rung.level:
            continue
        alert.escalation_level = rung.level
        if alert.status == AlertStatus.OPEN:
            alert.next_escalation_at = open_deadline(rung, now)
        else:
            acknowledged_clock(alert=alert, ladder=ladder, now=now)
        climbed.append(alert)
    Alert.objects.bulk_update(climbed, CLOCK_FIELDS, batch_size=500)
    return climbed
