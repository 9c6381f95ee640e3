"""What alerts add to custody's retention registries (``register`` runs at
app ready; custody never imports alerts).

- Notifications (the deliveries' history) may be archived by month of
  ``created_at``; their facility is their alert's. Alerts themselves are
  kept for ever.
- An open alert, or one resolved in the last ``ARCHIVE_ALERT_RECENT_DAYS``,
  keeps its evidence online: every month its period touches in its facility,
  from ``ARCHIVE_ALERT_LOOKBACK_DAYS`` before it opened to its resolution
  (or now).
"""

from datetime import timedelta

from django.conf import settings
from django.db.models import Q

from alerts.models import UNRESOLVED, Alert
from custody.services.retention import (
    RetentionKind,
    archive_blocker_register,
    retention_kind_register,
)

NOTIFICATIONS = RetentionKind(
    name="notifications",
    table="alerts_notification",
    time_column="created_at",
    default_days=365,
    facility_sql=(
        "SELECT a.facility_id FROM alerts_alert a WHERE a.id = alerts_notification.alert_id"
    ),
    guards=("alerts_notification_keep",),
)


def alert_label(alert: Alert) -> str:
    about = alert.inmate.booking_number if alert.inmate_id else None
    about = about or (alert.location.code if alert.location_id else None)
    state = alert.get_status_display().lower()
    return (
        f"{alert.facility.code}: alert #{alert.pk} {alert.kind}"
        + (f" ({about})" if about else "")
        + f", opened {alert.opened_at:%Y-%m-%d}, {state}"
    )


def alerts_blocking(*, facility_ids, start, end, now) -> list[str]:
    lookback = timedelta(days=settings.ARCHIVE_ALERT_LOOKBACK_DAYS)
    recent = now - timedelta(days=settings.ARCHIVE_ALERT_RECENT_DAYS)
    alerts = (
        Alert.objects.filter(facility_id__in=facility_ids, opened_at__lt=end + lookback)
        .filter(Q(status__in=UNRESOLVED) | Q(resolved_at__gte=recent, resolved_at__gt=start))
        .select_related("facility", "inmate", "location")
        .order_by("pk")
    )
    return [alert_label(alert) for alert in alerts]


def register() -> None:
    retention_kind_register(NOTIFICATIONS)
    archive_blocker_register(alerts_blocking)
