"""Reads of the alerts app, always scoped to the caller's facilities."""

from django.db.models import QuerySet

from alerts.models import UNRESOLVED, Alert, Notification
from custody.selectors import visible_facility_ids


def alert_list(*, user) -> QuerySet[Alert]:
    """Alerts of the caller's facilities, most severe first, newest first."""
    return Alert.objects.filter(facility_id__in=visible_facility_ids(user)).select_related(
        "facility", "inmate", "location", "device", "acknowledged_by", "resolved_by"
    )


def open_alerts(*, user, facility=None) -> QuerySet[Alert]:
    """What still needs someone: open and acknowledged, most severe first."""
    alerts = alert_list(user=user).filter(status__in=UNRESOLVED)
    if facility is not None:
        alerts = alerts.filter(facility=facility)
    return alerts.select_related("inmate__cell").order_by("severity_rank", "opened_at", "id")


def notification_list(*, alert: Alert) -> QuerySet[Notification]:
    return alert.notifications.select_related("channel").order_by("created_at", "id")
