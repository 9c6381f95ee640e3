"""Writes of the alerts app; each function states the rule it enforces."""

from alerts.services.lifecycle import (
    InvalidResolution,
    NotAllowed,
    alert_acknowledge,
    alert_resolve,
)
from alerts.services.notify import deliver_due
from alerts.services.reconcile import PassReport, reconcile_facility
from alerts.services.watchdog import (
    ReconcilerHealth,
    reconciler_health,
    reconciler_started,
    stale_alerts_open,
)

__all__ = [
    "InvalidResolution",
    "NotAllowed",
    "PassReport",
    "ReconcilerHealth",
    "alert_acknowledge",
    "alert_resolve",
    "deliver_due",
    "reconcile_facility",
    "reconciler_health",
    "reconciler_started",
    "stale_alerts_open",
]
