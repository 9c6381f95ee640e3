"""Reads of the alerts app, always scoped to the caller's facilities."""

from datetime import datetime

from django.db.models import Case, Count, Max, Min, OuterRef, Q, QuerySet, Subquery, When
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from alerts.models import (
    UNRESOLVED,
    Alert,
    AlertKind,
    DeliveryStatus,
    Notification,
    ReconcilerStart,
    ReconcilerState,
)
from custody.models import Facility
from custody.selectors import involvement, visible_facility_ids


def alert_list(*, user) -> QuerySet[Alert]:
    """Alerts of the caller's facilities, most severe first, newest first. A
    superuser also sees the national chain's (``ledger_broken`` on the record
    of accounts with no facility), which is no facility of anyone's."""
    facility_ids = list(visible_facility_ids(user))
    if getattr(user, "is_superuser", False):
        facility_ids += Facility.chain_owners.filter(is_national=True).values_list("pk", flat=True)
    return Alert.objects.filter(facility_id__in=facility_ids).select_related(
        "facility", "inmate", "location", "device", "acknowledged_by", "resolved_by"
    )


def open_alerts(*, user, facility=None) -> QuerySet[Alert]:
    """What still needs someone: open and acknowledged, a silenced unit first
    (the alerts it causes follow and link to it), then most severe first."""
    alerts = alert_list(user=user).filter(status__in=UNRESOLVED)
    if facility is not None:
        alerts = alerts.filter(facility=facility)
    # A message that could not be delivered is itself a gap a supervisor must see.
    return (
        alerts.select_related("inmate__cell")
        .annotate(
            deliveries_failed=Count(
                "notifications", filter=Q(notifications__status=DeliveryStatus.FAILED)
            )
        )
        .annotate(unit_silence_first=Case(When(kind=AlertKind.UNIT_SILENT, then=0), default=1))
        .order_by("unit_silence_first", "severity_rank", "opened_at", "id")
    )


def notification_list(*, alert: Alert) -> QuerySet[Notification]:
    return alert.notifications.select_related("channel").order_by("created_at", "id")


def reconciler_oldest_pass() -> datetime | None:
    """The last pass of the facility reconciled longest ago (its creation, if
    never reconciled): the watchdog's rule (``alerts.services.watchdog``).
    None without facilities."""
    return reconciler_watch(timezone.now())[0]


def reconciler_watch(now: datetime) -> tuple[datetime | None, datetime | None]:
    """``reconciler_oldest_pass`` and the latest recorded worker start at or
    before ``now``, in the same one query (the banner is on every page)."""
    last_pass = ReconcilerState.objects.filter(facility=OuterRef("pk")).values("last_pass_at")
    last_start = (
        ReconcilerStart.objects.filter(started_at__lte=now)
        .order_by("-started_at")
        .values("started_at")[:1]
    )
    row = Facility.objects.aggregate(
        oldest=Min(Coalesce(Subquery(last_pass[:1]), "created_at")),
        last_start=Max(Subquery(last_start)),
    )
    return row["oldest"], row["last_start"]


# --- No one closes the alarm about their own work ---------------------------


def _sightings(alert: Alert) -> list[tuple[int, datetime]]:
    """The (person, time) of the scans an alert is about: its last sighting
    (missed check-in) and any check-in its details name (out of place,
    impossible travel)."""
    if not alert.inmate_id:
        return []
    details = alert.details or {}
    observations = [details, *(v for v in details.values() if isinstance(v, dict))]
    times = [o["observed_at"] for o in observations if o.get("checkin") and o.get("observed_at")]
    if details.get("last_seen_at"):
        times.append(details["last_seen_at"])
    pairs = []
    for text in times:
        try:
            pairs.append((alert.inmate_id, datetime.fromisoformat(text)))
        except (TypeError, ValueError):
            continue
    return pairs


def _counts(alert: Alert) -> list[str]:
    details = alert.details or {}
    ids = [details.get("rollcall"), details.get("first_count"), *details.get("in_progress", [])]
    return [str(pk) for pk in ids if pk]


def own_work(*, user, alerts) -> dict[int, str]:
    """For each of ``alerts`` about ``user``'s own count (started, submitted
    or marked), scan (posted) or movement (requested, approved or taken out),
    why they may not acknowledge or resolve it. Three queries at most,
    however many alerts."""
    alerts = list(alerts)
    movements = involvement.movement_officers(a.movement_id for a in alerts if a.movement_id)
    counts = involvement.count_officers(pk for a in alerts for pk in _counts(a))
    scans = involvement.sighting_recorders(sorted({p for a in alerts for p in _sightings(a)}))
    reasons = {}
    for alert in alerts:
        if alert.movement_id and user.pk in movements.get(alert.movement_id, ()):
            reasons[alert.pk] = OWN_MOVEMENT
        elif any(user.pk in counts.get(pk, ()) for pk in _counts(alert)):
            reasons[alert.pk] = OWN_COUNT
        elif any(scans.get(pair) == user.pk for pair in _sightings(alert)):
            reasons[alert.pk] = OWN_SCAN
    return {pk: str(reason) for pk, reason in reasons.items()}


OWN_COUNT = _(
    "You started, submitted or marked the count this alert is about: another supervisor "
    "must acknowledge or resolve it."
)
OWN_SCAN = _(
    "You recorded the check-in this alert is about: another supervisor must acknowledge "
    "or resolve it."
)
OWN_MOVEMENT = _(
    "You requested, approved or carried out the movement this alert is about: another "
    "supervisor must acknowledge or resolve it."
)
