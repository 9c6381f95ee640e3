"""The establishment roll (docs/api.md "Establishment roll"): serializers and
the ``at`` parameter. The view is ``FacilityViewSet.roll``."""

from datetime import datetime

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from custody.api.history import TIME_HELP, parse_offset_time
from custody.models import CLOCK_SKEW
from custody.serializers import ZonedTimeField

ROLL_PARAMETERS = [
    OpenApiParameter(
        "at",
        OpenApiTypes.DATETIME,
        description=_(
            "The roll at this time (ISO 8601 with offset), computed from the record's "
            "history. Default: now. Not in the future."
        ),
    )
]


def roll_at(params, *, now: datetime) -> datetime:
    """``at`` from the query: once, a time with its offset, not in the
    future (a device's clock may run a little ahead: capped at now).
    ValidationError (400) otherwise."""
    values = params.getlist("at")
    if not values:
        return now
    if len(values) > 1:
        raise ValidationError({"at": [_("Give this parameter once.")]})
    try:
        at = parse_offset_time(values[0])
    except (ValueError, OverflowError) as exc:
        raise ValidationError({"at": [TIME_HELP]}) from exc
    if at > now + CLOCK_SKEW:
        raise ValidationError({"at": [_("The roll is known up to now, not for the future.")]})
    return min(at, now)


class KindCounts(serializers.DictField):
    def __init__(self, **kwargs):
        super().__init__(child=serializers.IntegerField(min_value=0), **kwargs)


class CrowdedCellSerializer(serializers.Serializer):
    cell = serializers.CharField(help_text=_("Cell code."))
    occupancy = serializers.IntegerField(
        min_value=0, help_text=_("People assigned to it (out on a movement included).")
    )
    operational_capacity = serializers.IntegerField(min_value=0)


class RollFiguresSerializer(serializers.Serializer):
    unit = serializers.CharField(
        source="code",
        allow_null=True,
        help_text=_(
            "Code of the unit (the parent of the cell or reception area, or the place itself "
            "when it has none); null on the facility's row."
        ),
    )
    name = serializers.CharField()
    unlock_roll = serializers.IntegerField(
        min_value=0,
        help_text=_(
            "On the roll at the start of the facility's local day; always "
            "current_roll - arrived_today + out_today."
        ),
    )
    current_roll = serializers.IntegerField(
        min_value=0,
        help_text=_(
            "Inside the walls now: in_cell + out_of_cell_inside + reception + no_cell. "
            "Missing and escaped people keep their place on the roll."
        ),
    )
    arrived_today = serializers.IntegerField(
        min_value=0,
        help_text=_(
            "Came onto the roll since local midnight: admissions, transfers in, returns from "
            "outings (per unit also moves from other units)."
        ),
    )
    arrived_by_kind = KindCounts(help_text=_("arrived_today per movement kind."))
    out_today = serializers.IntegerField(
        min_value=0,
        help_text=_(
            "Left the roll since local midnight: outings outside the walls, transfers out, "
            "releases (per unit also moves to other units)."
        ),
    )
    out_by_kind = KindCounts(help_text=_("out_today per movement kind."))
    in_cell = serializers.IntegerField(min_value=0)
    out_of_cell_inside = serializers.IntegerField(
        min_value=0,
        help_text=_(
            "On a movement to a place inside the walls (yard, workshop, infirmary, visit, "
            "interview)."
        ),
    )
    out_of_cell_by_kind = KindCounts(
        help_text=_("out_of_cell_inside per kind of destination (yard, workshop, ...).")
    )
    reception = serializers.IntegerField(
        min_value=0, help_text=_("Admitted and waiting in a reception area for a cell.")
    )
    no_cell = serializers.IntegerField(
        min_value=0,
        help_text=_("On the roll in no cell or reception area (0 while the record is sound)."),
    )
    away = serializers.IntegerField(
        min_value=0,
        help_text=_("Off the roll on an outing outside the walls (court, hospital, leave)."),
    )
    certified_capacity = serializers.IntegerField(
        min_value=0, help_text=_("Sum of the certified capacity of the cells.")
    )
    operational_capacity = serializers.IntegerField(
        min_value=0, help_text=_("Sum of the operational capacity of the cells.")
    )
    net_vacancies = serializers.IntegerField(
        help_text=_("operational_capacity - current_roll (negative: overcrowded).")
    )
    occupancy = serializers.IntegerField(
        min_value=0, help_text=_("People holding a bed in a cell (away on an outing included).")
    )
    overcrowded = serializers.BooleanField(
        help_text=_("Occupancy above the operational capacity, here or in any of its cells.")
    )
    overcrowded_cells = CrowdedCellSerializer(many=True)


class RollSerializer(serializers.Serializer):
    """Reads ``custody.selectors.roll.establishment_roll``."""

    facility = serializers.CharField(source="facility.code", help_text=_("Facility code."))
    timezone = serializers.CharField(
        source="facility.timezone", help_text=_("The facility's time zone: its day.")
    )
    at = ZonedTimeField(help_text=_("The moment of the roll, in the facility's zone."))
    day_start = ZonedTimeField(help_text=_('The local midnight "today" counts from.'))
    total = RollFiguresSerializer()
    units = RollFiguresSerializer(many=True)

    def to_representation(self, instance):
        self.context["tz"] = instance.facility.tzinfo
        return super().to_representation(instance)
