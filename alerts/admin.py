"""Admin: ladders, channels and limits are edited here (each save is a ledger
event); alerts and their deliveries are shown, never edited (people act
through the dashboard/API, so every step is attributed and in the ledger)."""

from django.contrib import admin

from alerts.models import (
    Alert,
    AlertPolicy,
    EscalationLevel,
    Notification,
    NotificationChannel,
    WitnessDelivery,
)
from alerts.services.settings_record import alert_setting_save
from custody.admin import RecordAdmin, ViewOnlyAdmin


class RecordedSettingAdmin(RecordAdmin):
    """Every save goes through the service that puts it in the ledger."""

    def save_model(self, request, obj, form, change):
        alert_setting_save(setting=obj, by=request.user)


@admin.register(EscalationLevel)
class EscalationLevelAdmin(RecordedSettingAdmin):
    list_display = [
        "facility",
        "level",
        "name",
        "acknowledge_within_seconds",
        "resolve_within_seconds",
        "repeat_every_seconds",
    ]
    list_filter = ["facility"]


@admin.register(NotificationChannel)
class NotificationChannelAdmin(RecordedSettingAdmin):
    list_display = [
        "facility",
        "level",
        "name",
        "kind",
        "target",
        "unit",
        "min_severity",
        "purpose",
        "is_active",
    ]
    list_filter = ["facility", "kind", "purpose", "is_active"]


@admin.register(AlertPolicy)
class AlertPolicyAdmin(RecordedSettingAdmin):
    list_display = [
        "facility",
        "device_offline_after_seconds",
        "travel_between_units_seconds",
        "movement_grace_seconds",
    ]


@admin.register(Alert)
class AlertAdmin(ViewOnlyAdmin):
    list_display = [
        "id",
        "facility",
        "kind",
        "severity",
        "status",
        "inmate",
        "opened_at",
        "acknowledged_by",
        "resolve_by",
    ]
    list_filter = ["facility", "kind", "severity", "status"]
    search_fields = ["inmate__booking_number", "dedup_key"]


@admin.register(Notification)
class NotificationAdmin(ViewOnlyAdmin):
    list_display = [
        "id",
        "alert",
        "channel",
        "event",
        "level",
        "round",
        "status",
        "attempts",
        "sent_at",
    ]
    list_filter = ["status", "event"]


@admin.register(WitnessDelivery)
class WitnessDeliveryAdmin(ViewOnlyAdmin):
    list_display = ["id", "channel", "status", "attempts", "created_at", "sent_at"]
    list_filter = ["status"]
