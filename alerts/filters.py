import django_filters
from django.utils.translation import gettext_lazy as _

from alerts.models import Alert
from custody.filters import StrictFilterSet


class AlertFilter(StrictFilterSet):
    facility = django_filters.CharFilter(field_name="facility__code", help_text=_("Facility code."))
    inmate = django_filters.CharFilter(
        field_name="inmate__booking_number", help_text=_("Booking number.")
    )
    location = django_filters.CharFilter(field_name="location__code", help_text=_("Location code."))
    opened_after = django_filters.IsoDateTimeFilter(
        field_name="opened_at", lookup_expr="gte", help_text=_("Opened at or after (ISO 8601).")
    )
    opened_before = django_filters.IsoDateTimeFilter(
        field_name="opened_at", lookup_expr="lt", help_text=_("Opened before (ISO 8601).")
    )

    class Meta:
        model = Alert
        fields = ["status", "facility", "kind", "severity", "inmate", "location"]
