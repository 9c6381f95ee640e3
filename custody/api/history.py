"""The shape of one entry of a person's custody timeline (API.md history)."""

import json
import zoneinfo
from datetime import UTC, datetime

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from custody.selectors.history import HISTORY_TYPES, SUMMARY_TIMES


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

    def to_representation(self, row):
        tz = zoneinfo.ZoneInfo(row["entry_tz"])
        summary = dict(row["entry_summary"])
        for key in SUMMARY_TIMES.intersection(summary):
            if summary[key]:
                summary[key] = _in_zone(summary[key], tz)
        if isinstance(summary.get("data"), str):
            # SQLite (the embedded demo) nests a JSON column as text.
            summary["data"] = json.loads(summary["data"])
        return super().to_representation(
            {**row, "entry_at": row["entry_at"].astimezone(tz), "entry_summary": summary}
        )


def _in_zone(text: str, tz) -> str:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        # SQLite writes stored (UTC) times without an offset.
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(tz).isoformat()
