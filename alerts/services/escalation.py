"""The ladder: an open alert nobody acknowledged climbs one rung when its
``next_escalation_at`` passes (invariant 6). Driven by that indexed column
and the periodic pass, never by long Celery countdowns."""

from datetime import datetime

from alerts.models import Alert, AlertStatus
from alerts.services.policy import Rung, escalation_ladder, rung_after, rung_at_least
from custody.models import Facility


def first_escalation_at(ladder: tuple[Rung, ...], now: datetime) -> datetime | None:
    wait = ladder[0].acknowledge_within if ladder else None
    return now + wait if wait else None


def escalate_due(*, facility: Facility, unresolved: list[Alert], now: datetime) -> list[Alert]:
    """Moves every open alert past its time one rung up. ``unresolved`` are the
    facility's unresolved alerts, already locked by the caller's pass."""
    due = [
        alert
        for alert in unresolved
        if alert.status == AlertStatus.OPEN
        and alert.next_escalation_at is not None
        and alert.next_escalation_at <= now
    ]
    if not due:
        return []
    ladder = escalation_ladder(facility)
    climbed = []
    for alert in due:
        rung = rung_after(ladder, alert.escalation_level)
        if rung is None:  # already at the top: nobody left to climb to
            alert.next_escalation_at = None
        else:
            alert.escalation_level = rung.level
            alert.next_escalation_at = (
                now + rung.acknowledge_within if rung.acknowledge_within else None
            )
            climbed.append(alert)
    Alert.objects.bulk_update(due, ["escalation_level", "next_escalation_at"], batch_size=500)
    return climbed


def escalate_demanded(
    *, facility: Facility, unresolved: list[Alert], rungs: dict[str, int], now: datetime
) -> list[Alert]:
    """Puts alerts whose finding demands a higher rung there at once (a recount
    that still does not clear), acknowledged or not: the rung above must know."""
    if not rungs:
        return []
    ladder = escalation_ladder(facility)
    climbed = []
    for alert in unresolved:
        rung = rung_at_least(ladder, rungs.get(alert.dedup_key, 0))
        if rung is None or alert.escalation_level >= rung.level:
            continue
        alert.escalation_level = rung.level
        alert.next_escalation_at = (
            now + rung.acknowledge_within
            if alert.status == AlertStatus.OPEN and rung.acknowledge_within
            else None
        )
        climbed.append(alert)
    Alert.objects.bulk_update(climbed, ["escalation_level", "next_escalation_at"], batch_size=500)
    return climbed
