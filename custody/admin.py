"""Django admin for the record (superusers only). Every write goes through the
services, so the same rules hold as in the API and each change reaches the
ledger; nothing is deleted here, and the append-only records are view-only."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import UserChangeForm as BaseUserChangeForm
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from custody import selectors, services
from custody.models import (
    CellAssignment,
    CheckInMethod,
    Device,
    Facility,
    Inmate,
    LedgerEvent,
    LedgerJob,
    Location,
    Movement,
    MovementExtension,
    PendingChange,
    QuarantinedCheckIn,
    User,
    role_of,
)
from custody.receivers import ON_RECORD
from custody.services.changes import change_submit
from custody.services.evidence import methods_problem


class RecordAdmin(admin.ModelAdmin):
    """Custody records are corrected by new entries, never deleted."""

    def has_delete_permission(self, request, obj=None):
        return False


def _changed(form) -> dict:
    return {name: form.cleaned_data[name] for name in form.changed_data}


def submit_change(request, *, kind: str, target, fields: dict):
    """An edit made here goes through the same gate as the API and the pages
    (``custody.services.changes``): one that weakens surveillance waits."""
    outcome = change_submit(kind=kind, target=target, by=request.user, fields=fields)
    if outcome.pending:
        messages.warning(
            request,
            _(
                "This change weakens surveillance (%(fields)s): it waits for another "
                "supervisor or administrator of the facility (pending change %(id)s)."
            )
            % {"fields": ", ".join(outcome.weakened), "id": outcome.change.pk},
        )
    return outcome


@admin.register(Facility)
class FacilityAdmin(RecordAdmin):
    list_display = ["code", "name", "timezone", "grace_seconds"]
    search_fields = ["code", "name"]

    def save_model(self, request, obj, form, change):
        if change:
            # The stored row, not the form's edited copy: the ledger records from -> to.
            stored = Facility.objects.get(pk=obj.pk)
            submit_change(request, kind="facility", target=stored, fields=_changed(form))
        else:
            obj.pk = services.facility_create(by=request.user, **form.cleaned_data).pk


@admin.register(Location)
class LocationAdmin(RecordAdmin):
    list_display = ["code", "name", "kind", "facility", "parent", "capacity"]
    list_filter = ["facility", "kind"]
    search_fields = ["code", "name"]
    raw_id_fields = ["parent"]
    # Round times move with round checks, never by hand.
    readonly_fields = ["last_round_at", "next_round_due_at", "round_deadline_at"]

    def save_model(self, request, obj, form, change):
        if change:
            stored = Location.objects.get(pk=obj.pk)
            submit_change(request, kind="location", target=stored, fields=_changed(form))
        else:
            obj.pk = services.location_create(by=request.user, **form.cleaned_data).pk


@admin.register(Inmate)
class InmateAdmin(RecordAdmin):
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
    # Deadlines move with observations, never by hand.
    readonly_fields = [
        "status",
        "last_seen_at",
        "next_due_at",
        "last_round_at",
        "next_round_due_at",
        "round_deadline_at",
    ]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return self.readonly_fields
        return [*self.readonly_fields, "facility", "booking_number", "admitted_at"]

    def save_model(self, request, obj, form, change):
        if change:
            stored = Inmate.objects.get(pk=obj.pk)
            submit_change(request, kind="inmate", target=stored, fields=_changed(form))
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
                watch_level=obj.watch_level,
            )
            obj.pk = admitted.pk


class DeviceAdminForm(forms.ModelForm):
    """Methods as boxes to tick, checked by the same rule as the API."""

    methods = forms.MultipleChoiceField(
        label=gettext_lazy("methods"),
        choices=CheckInMethod.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=gettext_lazy(
            "None ticked: the defaults of its kind. A reader cannot declare visual or manual."
        ),
    )

    class Meta:
        model = Device
        fields = ["facility", "name", "kind", "location", "methods", "is_active"]

    def clean(self):
        cleaned = super().clean()
        methods = list(cleaned.get("methods") or [])
        problem = methods_problem(methods, kind=cleaned.get("kind") or self.instance.kind)
        if problem:
            self.add_error("methods", problem)
        return cleaned


@admin.register(Device)
class DeviceAdmin(RecordAdmin):
    form = DeviceAdminForm
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
            stored = Device.objects.get(pk=obj.pk)
            submit_change(request, kind="device", target=stored, fields=_changed(form))
            return
        device, key = services.device_create(
            facility=obj.facility,
            name=obj.name,
            kind=obj.kind,
            location=obj.location,
            methods=list(obj.methods or []),
            by=request.user,
        )
        obj.pk = device.pk
        messages.warning(request, _("Device key (shown only this once): %(key)s") % {"key": key})

    @admin.action(description=gettext_lazy("Issue new keys (old ones stop working)"))
    def rotate_keys(self, request, queryset):
        for device in queryset:
            key = services.device_rotate_key(device=device, by=request.user)
            messages.warning(request, f"{device}: {key}")


class AccountRulesForm:
    """The account rules of the API (``services.user_change_check``) on the
    admin's user forms; ``acting_user`` is set per request by ``get_form``."""

    acting_user = None

    def clean(self):
        cleaned = super().clean()
        stored = User.objects.filter(pk=self.instance.pk).first() if self.instance.pk else None
        if stored is None:
            return cleaned
        changed = set(self.changed_data)
        role = role_of(
            [group.name for group in cleaned.get("groups", stored.groups.all())],
            is_superuser=cleaned.get("is_superuser", stored.is_superuser),
        )
        if role != stored.role:
            changed.add("role")
        try:
            services.user_change_check(
                by=self.acting_user,
                user=stored,
                fields=changed,
                role=role if "role" in changed else None,
                is_active=cleaned.get("is_active") if "is_active" in changed else None,
                is_superuser=cleaned.get("is_superuser") if "is_superuser" in changed else None,
                facilities=cleaned.get("facilities") if "facilities" in changed else None,
            )
        except PermissionDenied as exc:
            raise forms.ValidationError(str(exc)) from exc
        except ValidationError as exc:
            # The API's field names (role) are not all fields of this form.
            raise forms.ValidationError(exc.messages) from exc
        return cleaned


class UserChangeForm(AccountRulesForm, BaseUserChangeForm):
    pass


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    """Superusers manage every account here. A staff member a superuser has
    given user permissions to sees only the accounts of their facilities
    and may take one over (password, role, status...) only where they
    administer all of its facilities, as in the API. Nobody is deleted:
    the record keeps naming who did what; deactivate instead."""

    form = UserChangeForm
    fieldsets = (
        *BaseUserAdmin.fieldsets,
        (gettext_lazy("Facilities"), {"fields": ("facilities",)}),
    )
    filter_horizontal = ("groups", "user_permissions", "facilities")
    # Powers only a superuser hands out.
    privileges = ("is_superuser", "is_staff", "user_permissions")

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(pk__in=selectors.user_list(user=request.user).values("pk"))

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        return fields if request.user.is_superuser else [*fields, *self.privileges]

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        return type(form.__name__, (form,), {"acting_user": request.user})

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "facilities" and not request.user.is_superuser:
            kwargs["queryset"] = selectors.facilities_visible_to(request.user)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def has_add_permission(self, request):
        # A new account starts with no facility: a national one.
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        # Deactivate instead: the record must keep naming who did what.
        return False

    def save_model(self, request, obj, form, change):
        stored = User.objects.get(pk=obj.pk) if change else None
        request._access_before = services.user_access_snapshot(stored)
        setattr(obj, ON_RECORD, True)  # save_related records it, naming who
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        # Roles (groups) and facilities are saved here, after the user row.
        super().save_related(request, form, formsets, change)
        services.user_record_change(
            user=form.instance,
            by=request.user,
            before=request._access_before,
            password_changed=not change,
        )

    def user_change_password(self, request, id, form_url=""):
        user = self.get_object(request, unquote(id))
        if user is not None and not services.user_covered_by(by=request.user, user=user):
            raise PermissionDenied(
                _("Only an administrator of every facility of this account can set its password.")
            )
        with transaction.atomic():
            before = services.user_access_snapshot(user)
            response = super().user_change_password(request, id, form_url)
            if request.method == "POST" and user is not None and response.status_code == 302:
                user.refresh_from_db()
                services.user_record_change(
                    user=user, by=request.user, before=before, password_changed=True
                )
        return response


class ViewOnlyAdmin(RecordAdmin):
    """Append-only or service-driven records: looked at here, changed elsewhere."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(LedgerJob)
class LedgerJobAdmin(ViewOnlyAdmin):
    list_display = ["id", "kind", "facility", "requested_by", "status", "created_at", "finished_at"]
    list_filter = ["kind", "status", "facility"]


@admin.register(Movement)
class MovementAdmin(ViewOnlyAdmin):
    list_display = [
        "id",
        "inmate",
        "kind",
        "status",
        "emergency",
        "facility",
        "requested_at",
        "approved_by",
    ]
    list_filter = ["facility", "kind", "status", "emergency"]
    search_fields = ["inmate__booking_number"]


@admin.register(MovementExtension)
class MovementExtensionAdmin(ViewOnlyAdmin):
    """Extensions are asked and decided through the API (a second officer
    approves); here they are only looked at."""

    list_display = ["id", "movement", "status", "expected_back_at", "requested_by", "decided_by"]
    list_filter = ["status"]
    search_fields = ["movement__inmate__booking_number"]


@admin.register(CellAssignment)
class CellAssignmentAdmin(ViewOnlyAdmin):
    list_display = ["inmate", "cell", "started_at", "ended_at"]
    search_fields = ["inmate__booking_number", "cell__code"]


@admin.register(QuarantinedCheckIn)
class QuarantinedCheckInAdmin(ViewOnlyAdmin):
    list_display = ["received_at", "facility", "device", "item_id", "reason"]
    list_filter = ["facility", "reason"]


@admin.register(PendingChange)
class PendingChangeAdmin(ViewOnlyAdmin):
    """Decided on the changes page or the API, where the rules are enforced."""

    list_display = [
        "id",
        "facility",
        "kind",
        "target_label",
        "status",
        "requested_by",
        "requested_at",
    ]
    list_filter = ["facility", "kind", "status"]


@admin.register(LedgerEvent)
class LedgerEventAdmin(ViewOnlyAdmin):
    list_display = ["facility", "seq", "at", "actor", "action", "subject"]
    list_filter = ["facility", "action"]
    search_fields = ["subject", "actor"]


from custody import admin_signin  # noqa: E402, F401  (sign-in actions on the users admin)
