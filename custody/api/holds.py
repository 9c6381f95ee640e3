"""Legal holds (docs/api.md "Legal holds"): list, place, ask to lift, approve.

Thin: ``custody.services.holds`` holds the rules (two officers to lift, the
ledger events); this scopes, validates and answers. Auditors read; only
supervisors and administrators of the facility write.
"""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from config.schema import ErrorSerializer
from custody import selectors
from custody.models import LegalHold
from custody.roles import OVERSIGHT_ROLES, SUPERVISING_ROLES
from custody.selectors.holds import hold_list, hold_status
from custody.serializers import FacilityTimeField, natural_key
from custody.services.changes import MIN_REASON_LENGTH
from custody.services.holds import (
    MAX_REASON_LENGTH,
    hold_lift_approve,
    hold_lift_request,
    hold_place,
)


class HoldSerializer(serializers.ModelSerializer):
    facility = natural_key("code")
    inmate = natural_key("booking_number", allow_null=True)
    location = serializers.CharField(source="location.code", read_only=True, allow_null=True)
    status = serializers.SerializerMethodField(
        help_text=_('"active", "lift_requested" (still holds) or "lifted".')
    )
    period_start = FacilityTimeField(read_only=True)
    period_end = FacilityTimeField(read_only=True, allow_null=True)
    placed_by = natural_key("username")
    placed_at = FacilityTimeField(read_only=True)
    lift_requested_by = natural_key("username", allow_null=True)
    lift_requested_at = FacilityTimeField(read_only=True, allow_null=True)
    lifted_by = natural_key("username", allow_null=True)
    lifted_at = FacilityTimeField(read_only=True, allow_null=True)

    class Meta:
        model = LegalHold
        fields = [
            "id",
            "facility",
            "inmate",
            "location",
            "period_start",
            "period_end",
            "reason",
            "status",
            "placed_by",
            "placed_at",
            "lift_reason",
            "lift_requested_by",
            "lift_requested_at",
            "lifted_by",
            "lifted_at",
        ]
        read_only_fields = fields

    def get_status(self, hold) -> str:
        return hold_status(hold)


class HoldPlaceSerializer(serializers.Serializer):
    facility = serializers.CharField(max_length=32, help_text=_("Facility code."))
    inmate = serializers.CharField(
        max_length=32, required=False, allow_null=True, help_text=_("Booking number (optional).")
    )
    location = serializers.CharField(
        max_length=32,
        required=False,
        allow_null=True,
        help_text=_("Code of a place in the facility (optional)."),
    )
    period_start = FacilityTimeField(help_text=_("Start of the period held (RFC 3339)."))
    period_end = FacilityTimeField(
        required=False, allow_null=True, help_text=_("End of the period held; none: until lifted.")
    )
    reason = serializers.CharField(min_length=MIN_REASON_LENGTH, max_length=MAX_REASON_LENGTH)

    def validate(self, attrs):
        user = self.context["request"].user
        facility = selectors.facilities_visible_to(user).filter(code=attrs["facility"]).first()
        if facility is None:
            raise serializers.ValidationError({"facility": _("No such facility of yours.")})
        attrs["facility"] = facility
        if attrs.get("inmate"):
            inmate = selectors.inmate_list(user=user).filter(booking_number=attrs["inmate"]).first()
            if inmate is None:
                raise serializers.ValidationError({"inmate": _("No such person in your scope.")})
            attrs["inmate"] = inmate
        else:
            attrs["inmate"] = None
        if attrs.get("location"):
            location = facility.locations.filter(code=attrs["location"]).first()
            if location is None:
                raise serializers.ValidationError(
                    {"location": _("No place with this code in the facility.")}
                )
            attrs["location"] = location
        else:
            attrs["location"] = None
        return attrs


class LiftRequestSerializer(serializers.Serializer):
    reason = serializers.CharField(
        min_length=MIN_REASON_LENGTH,
        max_length=MAX_REASON_LENGTH,
        help_text=_("Why the hold may be lifted (the case closed, the court's order...)."),
    )


_BAD = OpenApiResponse(ErrorSerializer, description=_("Invalid input; nothing was stored."))
_FORBIDDEN = OpenApiResponse(
    ErrorSerializer,
    description=_(
        "Your role or facility may not do this, or you asked for this lifting yourself, or "
        "that officer created or reset your account in the last 30 days."
    ),
)
_CONFLICT = OpenApiResponse(
    ErrorSerializer,
    description=_("Already lifted, already asked for, or nobody asked to lift it yet."),
)


class HoldViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Legal holds: while active, archiving refuses every month they touch.
    Never edited or deleted; lifting takes two officers."""

    serializer_class = HoldSerializer
    read_roles = OVERSIGHT_ROLES
    write_roles = SUPERVISING_ROLES
    http_method_names = ["get", "post", "head", "options"]
    ordering_fields = ["placed_at", "period_start"]

    def get_queryset(self):
        return hold_list(user=self.request.user).order_by("-placed_at", "-id")

    def _shown(self, hold) -> dict:
        return HoldSerializer(self.get_queryset().get(pk=hold.pk)).data

    @extend_schema(request=HoldPlaceSerializer, responses={201: HoldSerializer, 400: _BAD})
    def create(self, request, *args, **kwargs):
        """Place a hold (supervisors and administrators of the facility)."""
        serializer = HoldPlaceSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        hold = hold_place(by=request.user, **serializer.validated_data)
        return Response(self._shown(hold), status=status.HTTP_201_CREATED)

    @extend_schema(
        request=LiftRequestSerializer,
        responses={200: HoldSerializer, 400: _BAD, 403: _FORBIDDEN, 409: _CONFLICT},
    )
    @action(detail=True, methods=["post"], url_path="lift-request")
    def lift_request(self, request, pk=None):
        """Ask for the hold to be lifted; it holds until another officer approves."""
        serializer = LiftRequestSerializer(data=request.data or {})
        serializer.is_valid(raise_exception=True)
        hold = hold_lift_request(
            hold=self.get_object(), by=request.user, reason=serializer.validated_data["reason"]
        )
        return Response(self._shown(hold))

    @extend_schema(request=None, responses={200: HoldSerializer, 403: _FORBIDDEN, 409: _CONFLICT})
    @action(detail=True, methods=["post"], url_path="lift-approve")
    def lift_approve(self, request, pk=None):
        """Lift the hold: a second officer, not the one who asked."""
        hold = hold_lift_approve(hold=self.get_object(), by=request.user)
        return Response(self._shown(hold))
