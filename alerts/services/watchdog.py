"""Watching the watcher (invariant 8): each facility's last pass must be
younger than twice the reconcile period."""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation

from alerts.models import Alert, AlertKind, ReconcilerState
from alerts.rules import Finding
from alerts.services.notify import Step, notifications_create
from alerts.services.policy import escalation_ladder, reconcile_period
from alerts.services.reconcile import alert_build, alerts_insert_new
from alerts.services.recording import record_alert_events
from custody.models import Facility
from custody.selectors import due


@dataclass(frozen=True)
class ReconcilerHealth:
    state: str  # "ok" | "stale" | "unknown" (no facility yet)
    last_reconciled_at: datetime | None
    stale_facilities: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.state != "stale"


def _last_passes() -> dict[int, datetime | None]:
    return dict(ReconcilerState.objects.values_list("facility_id", "last_pass_at"))


def stale_facilities(now: datetime, facilities=None, passes=None) -> list[Facility]:
    """Facilities whose last pass (or, never reconciled, whose creation) is
    older than twice the period: two queries over facilities (100, not 200,000)."""
    horizon = now - 2 * reconcile_period()
    facilities = due.facilities_all() if facilities is None else facilities
    passes = _last_passes() if passes is None else passes
    return [f for f in facilities if (passes.get(f.pk) or f.created_at) < horizon]


def reconciler_health(now: datetime | None = None) -> ReconcilerHealth:
    now = now or timezone.now()
    facilities = due.facilities_all()
    if not facilities:
        return ReconcilerHealth("unknown", None)
    passes = _last_passes()
    stale = stale_facilities(now, facilities, passes)
    known = [passes[f.pk] for f in facilities if passes.get(f.pk)]
    return ReconcilerHealth(
        "stale" if stale else "ok", min(known) if known else None, tuple(f.code for f in stale)
    )


def stale_alerts_open(*, now: datetime | None = None) -> list[Alert]:
    """Opens one ``reconciler_stale`` alert per facility whose passes stopped
    (the web process calls this too, so it works with every worker dead);
    the facility's next pass closes it, recording the gap."""
    now = now or timezone.now()
    opened = []
    with translation.override(settings.LANGUAGE_CODE):
        for facility in stale_facilities(now):
            with transaction.atomic():
                alert = _open_stale(facility, now)
                if alert is not None:
                    opened.append(alert)
    return opened


def _open_stale(facility: Facility, now: datetime) -> Alert | None:
    last = (
        ReconcilerState.objects.filter(facility=facility)
        .values_list("last_pass_at", flat=True)
        .first()
    )
    finding = Finding(
        kind=AlertKind.RECONCILER_STALE,
        subject=f"facility:{facility.pk}",
        due_at=(last or facility.created_at) + 2 * reconcile_period(),
        details={"last_pass_at": last.isoformat() if last else None},
    )
    ladder = escalation_ladder(facility)
    opened = alerts_insert_new(
        facility=facility,
        rows=[alert_build(facility=facility, finding=finding, ladder=ladder, now=now)],
        now=now,
    )
    if not opened:  # already open
        return None
    alert = opened[0]
    notifications_create(steps=[Step(alert, "opened", alert.escalation_level)], now=now)
    record_alert_events(facility=facility, opened=[alert])
    return alert
