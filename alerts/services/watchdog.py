"""Watching the watcher (invariant 8): each facility's last pass must be
younger than twice the reconcile period."""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Min
from django.utils import timezone, translation

from alerts.models import Alert, AlertKind, ReconcilerStart, ReconcilerState
from alerts.rules import Finding
from alerts.selectors import reconciler_watch
from alerts.services.notify import Step, notifications_create
from alerts.services.policy import (
    escalation_ladder,
    is_stale,
    last_start,
    reconcile_period,
    stale_before,
    within_start_grace,
)
from alerts.services.reconcile import alert_build, alerts_insert_new
from alerts.services.recording import record_alert_events
from custody.models import Facility
from custody.selectors import due


@dataclass(frozen=True)
class ReconcilerHealth:
    state: str  # "ok" | "stale" | "unknown" (no facility yet)
    last_reconciled_at: datetime | None

    @property
    def ok(self) -> bool:
        return self.state != "stale"


def reconciler_health(now: datetime | None = None) -> ReconcilerHealth:
    """The rule the red banner applies too (``reconciler_watch``), and
    the oldest pass actually made."""
    now = now or timezone.now()
    oldest, start = reconciler_watch(now)
    if oldest is None:
        return ReconcilerHealth("unknown", None)
    stale = is_stale(oldest, now, start)
    last = ReconcilerState.objects.aggregate(last=Min("last_pass_at"))["last"]
    return ReconcilerHealth("stale" if stale else "ok", last)


def stale_facilities(now: datetime) -> list[Facility]:
    """Each facility whose last pass (never reconciled: whose creation) is
    older than the limit: two queries over facilities (100, not 200,000);
    none while the reconciler has just started."""
    if within_start_grace(now, last_start(now)):
        return []
    horizon = stale_before(now)
    passes = dict(ReconcilerState.objects.values_list("facility_id", "last_pass_at"))
    return [f for f in due.facilities_all() if (passes.get(f.pk) or f.created_at) < horizon]


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


def reconciler_started(*, hostname: str, pid: int, now: datetime | None = None) -> ReconcilerStart:
    """A worker came up: recorded (kept for auditors) before it reconciles
    at once; the watchdog then gives that pass its period."""
    return ReconcilerStart.objects.create(
        started_at=now or timezone.now(), hostname=hostname[:255], pid=pid
    )
