"""``GET``/``PUT /api/v1/facilities/{code}/escalation/`` (API.md "Alerts"):
a facility's ladder, read and replaced whole by an administrator of it.

Shorter limits and more rungs apply at once; longer limits or fewer rungs
wait for a second officer (``custody.services.changes``, kind
``escalation_ladder``) and answer ``202``.
"""

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from alerts.models import EscalationLevel
from alerts.services.change_kinds import RUNG_LIMITS, ladder_levels
from custody.api.changes import ACCEPTED, accepted
from custody.permissions import IsAdmin
from custody.roles import ADMIN_ROLES
from custody.selectors import facilities_visible_to
from custody.services.changes import change_submit

MIN_LIMIT_SECONDS = 10
MAX_RUNGS = EscalationLevel._meta.get_field("level").validators[0].limit_value + 1


def _limit(name: str, *, maximum: int, required: bool):
    return serializers.IntegerField(
        min_value=MIN_LIMIT_SECONDS,
        max_value=maximum,
        allow_null=not required,
        required=required,
        help_text=gettext_lazy("Seconds, %(low)s or more.") % {"low": MIN_LIMIT_SECONDS},
    )


class RungSerializer(serializers.Serializer):
    level = serializers.IntegerField(min_value=0, max_value=MAX_RUNGS - 1)
    name = serializers.CharField(max_length=100)
    acknowledge_within_seconds = _limit(
        "acknowledge_within_seconds", maximum=24 * 3600, required=False
    )
    resolve_within_seconds = _limit("resolve_within_seconds", maximum=7 * 24 * 3600, required=False)
    repeat_every_seconds = serializers.IntegerField(
        min_value=MIN_LIMIT_SECONDS, max_value=24 * 3600, required=False, default=900
    )


class LadderSerializer(serializers.Serializer):
    levels = RungSerializer(many=True, allow_empty=False, max_length=MAX_RUNGS)

    def validate_levels(self, levels):
        for index, rung in enumerate(levels):
            if rung["level"] != index:
                raise serializers.ValidationError(
                    {f"levels[{index}].level": _("Levels run 0, 1, 2… in order, without gaps.")}
                )
            top = index == len(levels) - 1
            if not top and rung.get("acknowledge_within_seconds") is None:
                raise serializers.ValidationError(
                    {
                        f"levels[{index}].acknowledge_within_seconds": _(
                            "Every rung but the top one needs its time to acknowledge."
                        )
                    }
                )
            for name in RUNG_LIMITS:
                rung.setdefault(name, None)
        return levels


class EscalationLadderView(APIView):
    """The facility's escalation ladder: who hears an alert first, and how
    long before it climbs (unacknowledged, unresolved) or repeats at the top."""

    permission_classes = [IsAdmin]
    read_roles = ADMIN_ROLES
    write_roles = ADMIN_ROLES
    http_method_names = ["get", "put", "head", "options"]

    def _facility(self, request, code):
        return get_object_or_404(facilities_visible_to(request.user), code=code)

    @extend_schema(responses={200: LadderSerializer})
    def get(self, request, code):
        return Response({"levels": ladder_levels(self._facility(request, code))})

    @extend_schema(request=LadderSerializer, responses={200: LadderSerializer, 202: ACCEPTED})
    def put(self, request, code):
        facility = self._facility(request, code)
        serializer = LadderSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        outcome = change_submit(
            kind="escalation_ladder",
            target=facility,
            by=request.user,
            fields={"levels": [dict(rung) for rung in serializer.validated_data["levels"]]},
        )
        if outcome.pending:
            return accepted(outcome)
        return Response({"levels": ladder_levels(facility)})
