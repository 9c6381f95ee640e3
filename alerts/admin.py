"""Admin: ladders, channels and limits are edited here (each save is a ledger
event); alerts and their deliveries are shown, never edited (people act
through the dashboard/API, so every step is attributed and in the ledger)."""

from django.contrib import admin, messages
from django.utils.translation import gettext as _

from alerts.models import (
    Alert,
    AlertPolicy,
    EscalationLevel,
    Notification,
    NotificationChannel,
    WitnessDelivery,
)
from alerts.services.settings_record import alert_setting_save
from custody.admin import RecordAdmin, ViewOnlyAdmin, submit_change


class RecordedSettingAdmin(RecordAdmin):
    """Every save goes through the service that puts it in the ledger."""

    def save_model(self, request, obj, form, change):
        alert_setting_save(setting=obj, by=request.user)


@admin.register(EscalationLevel)
class EscalationLevelAdmin(ViewOnlyAdmin):
    """Read here; a ladder is replaced whole through ``PUT
    /api/v1/facilities/{code}/escalation/``, where fewer rungs or longer
    limits wait for a second officer."""

    list_display = [
        "facility",
        "level",
        "name",
        "acknowledge_within_seconds",
        "resolve_within_seconds",
        "repeat_every_seconds",
    ]
    list_filter = ["facility"]

    def changelist_view(self, request, extra_context=None):
        messages.info(
            request,
            _("Ladders are changed through the API: PUT /api/v1/facilities/<code>/escalation/."),
        )
        return super().changelist_view(request, extra_context)


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

    def save_model(self, request, obj, form, change):
        if not change:  # a new channel reaches more people: at once
            return super().save_model(request, obj, form, change)
        stored = NotificationChannel.objects.get(pk=obj.pk)
        fields = {name: form.cleaned_data[name] for name in form.changed_data}
        submit_change(request, kind="notification_channel", target=stored, fields=fields)


@admin.register(AlertPolicy)
class AlertPolicyAdmin(RecordedSettingAdmin):
    list_display = [
        "facility",
        "device_offline_after_seconds",
        "travel_between_units_seconds",
        "round_seconds_per_cell",
        "movement_grace_seconds",
    ]

    def save_model(self, request, obj, form, change):
        # Compared with the facility's limits so far (its defaults for a new row).
        fields = {name: form.cleaned_data[name] for name in form.changed_data if name != "facility"}
        submit_change(request, kind="alert_policy", target=obj.facility, fields=fields)


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
