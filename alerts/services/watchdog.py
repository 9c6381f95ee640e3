"""Watching the watcher (invariant 8): each facility's last pass must be
younger than twice the reconcile period."""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Min
from django.utils import timezone, translation

from alerts.models import SEVERITY_OF, SEVERITY_RANK, Alert, AlertKind, ReconcilerState
from alerts.services.escalation import first_escalation_at
from alerts.services.notify import Step, notifications_create
from alerts.services.policy import escalation_ladder, reconcile_period
from alerts.services.recording import record_alert_events
from custody.models import Facility


@dataclass(frozen=True)
class ReconcilerHealth:
    state: str  # "ok" | "stale" | "unknown" (no facility yet)
    last_reconciled_at: datetime | None
    stale_facilities: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.state != "stale"


def stale_facilities(now: datetime) -> list[Facility]:
    """Facilities whose last pass (or, never reconciled, whose creation) is
    older than twice the period. One query over facilities (100, not 200,000)."""
    horizon = now - 2 * reconcile_period()
    facilities = Facility.objects.order_by("code")
    passes = dict(ReconcilerState.objects.values_list("facility_id", "last_pass_at"))
    return [f for f in facilities if (passes.get(f.pk) or f.created_at) < horizon]


def reconciler_health(now: datetime | None = None) -> ReconcilerHealth:
    now = now or timezone.now()
    stale = stale_facilities(now)
    oldest = ReconcilerState.objects.aggregate(oldest=Min("last_pass_at"))["oldest"]
    if not Facility.objects.exists():
        return ReconcilerHealth("unknown", None)
    return ReconcilerHealth("stale" if stale else "ok", oldest, tuple(f.code for f in stale))


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
    kind = AlertKind.RECONCILER_STALE
    key = f"{kind}:facility:{facility.pk}"
    last = (
        ReconcilerState.objects.filter(facility=facility)
        .values_list("last_pass_at", flat=True)
        .first()
    )
    ladder = escalation_ladder(facility)
    Alert.objects.bulk_create(
        [
            Alert(
                facility=facility,
                kind=kind,
                severity=SEVERITY_OF[kind],
                severity_rank=SEVERITY_RANK[SEVERITY_OF[kind]],
                dedup_key=key,
                due_at=(last or facility.created_at) + 2 * reconcile_period(),
                details={"last_pass_at": last.isoformat() if last else None},
                opened_at=now,
                escalation_level=ladder[0].level,
                next_escalation_at=first_escalation_at(ladder, now),
            )
        ],
        ignore_conflicts=True,
    )
    alert = Alert.objects.filter(dedup_key=key, opened_at=now).select_related("facility").first()
    if alert is None:
        return None
    notifications_create(steps=[Step(alert, "opened", alert.escalation_level)], now=now)
    record_alert_events(facility=facility, opened=[alert])
    return alert
