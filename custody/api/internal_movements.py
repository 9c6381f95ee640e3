"""Internal movements API (docs/api.md "Internal movements"): send one
person inside the walls, start and end unit sessions, list what is unpaired.
Thin: scope, resolve natural keys, call
``custody.services.internal_movements``."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from config.schema import ErrorSerializer
from custody import selectors
from custody.api.movements import InmateInScopeField, MovementSerializer
from custody.models import LocationKind, Movement, MovementSession
from custody.roles import CUSTODIAL_ROLES
from custody.serializers import (
    FacilityTimeField,
    VisibleFacilityField,
    natural_key,
    resolve_location,
)
from custody.services.internal_movements import (
    MAX_EXCLUDED,
    internal_send,
    session_end,
    session_start,
)

_BAD = OpenApiResponse(ErrorSerializer, description=_("Invalid input; the fields are named."))
_FORBIDDEN = OpenApiResponse(
    ErrorSerializer, description=_("Your role or facility may not do this.")
)
_CONFLICT = OpenApiResponse(
    ErrorSerializer,
    description=_(
        "The person already has an open movement, the session already ended, or a unit "
        "it touches is frozen before its formal count (the count is named in ``count``)."
    ),
)
_DESTINATION_HELP = _(
    "Code of a place inside the facility: a yard, workshop, infirmary, visit or interview room."
)


@extend_schema_field(OpenApiTypes.STR)
class _BookingNumber(InmateInScopeField):
    """A booking number among the caller's facilities (typed for the schema)."""


class InternalSendSerializer(serializers.Serializer):
    inmate = _BookingNumber(help_text=_("Booking number of the person sent."))
    to_location = serializers.CharField(max_length=32, help_text=_DESTINATION_HELP)
    expected_back_at = FacilityTimeField(
        help_text=_(
            "When the person is due back in their cell: at most the facility's "
            "internal_movement_max_seconds from now."
        )
    )
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000)

    def validate(self, attrs):
        attrs["to_location"] = resolve_location(
            facility=attrs["inmate"].facility, code=attrs["to_location"], field="to_location"
        )
        return attrs


class InternalMovementViewSet(viewsets.GenericViewSet):
    """Send one person from their cell to a place inside the walls; the
    movement completes when they are next observed back in their cell."""

    serializer_class = MovementSerializer
    write_roles = CUSTODIAL_ROLES
    http_method_names = ["post", "options"]

    def get_queryset(self):
        return selectors.movement_list(user=self.request.user)

    @extend_schema(
        request=InternalSendSerializer,
        responses={201: MovementSerializer, 400: _BAD, 403: _FORBIDDEN, 409: _CONFLICT},
    )
    def create(self, request):
        """Send a person (departed at once, one officer: not a departure from custody)."""
        serializer = InternalSendSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        movement = internal_send(by=request.user, **serializer.validated_data)
        shown = self.get_queryset().get(pk=movement.pk)
        return Response(self.get_serializer(shown).data, status=status.HTTP_201_CREATED)


# --- Sessions ------------------------------------------------------------------


class SessionSerializer(serializers.ModelSerializer):
    facility = natural_key("code")
    unit = natural_key("code")
    to_location = natural_key("code")
    started_by = natural_key("username")
    started_at = FacilityTimeField(read_only=True)
    ends_at = FacilityTimeField(read_only=True)
    ended_by = natural_key("username", allow_null=True)
    ended_at = FacilityTimeField(read_only=True, allow_null=True)
    excluded = serializers.ListField(child=serializers.CharField(), read_only=True)
    out = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        source="out_bookings",
        help_text=_("Booking numbers still out (not yet seen back in their cell)."),
    )
    returned = serializers.IntegerField(
        read_only=True, source="returned_count", help_text=_("How many were seen back.")
    )

    class Meta:
        model = MovementSession
        fields = [
            "id",
            "facility",
            "unit",
            "to_location",
            "started_by",
            "started_at",
            "ends_at",
            "ended_by",
            "ended_at",
            "excluded",
            "out",
            "returned",
        ]
        read_only_fields = fields


class SessionStartSerializer(serializers.Serializer):
    facility = VisibleFacilityField(help_text=_("Facility code."))
    unit = serializers.CharField(max_length=32, help_text=_("Code of the unit sent."))
    to_location = serializers.CharField(max_length=32, help_text=_DESTINATION_HELP)
    ends_at = FacilityTimeField(
        help_text=_(
            "When the session ends and everyone is due back: at most the facility's "
            "internal_movement_max_seconds from now."
        )
    )
    excluded = serializers.ListField(
        child=serializers.CharField(max_length=32),
        required=False,
        default=list,
        max_length=MAX_EXCLUDED,
        help_text=_("Booking numbers that stay in their cells."),
    )
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000)

    def validate(self, attrs):
        facility = attrs["facility"]
        attrs["unit"] = resolve_location(
            facility=facility, code=attrs["unit"], field="unit", kind=LocationKind.UNIT
        )
        attrs["to_location"] = resolve_location(
            facility=facility, code=attrs["to_location"], field="to_location"
        )
        return attrs


class SessionStartedSerializer(serializers.Serializer):
    session = SessionSerializer()
    sent = serializers.ListField(child=serializers.CharField(), help_text=_("Booking numbers."))
    skipped = serializers.DictField(
        child=serializers.CharField(),
        help_text=_("Booking number: why they were not sent (already on a movement)."),
    )


_OPEN = OpenApiParameter(
    "open", bool, description=_("true: only sessions not ended; false: only ended ones.")
)


class SessionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Unit-level sessions ("yard, B block, 10:00-11:00"): one internal
    movement per person of the unit, started and ended together. Never
    edited or deleted."""

    serializer_class = SessionSerializer
    write_roles = CUSTODIAL_ROLES
    http_method_names = ["get", "post", "head", "options"]

    def get_queryset(self):
        return selectors.movement_session_list(user=self.request.user)

    def filter_queryset(self, queryset):
        facility = self.request.query_params.get("facility")
        if facility:
            queryset = queryset.filter(facility__code=facility)
        flag = self.request.query_params.get("open")
        if flag in ("true", "false"):
            queryset = queryset.filter(ended_at__isnull=flag == "true")
        elif flag is not None:
            raise serializers.ValidationError({"open": [_("Use true or false.")]})
        return queryset

    @extend_schema(
        parameters=[
            OpenApiParameter("facility", str, description=_("Facility code.")),
            _OPEN,
        ]
    )
    def list(self, request, *args, **kwargs):
        """Sessions of your facilities, newest first."""
        return super().list(request, *args, **kwargs)

    @extend_schema(
        request=SessionStartSerializer,
        responses={201: SessionStartedSerializer, 400: _BAD, 403: _FORBIDDEN, 409: _CONFLICT},
    )
    def create(self, request):
        """Start a session: everyone in custody in the unit (but the excluded)
        goes to the place until ``ends_at``."""
        serializer = SessionStartSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        started = session_start(by=request.user, **serializer.validated_data)
        bookings = dict(
            Movement.objects.filter(session=started.session).values_list(
                "id", "inmate__booking_number"
            )
        )
        body = {
            "session": self.get_serializer(self.get_queryset().get(pk=started.session.pk)).data,
            "sent": sorted(bookings.values()),
            "skipped": started.skipped,
        }
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=None, responses={200: SessionSerializer, 403: _FORBIDDEN, 409: _CONFLICT}
    )
    @action(detail=True, methods=["post"])
    def end(self, request, pk=None):
        """End the session early: everyone still out is due back now (each
        return still needs an observation in the cell)."""
        session = session_end(session=self.get_object(), by=request.user)
        return Response(self.get_serializer(self.get_queryset().get(pk=session.pk)).data)
