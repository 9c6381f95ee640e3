import django_filters

from custody.models import Device, Inmate, Location


class LocationFilter(django_filters.FilterSet):
    facility = django_filters.CharFilter(field_name="facility__code", help_text="Facility code.")
    parent = django_filters.CharFilter(field_name="parent__code", help_text="Parent location code.")

    class Meta:
        model = Location
        fields = ["facility", "code", "kind", "parent"]


class InmateFilter(django_filters.FilterSet):
    facility = django_filters.CharFilter(field_name="facility__code", help_text="Facility code.")
    cell = django_filters.CharFilter(field_name="cell__code", help_text="Cell code.")
    due_before = django_filters.IsoDateTimeFilter(
        field_name="next_due_at", lookup_expr="lt", help_text="Next check due before this time."
    )

    class Meta:
        model = Inmate
        fields = ["facility", "cell", "status", "security_level", "due_before"]


class DeviceFilter(django_filters.FilterSet):
    facility = django_filters.CharFilter(field_name="facility__code", help_text="Facility code.")
    location = django_filters.CharFilter(field_name="location__code", help_text="Location code.")

    class Meta:
        model = Device
        fields = ["facility", "kind", "location", "is_active"]
