"""Verifying a count is recounting a sample of it (docs/api.md "Roll calls").
Thin: the roll-call viewset takes these actions; ``custody.services.recounts``
draws, records and decides."""

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from config.schema import ErrorSerializer
from custody.api.batches import (
    EntryBatchResultSerializer,
    batch_answer,
    batch_body,
    marks_schema,
)
from custody.models import CheckInMethod, CountVerification, RecountStatus
from custody.serializers import in_zone_isoformat
from custody.services import recounts
from custody.tablet_credential import tablet_from_request


class SampledPersonSerializer(serializers.Serializer):
    inmate = serializers.CharField(help_text=gettext_lazy("Booking number."))
    name = serializers.CharField()
    cell = serializers.CharField()
    reason = serializers.ChoiceField(
        choices=["random", "persons_word"],
        help_text=gettext_lazy(
            "Why drawn: at random, or always, because the count's mark was a person's word "
            "(visual or manual)."
        ),
    )
    mark = serializers.ChoiceField(
        choices=RecountStatus.choices,
        allow_null=True,
        help_text=gettext_lazy("The verifier's latest recount mark, if any."),
    )


class MissingPersonSerializer(serializers.Serializer):
    inmate = serializers.CharField()
    name = serializers.CharField()
    cell = serializers.CharField()
    marked = serializers.CharField()


class RecountSerializer(serializers.Serializer):
    rollcall = serializers.UUIDField()
    verifier = serializers.CharField(help_text=gettext_lazy("Username of the second officer."))
    drawn_at = serializers.CharField(help_text=gettext_lazy("When the server drew the sample."))
    finished_at = serializers.CharField(allow_null=True)
    percent = serializers.IntegerField(help_text=gettext_lazy("The facility's sample share."))
    sample = SampledPersonSerializer(many=True)
    missing = MissingPersonSerializer(
        many=True, help_text=gettext_lazy("Once finished: the sampled people not found present.")
    )


RECOUNT_MARKS_SCHEMA = marks_schema(
    statuses=RecountStatus.values,
    methods=[CheckInMethod.VISUAL, CheckInMethod.MANUAL, CheckInMethod.RFID],
    inmate="Booking number of a sampled person.",
)

_CONFLICT = OpenApiResponse(
    ErrorSerializer,
    description=gettext_lazy(
        "The count is not submitted, another officer is verifying it, or the recount is "
        "finished or has people left to mark."
    ),
)
_NOT_STARTED = OpenApiResponse(ErrorSerializer, description=gettext_lazy("No recount started."))


def recount_shown(verification: CountVerification) -> dict:
    tz = verification.facility.tzinfo
    marks = recounts.recount_marks(verification)
    return {
        "rollcall": str(verification.rollcall_id),
        "verifier": verification.verifier.username,
        "drawn_at": in_zone_isoformat(verification.drawn_at, tz),
        "finished_at": (
            in_zone_isoformat(verification.finished_at, tz) if verification.finished_at else None
        ),
        "percent": verification.facility.recount_sample_percent,
        "sample": [
            {
                "inmate": row["inmate"],
                "name": row["name"],
                "cell": row["cell"],
                "reason": row["reason"],
                "mark": marks.get(row["inmate_id"]),
            }
            for row in verification.sample
        ],
        "missing": verification.missing,
    }


class RecountActions:
    """Actions of ``RollCallViewSet`` for the second officer's recount."""

    @extend_schema(
        methods=["POST"],
        request=None,
        responses={200: RecountSerializer, 409: _CONFLICT},
        description=gettext_lazy(
            "Start verifying a submitted count: the server draws who you must recount "
            "(answered again, unchanged, if you already started). Never one who took part."
        ),
    )
    @extend_schema(
        methods=["GET"],
        responses={200: RecountSerializer, 404: _NOT_STARTED},
        description=gettext_lazy("The recount of this count: its sample and marks."),
    )
    @action(detail=True, methods=["get", "post"])
    def recount(self, request, pk=None):
        rollcall = self.get_object()
        if request.method == "POST":
            verification = recounts.recount_start(rollcall=rollcall, by=request.user)
        else:
            verification = (
                CountVerification.objects.select_related("facility", "verifier")
                .filter(rollcall=rollcall)
                .first()
            )
            if verification is None:
                raise NotFound(_("Nobody has started verifying this count."))
        return Response(recount_shown(verification))

    @extend_schema(
        request={"application/json": RECOUNT_MARKS_SCHEMA},
        responses={200: EntryBatchResultSerializer, 409: _CONFLICT},
        description=gettext_lazy(
            "The verifier marks sampled people present or absent (a list of up to 1,000); "
            "idempotent by id, each item answered in order."
        ),
    )
    @action(detail=True, methods=["post"], url_path="recount/entries")
    def recount_entries(self, request, pk=None):
        results = recounts.recount_record_marks(
            rollcall=self.get_object(),
            raw_marks=batch_body(request),
            by=request.user,
            device=tablet_from_request(request),
        )
        return Response(batch_answer(results))
