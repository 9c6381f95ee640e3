import django_filters
from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_filters.rest_framework import FilterSet

from custody.models import (
    CellAssignment,
    ChangeStatus,
    CheckIn,
    CountSchedule,
    Device,
    Inmate,
    Location,
    Movement,
    PendingChange,
    QuarantinedCheckIn,
    QuarantineSource,
    Role,
    RollCall,
    User,
)
from custody.selectors.changes import status_filter


class StrictFilterSet(FilterSet):
    """Filters that refuse what they cannot use instead of silently ignoring it.

    django-filter drops empty, repeated or unparseable values and answers the
    unfiltered list; an auditor asking for ``is_active=maybe`` must hear "400",
    not get every device back.
    """

    def is_valid(self):
        valid = super().is_valid()
        for name in self.filters:
            values = self.data.getlist(name) if hasattr(self.data, "getlist") else []
            if not values:
                continue
            if len(values) > 1:
                self.form.add_error(name, _("Give this filter once."))
            elif values[0] == "":
                self.form.add_error(name, _("Give a value or leave the filter out."))
            elif name in self.form.cleaned_data and self.form.cleaned_data[name] is None:
                self.form.add_error(name, _("This value is not valid here."))
        return valid and not self.form.errors


class LocationFilter(StrictFilterSet):
    facility = django_filters.CharFilter(
        field_name="facility__code", help_text=gettext_lazy("Facility code.")
    )
    parent = django_filters.CharFilter(
        field_name="parent__code", help_text=gettext_lazy("Parent location code.")
    )

    class Meta:
        model = Location
        fields = ["facility", "code", "kind", "parent"]


class InmateFilter(StrictFilterSet):
    facility = django_filters.CharFilter(
        field_name="facility__code", help_text=gettext_lazy("Facility code.")
    )
    cell = django_filters.CharFilter(field_name="cell__code", help_text=gettext_lazy("Cell code."))
    due_before = django_filters.IsoDateTimeFilter(
        field_name="next_due_at",
        lookup_expr="lt",
        help_text=gettext_lazy("Next check due before this time."),
    )

    class Meta:
        model = Inmate
        fields = ["facility", "cell", "status", "security_level", "due_before"]


class DeviceFilter(StrictFilterSet):
    facility = django_filters.CharFilter(
        field_name="facility__code", help_text=gettext_lazy("Facility code.")
    )
    location = django_filters.CharFilter(
        field_name="location__code", help_text=gettext_lazy("Location code.")
    )

    class Meta:
        model = Device
        fields = ["facility", "kind", "location", "is_active"]


class UserFilter(StrictFilterSet):
    facility = django_filters.CharFilter(
        field_name="facilities__code", help_text=gettext_lazy("Facility code.")
    )
    role = django_filters.ChoiceFilter(
        field_name="groups__name", choices=Role.choices, help_text=gettext_lazy("Role.")
    )

    class Meta:
        model = User
        fields = ["facility", "role", "is_active"]


class CheckInFilter(StrictFilterSet):
    facility = django_filters.CharFilter(
        field_name="facility__code", help_text=gettext_lazy("Facility code.")
    )
    inmate = django_filters.CharFilter(
        field_name="inmate__booking_number", help_text=gettext_lazy("Booking number.")
    )
    location = django_filters.CharFilter(
        field_name="location__code", help_text=gettext_lazy("Location code.")
    )
    since = django_filters.IsoDateTimeFilter(
        field_name="observed_at", lookup_expr="gte", help_text=gettext_lazy("Observed at or after.")
    )
    until = django_filters.IsoDateTimeFilter(
        field_name="observed_at", lookup_expr="lt", help_text=gettext_lazy("Observed before.")
    )

    class Meta:
        model = CheckIn
        fields = ["facility", "inmate", "location", "method", "out_of_place", "since", "until"]


class QuarantineFilter(StrictFilterSet):
    facility = django_filters.CharFilter(
        field_name="facility__code", help_text=gettext_lazy("Facility code.")
    )
    since = django_filters.IsoDateTimeFilter(
        field_name="received_at", lookup_expr="gte", help_text=gettext_lazy("Received at or after.")
    )
    until = django_filters.IsoDateTimeFilter(
        field_name="received_at", lookup_expr="lt", help_text=gettext_lazy("Received before.")
    )
    device = django_filters.UUIDFilter(
        field_name="device_id", help_text=gettext_lazy("The device that sent the scans.")
    )
    submitted_by = django_filters.CharFilter(
        field_name="submitted_by__username",
        help_text=gettext_lazy("Username of the officer who sent the scans."),
    )
    reason = django_filters.CharFilter(
        help_text=gettext_lazy(
            "Why they were refused, e.g. method_not_allowed, wrong_location, clock_past, "
            "clock_future, unknown_inmate, unknown_location, visual_needs_guard, invalid; "
            "for round checks also tag_required, unknown_tag, tag_other_facility, "
            "tag_retired, before_tag_registered, not_in_cell, tablet_required, "
            "not_your_facility."
        )
    )
    source = django_filters.ChoiceFilter(
        choices=QuarantineSource.choices,
        help_text=gettext_lazy("checkins or rounds."),
    )

    class Meta:
        model = QuarantinedCheckIn
        fields = [
            "facility",
            "reason",
            "item_id",
            "since",
            "until",
            "device",
            "submitted_by",
            "source",
        ]


class MovementFilter(StrictFilterSet):
    facility = django_filters.CharFilter(
        method="filter_facility",
        help_text=gettext_lazy("Facility code: movements from or to this facility."),
    )
    inmate = django_filters.CharFilter(
        field_name="inmate__booking_number", help_text=gettext_lazy("Booking number.")
    )

    class Meta:
        model = Movement
        fields = ["facility", "inmate", "kind", "status"]

    def filter_facility(self, queryset, name, value):
        return queryset.filter(Q(facility__code=value) | Q(to_facility__code=value))


class CellAssignmentFilter(StrictFilterSet):
    facility = django_filters.CharFilter(
        field_name="cell__facility__code", help_text=gettext_lazy("Facility code.")
    )
    inmate = django_filters.CharFilter(
        field_name="inmate__booking_number", help_text=gettext_lazy("Booking number.")
    )
    cell = django_filters.CharFilter(field_name="cell__code", help_text=gettext_lazy("Cell code."))

    class Meta:
        model = CellAssignment
        fields = ["facility", "inmate", "cell"]


class RollCallFilter(StrictFilterSet):
    facility = django_filters.CharFilter(
        field_name="facility__code", help_text=gettext_lazy("Facility code.")
    )
    location = django_filters.CharFilter(
        field_name="location__code", help_text=gettext_lazy("Unit code.")
    )
    started_after = django_filters.IsoDateTimeFilter(field_name="started_at", lookup_expr="gte")
    started_before = django_filters.IsoDateTimeFilter(field_name="started_at", lookup_expr="lt")

    class Meta:
        model = RollCall
        fields = ["facility", "location", "kind", "status", "started_after", "started_before"]


class CountScheduleFilter(StrictFilterSet):
    facility = django_filters.CharFilter(
        field_name="facility__code", help_text=gettext_lazy("Facility code.")
    )
    location = django_filters.CharFilter(
        field_name="location__code", help_text=gettext_lazy("Unit code.")
    )

    class Meta:
        model = CountSchedule
        fields = ["facility", "location", "kind", "is_active"]


class ChangeFilter(StrictFilterSet):
    facility = django_filters.CharFilter(
        field_name="facility__code", help_text=gettext_lazy("Facility code.")
    )
    status = django_filters.ChoiceFilter(
        choices=ChangeStatus.choices,
        method="filter_status",
        help_text=gettext_lazy("pending (not expired yet), approved, rejected or expired."),
    )
    kind = django_filters.CharFilter(help_text=gettext_lazy("What kind of record it changes."))

    class Meta:
        model = PendingChange
        fields = ["facility", "status", "kind"]

    def filter_status(self, queryset, name, value):
        return queryset.filter(status_filter(value))
