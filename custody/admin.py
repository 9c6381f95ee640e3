"""Django admin for the record. Creation goes through services so the same
rules (first deadline, hashed device keys) hold as in the API."""

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from custody import services
from custody.models import Device, Facility, Inmate, Location, User


@admin.register(Facility)
class FacilityAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "timezone", "grace_seconds"]
    search_fields = ["code", "name"]


@admin.register(Location)
class LocationAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "kind", "facility", "parent", "capacity"]
    list_filter = ["facility", "kind"]
    search_fields = ["code", "name"]
    raw_id_fields = ["parent"]


@admin.register(Inmate)
class InmateAdmin(admin.ModelAdmin):
    list_display = [
        "booking_number",
        "last_name",
        "first_name",
        "facility",
        "cell",
        "status",
        "security_level",
        "next_due_at",
    ]
    list_filter = ["facility", "status", "security_level"]
    search_fields = ["booking_number", "last_name", "first_name"]
    raw_id_fields = ["cell"]
    readonly_fields = ["status", "last_seen_at", "next_due_at"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return self.readonly_fields
        return [*self.readonly_fields, "facility", "booking_number", "admitted_at"]

    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data[name] for name in form.changed_data}
        if change:
            services.inmate_update(inmate=obj, by=request.user, **fields)
        else:
            admitted = services.inmate_admit(
                facility=obj.facility,
                booking_number=obj.booking_number,
                first_name=obj.first_name,
                last_name=obj.last_name,
                security_level=obj.security_level,
                cell=obj.cell,
                admitted_at=obj.admitted_at,
                by=request.user,
            )
            obj.pk = admitted.pk


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "kind",
        "facility",
        "location",
        "is_active",
        "key_prefix",
        "last_heartbeat_at",
    ]
    list_filter = ["facility", "kind", "is_active"]
    readonly_fields = ["key_prefix", "last_heartbeat_at"]
    actions = ["rotate_keys"]

    def save_model(self, request, obj, form, change):
        if change:
            obj.save()
            return
        device, key = services.device_create(
            facility=obj.facility,
            name=obj.name,
            kind=obj.kind,
            location=obj.location,
            by=request.user,
        )
        obj.pk = device.pk
        messages.warning(request, _("Device key (shown only this once): %(key)s") % {"key": key})

    @admin.action(description=gettext_lazy("Issue new keys (old ones stop working)"))
    def rotate_keys(self, request, queryset):
        for device in queryset:
            key = services.device_rotate_key(device=device, by=request.user)
            messages.warning(request, f"{device}: {key}")


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    fieldsets = (
        *BaseUserAdmin.fieldsets,
        (gettext_lazy("Facilities"), {"fields": ("facilities",)}),
    )
    filter_horizontal = ("groups", "user_permissions", "facilities")
