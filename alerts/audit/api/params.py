"""Query parameters the audit API's reports share: which facility, which period."""

from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter

FACILITY = OpenApiParameter(
    "facility",
    OpenApiTypes.STR,
    description=gettext_lazy("Facility code; may be left out by someone assigned to one facility."),
)
PERIOD = [
    OpenApiParameter(
        "since",
        OpenApiTypes.STR,
        description=gettext_lazy(
            "From this day (2026-11-01) or time, facility time unless an offset is given; "
            "30 days before `until` if left out."
        ),
    ),
    OpenApiParameter(
        "until",
        OpenApiTypes.STR,
        description=gettext_lazy(
            "Up to the end of this day, or this time; now if left out. At most a year after "
            "`since`."
        ),
    ),
]
