"""Timelines in the API: the entries of a person's custody history (docs/api.md)
and the filters it is read with; who was in a place between two times."""

import zoneinfo
from datetime import UTC, datetime, timedelta

from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from custody.selectors.history import HISTORY_TYPES, SUMMARY_TIMES
from custody.serializers import FIRST_YEAR, LAST_YEAR, ZonedTimeField, in_zone_isoformat


@extend_schema_field(OpenApiTypes.DATETIME)
class EntryTimeField(serializers.Field):
    def to_representation(self, value):
        return value.isoformat()


class HistoryEntrySerializer(serializers.Serializer):
    """Reads the rows of ``selectors.inmate_history``; times in the facility's zone."""

    at = EntryTimeField(
        source="entry_at", help_text=_("When it happened, in the facility's time zone.")
    )
    type = serializers.ChoiceField(choices=HISTORY_TYPES, source="entry_type")
    id = serializers.CharField(
        source="entry_id",
        help_text=_("Check-in UUID, count entry UUID, movement id or ledger event id, by type."),
    )
    summary = serializers.DictField(
        source="entry_summary",
        help_text=_(
            "checkin: facility, location, method, biometric, score, out_of_place, device, "
            "device_name, recorded_by, received_at. count_entry: facility, location, rollcall, "
            "count_kind, status, method, recorded_by, received_at. "
            "movement: facility, kind, status, from_location, to_location, to_facility, "
            "destination, reason, requested_by, "
            "approved_by and the times of each step. ledger: facility, seq, actor, action, data."
        ),
    )

    # Keys of the summary holding times, shown in the facility's zone.
    summary_times = SUMMARY_TIMES

    def to_representation(self, row):
        tz = zoneinfo.ZoneInfo(row["entry_tz"])
        summary = dict(row["entry_summary"])
        for key in self.summary_times.intersection(summary):
            if summary[key]:
                summary[key] = _in_zone(summary[key], tz)
        return super().to_representation(
            {**row, "entry_at": row["entry_at"].astimezone(tz), "entry_summary": summary}
        )


def _in_zone(text: str, tz) -> str:
    return in_zone_isoformat(datetime.fromisoformat(text), tz)


TIME_HELP = _("Give a time in ISO 8601 with its offset, e.g. 2026-11-24T06:00:00-06:00.")

HISTORY_PARAMETERS = [
    OpenApiParameter(
        "since",
        OpenApiTypes.DATETIME,
        description=_("Only what happened at or after this time (ISO 8601 with offset)."),
    ),
    OpenApiParameter(
        "until",
        OpenApiTypes.DATETIME,
        description=_("Only what happened before this time (ISO 8601 with offset); after since."),
    ),
    OpenApiParameter(
        "type",
        OpenApiTypes.STR,
        enum=HISTORY_TYPES,
        many=True,
        explode=True,
        description=_("Only entries of these types; repeat the parameter for several."),
    ),
]


def parse_offset_time(text: str) -> datetime:
    """An ISO 8601 time with its offset (docs/api.md), in UTC; ValueError otherwise.

    A time without an offset is refused rather than guessed: a token client
    has no "current" zone, and an auditor's range must mean one thing.
    """
    moment = parse_datetime(text.strip())  # ValueError on an impossible date
    if moment is None or moment.tzinfo is None:
        raise ValueError(text)
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:
        raise ValueError(text)  # no custody record is that old or that far ahead
    return moment.astimezone(UTC)


def time_range(params, *, required: bool = False):
    """(since, until) from query parameters, ``until`` exclusive; either may
    be None unless ``required``. ValidationError (400) naming each bad one."""
    errors, found = {}, {}
    for name in ("since", "until"):
        values = params.getlist(name)
        if not values:
            if required:
                errors[name] = [_("Give this parameter.")]
        elif len(values) > 1:
            errors[name] = [_("Give this parameter once.")]
        else:
            try:
                found[name] = parse_offset_time(values[0])
            except (ValueError, OverflowError):
                errors[name] = [TIME_HELP]
    since, until = found.get("since"), found.get("until")
    if not errors and since and until and since >= until:
        errors["until"] = [_("The end must come after the start.")]
    if errors:
        raise ValidationError(errors)
    return since, until


def history_query(params) -> dict:
    """The history filters (``since``, ``until``, ``type``) as keywords of
    ``selectors.inmate_history``; ValidationError (400) when one is bad."""
    since, until = time_range(params)
    query = {"since": since, "until": until}
    types = params.getlist("type")
    if types:
        unknown = sorted(set(types) - set(HISTORY_TYPES))
        if unknown:
            raise ValidationError(
                {
                    "type": [
                        _("Unknown entry type %(types)s; choose among %(known)s.")
                        % {"types": ", ".join(unknown), "known": ", ".join(HISTORY_TYPES)}
                    ]
                }
            )
        query["types"] = frozenset(types)
    return query


# A place's occupants: the last day unless asked; at most a year at a time.
OCCUPANCY_DEFAULT_SPAN = timedelta(hours=24)
OCCUPANCY_MAX_SPAN = timedelta(days=366)

OCCUPANCY_PARAMETERS = [
    OpenApiParameter(
        "since",
        OpenApiTypes.DATETIME,
        description=_(
            "From this time (ISO 8601 with offset). Default: 24 hours before until. "
            "At most 366 days before until."
        ),
    ),
    OpenApiParameter(
        "until",
        OpenApiTypes.DATETIME,
        description=_("Up to this time, exclusive (ISO 8601 with offset). Default: now."),
    ),
]


def occupancy_window(params, *, now: datetime) -> tuple[datetime, datetime]:
    """The period of ``occupants``: defaulted, ordered and at most a year."""
    since, until = time_range(params)
    until = until or now
    since = since or until - OCCUPANCY_DEFAULT_SPAN
    if since >= until:
        raise ValidationError({"since": [_("The start must come before the end (now).")]})
    if until - since > OCCUPANCY_MAX_SPAN:
        raise ValidationError({"since": [_("Ask for at most 366 days at a time.")]})
    return since, until


class StaySerializer(serializers.Serializer):
    inmate = serializers.CharField(source="booking_number", help_text=_("Booking number."))
    name = serializers.CharField()
    cell = serializers.CharField(help_text=_("Cell code."))
    started_at = ZonedTimeField(help_text=_("Assigned from (facility time)."))
    ended_at = ZonedTimeField(
        allow_null=True, help_text=_("Assigned until (facility time); null: still there.")
    )
    started_by = serializers.IntegerField(
        allow_null=True, help_text=_("Id of the movement that put them there.")
    )
    started_by_kind = serializers.CharField(allow_null=True)
    ended_by = serializers.IntegerField(
        allow_null=True, help_text=_("Id of the movement that took them out.")
    )
    ended_by_kind = serializers.CharField(allow_null=True)


class SightingSerializer(serializers.Serializer):
    inmate = serializers.CharField(source="booking_number", help_text=_("Booking number."))
    name = serializers.CharField()
    first_seen_at = ZonedTimeField()
    last_seen_at = ZonedTimeField()
    checkins = serializers.IntegerField(help_text=_("Check-ins here in the period."))
    methods = serializers.DictField(
        child=serializers.IntegerField(), help_text=_("Check-ins per method.")
    )
    places = serializers.ListField(
        child=serializers.CharField(), help_text=_("Codes of the places they were seen at.")
    )
    assigned = serializers.BooleanField(
        help_text=_(
            "Assigned to a cell here at some time in the period; false: seen where the "
            "record does not put them."
        )
    )


class OccupancySerializer(serializers.Serializer):
    """Who was in a place between two times (``selectors.location_occupancy``)."""

    facility = serializers.CharField(source="location.facility.code")
    location = serializers.CharField(source="location.code")
    kind = serializers.CharField(source="location.kind")
    since = ZonedTimeField()
    until = ZonedTimeField()
    cells = serializers.SerializerMethodField(help_text=_("Codes of the cells inside the place."))
    stays = StaySerializer(many=True, help_text=_("Cell assignments overlapping the period."))
    seen = SightingSerializer(
        many=True, source="sightings", help_text=_("People checked in there in the period.")
    )

    def get_cells(self, occupancy) -> list[str]:
        return [cell.code for cell in occupancy.cells]
