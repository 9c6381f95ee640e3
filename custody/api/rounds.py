"""Rounds API (docs/api.md "Rounds"): location tags, round check batches and
the tablet's list of what is due. Thin: scope, resolve, call the services."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from config.schema import ErrorSerializer
from custody import selectors
from custody.api.batches import EntryBatchResultSerializer, batch_answer
from custody.models import (
    Location,
    LocationKind,
    LocationTag,
    ObservationState,
    TagKind,
    WatchLevel,
)
from custody.permissions import IsStaffUser
from custody.roles import ADMIN_ROLES, CUSTODIAL_ROLES, TAG_READER_ROLES
from custody.selectors.rounds import DUE_BUCKETS_MINUTES, due_within_minutes, rounds_due
from custody.services import round_tags
from custody.services.rounds import MAX_OBSERVATIONS, MAX_ROUND_BATCH, RoundReason, rounds_ingest
from custody.tablet_credential import tablet_from_request

# --- Tags ---------------------------------------------------------------------------


class LocationTagSerializer(serializers.ModelSerializer):
    location = serializers.CharField(source="location.code", read_only=True)
    registered_by = serializers.CharField(source="registered_by.username", read_only=True)
    retired_by = serializers.CharField(
        source="retired_by.username", read_only=True, allow_null=True
    )
    is_active = serializers.BooleanField(read_only=True)

    class Meta:
        model = LocationTag
        fields = [
            "uid",
            "kind",
            "label",
            "location",
            "is_active",
            "registered_at",
            "registered_by",
            "retired_at",
            "retired_by",
            "retire_reason",
        ]
        read_only_fields = fields


class TagRegisterSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=TagKind.choices)
    uid = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=round_tags.UID_MAX,
        help_text=gettext_lazy(
            "As read off the tag (separators are dropped, letters upper-cased). "
            "Leave out for a printed QR code: the server draws a random one."
        ),
    )
    label = serializers.CharField(required=False, allow_blank=True, max_length=100)


class TagRetireSerializer(serializers.Serializer):
    reason = serializers.CharField(min_length=5, max_length=2000)


def _location_of(request, pk) -> Location:
    return get_object_or_404(selectors.location_list(user=request.user), pk=pk)


def _django_errors(exc: DjangoValidationError) -> ValidationError:
    return ValidationError(exc.message_dict if hasattr(exc, "message_dict") else exc.messages)


class LocationTagViewSet(viewsets.ViewSet):
    """``/api/v1/locations/{id}/tags/``: list, register, retire."""

    permission_classes = [IsStaffUser]
    read_roles = TAG_READER_ROLES
    write_roles = ADMIN_ROLES

    @extend_schema(responses={200: LocationTagSerializer(many=True), 404: ErrorSerializer})
    def list(self, request, location_pk=None):
        """The place's tags and those of the places under it (a unit's cells,
        for its printed sheet), retired ones too, oldest first."""
        location = _location_of(request, location_pk)
        zone = [location.pk, *location.children.values_list("pk", flat=True)]
        tags = (
            LocationTag.objects.filter(location_id__in=zone)
            .select_related("location", "registered_by", "retired_by")
            .order_by("location__code", "registered_at", "id")
        )
        return Response(LocationTagSerializer(tags, many=True).data)

    @extend_schema(
        request=TagRegisterSerializer,
        responses={201: LocationTagSerializer, 400: ErrorSerializer, 404: ErrorSerializer},
    )
    def create(self, request, location_pk=None):
        """Register a tag at this place (administrators). A uid once
        registered in the facility, retired or not, is refused."""
        location = _location_of(request, location_pk)
        body = TagRegisterSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            tag = round_tags.tag_register(location=location, by=request.user, **body.validated_data)
        except DjangoValidationError as exc:
            raise _django_errors(exc) from None
        return Response(LocationTagSerializer(tag).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=TagRetireSerializer,
        responses={200: LocationTagSerializer, 400: ErrorSerializer, 404: ErrorSerializer},
    )
    def retire(self, request, location_pk=None, uid=None):
        """Retire a tag for good: its scans are refused from now on."""
        location = _location_of(request, location_pk)
        tag = get_object_or_404(
            LocationTag.objects.select_related("location__facility"),
            location=location,
            uid=round_tags.normalise_uid(uid) or "-",
        )
        body = TagRetireSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            tag = round_tags.tag_retire(tag=tag, by=request.user, **body.validated_data)
        except DjangoValidationError as exc:
            raise _django_errors(exc) from None
        return Response(LocationTagSerializer(tag).data)


# --- Round checks ------------------------------------------------------------------------

ROUND_REASONS = [value for name, value in vars(RoundReason).items() if not name.startswith("_")]

ROUND_BATCH_SCHEMA = {
    "type": "array",
    "maxItems": MAX_ROUND_BATCH,
    "items": {
        "type": "object",
        "required": ["id", "tag", "scanned_at"],
        "properties": {
            "id": {
                "type": "string",
                "format": "uuid",
                "description": "Made by the tablet: the idempotency key.",
            },
            "tag": {
                "type": "string",
                "description": "The uid the tablet read off the place's tag (RFID, NFC or QR).",
            },
            "scanned_at": {
                "type": "string",
                "format": "date-time",
                "description": "With its offset; at most 2 minutes ahead, 72 hours back.",
            },
            "observations": {
                "type": "array",
                "maxItems": MAX_OBSERVATIONS,
                "items": {
                    "type": "object",
                    "required": ["inmate", "state"],
                    "properties": {
                        "inmate": {"type": "string", "description": "Booking number."},
                        "state": {"type": "string", "enum": ObservationState.values},
                    },
                },
            },
        },
    },
}


class RoundBatchResultSerializer(EntryBatchResultSerializer):
    """One answer per item, in order; ``reason`` is one of the refusal codes."""


class DuePersonSerializer(serializers.Serializer):
    inmate = serializers.CharField(source="booking_number")
    name = serializers.SerializerMethodField()
    watch_level = serializers.CharField(
        help_text=gettext_lazy("The person's own level; empty: the cell's.")
    )

    def get_name(self, row) -> str:
        return f"{row['first_name']} {row['last_name']}"


class DueCellSerializer(serializers.Serializer):
    location = serializers.CharField(source="code")
    name = serializers.CharField()
    watch_level = serializers.ChoiceField(choices=WatchLevel.choices)
    strictest_level = serializers.ChoiceField(
        choices=WatchLevel.choices,
        help_text=gettext_lazy("The cell's level or a stricter one of a person in it."),
    )
    checkable = serializers.BooleanField(
        source="tagged", help_text=gettext_lazy("The cell has an active tag to scan.")
    )
    due_within_minutes = serializers.IntegerField(
        allow_null=True,
        help_text=gettext_lazy(
            "0 (now), 5, 15, 30, 60, or whole hours beyond; null: not under the rounds "
            "watch yet (no tag). Never the exact time."
        ),
    )
    overdue = serializers.BooleanField(
        help_text=gettext_lazy("Past the level's longest wait: missed_round is near or open.")
    )
    people = DuePersonSerializer(many=True)


class RoundsDueSerializer(serializers.Serializer):
    facility = serializers.CharField()
    unit = serializers.CharField(allow_null=True)
    buckets = serializers.ListField(child=serializers.IntegerField())
    cells = DueCellSerializer(many=True)


_RANK = {WatchLevel.STANDARD: 0, WatchLevel.SPECIAL: 1, WatchLevel.CLOSE: 2}


def _strictest(row) -> str:
    levels = [row["watch_level"], *(p["watch_level"] for p in row["people"] if p["watch_level"])]
    return max(levels, key=lambda lvl: _RANK.get(lvl, 0))


class RoundViewSet(viewsets.ViewSet):
    """``POST /api/v1/rounds/`` and ``GET /api/v1/rounds/due/``."""

    permission_classes = [IsStaffUser]
    read_roles = CUSTODIAL_ROLES
    write_roles = CUSTODIAL_ROLES

    @extend_schema(
        request={"application/json": ROUND_BATCH_SCHEMA},
        responses={
            200: OpenApiResponse(
                RoundBatchResultSerializer,
                description="Per item: accepted, duplicate or rejected; a rejected item's "
                "`reason` is one of: " + ", ".join(f"`{r}`" for r in ROUND_REASONS) + ".",
            ),
            400: ErrorSerializer,
        },
    )
    def create(self, request):
        """Round checks (a list of up to 200), made on an enrolled tablet of
        the facility (its cookie) by the signed-in officer; idempotent by
        ``id``; each item answered in order; refused items quarantined."""
        body = request.data
        if isinstance(body, dict):
            body = [body]
        if not isinstance(body, list):
            raise ValidationError({"non_field_errors": [_("Send a JSON object or a list.")]})
        if len(body) > MAX_ROUND_BATCH:
            raise ValidationError(
                {
                    "non_field_errors": [
                        _("At most %(max)s round checks per request; nothing was stored.")
                        % {"max": MAX_ROUND_BATCH}
                    ]
                }
            )
        items = rounds_ingest(
            raw_items=body, officer=request.user, device=tablet_from_request(request)
        )
        return Response(batch_answer(items))

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "facility", str, description="Facility code; needed if you work in several."
            ),
            OpenApiParameter("unit", str, description="Unit code; every cell when left out."),
        ],
        responses={200: RoundsDueSerializer, 400: ErrorSerializer, 404: ErrorSerializer},
    )
    def due(self, request):
        """The cells to check, most urgent first, each "due within N minutes"
        (never the time: rounds must stay unpredictable), with its people."""
        facility = _facility_param(request)
        unit = None
        code = request.query_params.get("unit")
        if code:
            unit = get_object_or_404(Location, facility=facility, code=code, kind=LocationKind.UNIT)
        now = timezone.now()
        rows = rounds_due(facility=facility, unit=unit, now=now)
        for row in rows:
            row["due_within_minutes"] = due_within_minutes(row["due_at"], now=now)
            row["strictest_level"] = _strictest(row)
        body = {
            "facility": facility.code,
            "unit": unit.code if unit else None,
            "buckets": [0, *DUE_BUCKETS_MINUTES],
            "cells": rows,
        }
        return Response(RoundsDueSerializer(body).data)


def _facility_param(request):
    facilities = selectors.facilities_visible_to(request.user)
    code = request.query_params.get("facility")
    if code:
        return get_object_or_404(facilities, code=code)
    first_two = list(facilities[:2])
    if len(first_two) != 1:
        raise ValidationError({"facility": [_("Name the facility.")]})
    return first_two[0]
