"""Alert steps go into the facility's custody ledger, hash-chained with the
rest: who was alerted about whom, who acknowledged and who closed it can
never be erased (invariants 4 and 6)."""

from alerts.models import Alert
from custody.models import Facility
from custody.services import PendingEvent, actor_label, ledger_append_many


def alert_subject(alert: Alert) -> str:
    # A person's alerts join their custody history by the ledger subject.
    if alert.inmate_id:
        return f"inmate:{alert.inmate.booking_number}"
    return f"alert:{alert.pk}"


def alert_event_data(alert: Alert, **extra) -> dict:
    data = {
        "alert": alert.pk,
        "kind": alert.kind,
        "severity": alert.severity,
        "level": alert.escalation_level,
        "location": alert.location.code if alert.location_id else None,
        "due_at": alert.due_at,
    }
    data.update(extra)
    return data


def _clock_data(alert: Alert) -> dict:
    """An escalation or a reminder names the owner who did not resolve it."""
    if alert.status != "acknowledged" or not alert.acknowledged_by_id:
        return alert_event_data(alert)
    return alert_event_data(
        alert,
        acknowledged_by=alert.acknowledged_by.username,
        acknowledged_at=alert.acknowledged_at,
        not_resolved=True,
    )


def record_alert_events(
    *, facility: Facility, opened=(), resolved=(), escalated=(), repeated=(), actor=None
) -> None:
    events = [PendingEvent("alert.opened", alert_subject(a), alert_event_data(a)) for a in opened]
    events += [PendingEvent("alert.escalated", alert_subject(a), _clock_data(a)) for a in escalated]
    events += [PendingEvent("alert.repeated", alert_subject(a), _clock_data(a)) for a in repeated]
    events += [
        PendingEvent(
            "alert.resolved",
            alert_subject(a),
            alert_event_data(a, resolution=a.resolution, observation=a.resolved_by_observation),
            actor=actor_label(actor),
        )
        for a in resolved
    ]
    if events:  # a quiet pass sends nothing (not even a savepoint)
        ledger_append_many(facility=facility, events=events)
