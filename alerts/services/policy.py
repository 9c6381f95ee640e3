"""A facility's escalation ladder and limits, with defaults for a facility
that has not set its own (an alert must always have someone to climb to)."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Max
from django.utils.translation import gettext_lazy as _

from alerts.models import AlertPolicy, EscalationLevel, ReconcilerStart, Severity
from custody.models import Facility

# How long an owner has to resolve an acknowledged alert at a rung that does
# not say (``EscalationLevel.resolve_within_seconds`` null).
DEFAULT_RESOLVE_WITHIN = {
    Severity.CRITICAL: timedelta(minutes=30),
    Severity.HIGH: timedelta(minutes=30),
    Severity.MEDIUM: timedelta(hours=4),
    Severity.LOW: timedelta(hours=4),
}
DEFAULT_REPEAT_EVERY = timedelta(minutes=15)


@dataclass(frozen=True)
class Rung:
    level: int
    name: str
    acknowledge_within: timedelta | None  # None: the top of the ladder
    resolve_within: timedelta | None = None  # None: by the alert's severity
    repeat_every: timedelta = DEFAULT_REPEAT_EVERY

    def resolve_window(self, severity: str) -> timedelta:
        """How long an owner at this rung has to resolve an alert of ``severity``."""
        return self.resolve_within or DEFAULT_RESOLVE_WITHIN[severity]


DEFAULT_LADDER = (
    Rung(0, _("Unit supervisor"), timedelta(minutes=5)),
    Rung(1, _("Facility director"), timedelta(minutes=10)),
    Rung(2, _("National authority"), None),
)


def escalation_ladder(facility: Facility) -> tuple[Rung, ...]:
    rows = list(EscalationLevel.objects.filter(facility=facility).order_by("level"))
    if not rows:
        return DEFAULT_LADDER
    return tuple(
        Rung(
            row.level,
            row.name,
            timedelta(seconds=row.acknowledge_within_seconds)
            if row.acknowledge_within_seconds and index < len(rows) - 1
            else None,
            timedelta(seconds=row.resolve_within_seconds) if row.resolve_within_seconds else None,
            timedelta(seconds=row.repeat_every_seconds),
        )
        for index, row in enumerate(rows)
    )


def rung_after(ladder: tuple[Rung, ...], level: int) -> Rung | None:
    return next((rung for rung in ladder if rung.level > level), None)


def rung_of(ladder: tuple[Rung, ...], level: int) -> Rung:
    """The rung an alert at ``level`` stands on: that level's, or the highest
    below it (a ladder edited since the alert climbed)."""
    below = [rung for rung in ladder if rung.level <= level]
    return below[-1] if below else ladder[0]


def rung_at_least(ladder: tuple[Rung, ...], index: int) -> Rung | None:
    """The ``index``-th rung (0: the first), or the top one if the ladder is shorter."""
    if not ladder:
        return None
    return ladder[min(index, len(ladder) - 1)]


def alert_policy(facility: Facility) -> AlertPolicy:
    """The facility's row, or the defaults (unsaved) when it has none; no
    query when it came with ``select_related("alert_policy")``."""
    try:
        return facility.alert_policy
    except AlertPolicy.DoesNotExist:
        return AlertPolicy(facility=facility)


def reconcile_period() -> timedelta:
    return timedelta(seconds=settings.RECONCILE_EVERY_SECONDS)


def stale_before(now: datetime) -> datetime:
    """Invariant 8: a facility whose last pass (never reconciled: whose
    creation) is older than this has a stale reconciler, unless the
    reconciler has just started (``within_start_grace``)."""
    return now - 2 * reconcile_period()


# When this process began serving (``config.wsgi`` sets it for each web
# process). Until a worker records its own start, the web process counts from
# its own: a stack started over an old database is not stale for the time it
# was stopped. In memory only: it never speaks for another process.
_process_started_at: datetime | None = None


def process_started(now: datetime) -> None:
    global _process_started_at
    _process_started_at = now


def last_start(now: datetime) -> datetime | None:
    """The latest worker start recorded at or before ``now``."""
    row = ReconcilerStart.objects.filter(started_at__lte=now).aggregate(last=Max("started_at"))
    return row["last"]


def within_start_grace(now: datetime, recorded_start: datetime | None) -> bool:
    """After a start (a worker's, ``recorded_start``, or this web process's),
    the reconciler's first pass gets the same two periods as every other
    before it is called stale. Starts "after" ``now`` (a clock moved back)
    give no grace. A reconciler that stops while the rest runs is stale two
    periods after its last pass or the last start, whichever is later."""
    horizon = stale_before(now)
    return any(
        start is not None and horizon <= start <= now
        for start in (_process_started_at, recorded_start)
    )


def is_stale(oldest_pass: datetime | None, now: datetime, recorded_start: datetime | None) -> bool:
    """The one rule of ``/healthz``, the red banner and the watchdog."""
    if oldest_pass is None or oldest_pass >= stale_before(now):
        return False
    return not within_start_grace(now, recorded_start)


def realert_after() -> timedelta:
    """A condition a person resolved by hand that the world did not fix
    (the person still unseen) opens a new alert after this long."""
    return timedelta(seconds=settings.ALERT_REALERT_AFTER_SECONDS)
