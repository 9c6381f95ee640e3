"""Reads of the alerts app, always scoped to the caller's facilities."""

from datetime import datetime

from django.db.models import Case, Count, Min, OuterRef, Q, QuerySet, Subquery, When
from django.db.models.functions import Coalesce

from alerts.models import (
    UNRESOLVED,
    Alert,
    AlertKind,
    DeliveryStatus,
    Notification,
    ReconcilerState,
)
from custody.models import Facility
from custody.selectors import visible_facility_ids


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
    never reconciled): the watchdog's rule (``alerts.services.watchdog``) in
    one query, cheap enough for the red banner on every page. None without
    facilities."""
    last_pass = ReconcilerState.objects.filter(facility=OuterRef("pk")).values("last_pass_at")
    oldest = Min(Coalesce(Subquery(last_pass[:1]), "created_at"))
    return Facility.objects.aggregate(oldest=oldest)["oldest"]
