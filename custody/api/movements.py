"""Movements API (docs/api.md "Movements") and the cell history. Thin: scope,
resolve natural keys, call ``custody.services.movements``."""

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from config.schema import ErrorSerializer
from custody import selectors, services
from custody.api.facility_param import one_facility
from custody.filters import CellAssignmentFilter, MovementFilter
from custody.models import (
    PLACEMENT_KINDS,
    CellAssignment,
    Movement,
    MovementExtension,
    MovementKind,
)
from custody.roles import SUPERVISING_ROLES
from custody.serializers import FacilityTimeField, LocationCodeField, natural_key, resolve_location
from custody.services.movements import OUT_KINDS

# A facility's whole population fits; the report is never paged.
UNPAIRED_LIMIT = 5000

# --- Serializers ---------------------------------------------------------------


class ExtensionSerializer(serializers.ModelSerializer):
    """A later return asked for a departed outing; applied once approved."""

    movement = serializers.IntegerField(source="movement_id", read_only=True)
    previous_expected_back_at = FacilityTimeField(read_only=True)
    expected_back_at = FacilityTimeField(read_only=True)
    requested_by = natural_key("username")
    requested_at = FacilityTimeField(read_only=True)
    decided_by = natural_key("username", allow_null=True)
    decided_at = FacilityTimeField(read_only=True, allow_null=True)

    class Meta:
        model = MovementExtension
        fields = [
            "id",
            "movement",
            "status",
            "previous_expected_back_at",
            "expected_back_at",
            "reason",
            "requested_by",
            "requested_at",
            "decided_by",
            "decided_at",
            "decision_reason",
        ]
        read_only_fields = fields


class MovementSerializer(serializers.ModelSerializer):
    """A movement as the API shows it: natural keys, times in the origin
    facility's zone."""

    inmate = natural_key("booking_number")
    facility = natural_key("code", help_text=_("Where the movement starts."))
    to_facility = natural_key("code", allow_null=True)
    from_location = LocationCodeField(read_only=True)
    to_location = LocationCodeField(read_only=True)
    expected_back_at = FacilityTimeField(read_only=True, allow_null=True)
    expected_arrival_at = FacilityTimeField(read_only=True, allow_null=True)
    requested_by = natural_key("username", allow_null=True)
    requested_at = FacilityTimeField(read_only=True)
    approved_by = natural_key("username", allow_null=True)
    approved_at = FacilityTimeField(read_only=True, allow_null=True)
    departed_by = natural_key("username", allow_null=True)
    departed_at = FacilityTimeField(read_only=True, allow_null=True)
    completed_by = natural_key("username", allow_null=True)
    completed_at = FacilityTimeField(read_only=True, allow_null=True)
    cancelled_by = natural_key("username", allow_null=True)
    cancelled_at = FacilityTimeField(read_only=True, allow_null=True)
    extensions = ExtensionSerializer(many=True, read_only=True)

    class Meta:
        model = Movement
        fields = [
            "id",
            "inmate",
            "kind",
            "status",
            "facility",
            "from_location",
            "to_location",
            "to_facility",
            "destination",
            "reason",
            "expected_back_at",
            "expected_arrival_at",
            "requested_by",
            "requested_at",
            "approved_by",
            "approved_at",
            "departed_by",
            "departed_at",
            "completed_by",
            "completed_at",
            "cancelled_by",
            "cancelled_at",
            "cancel_reason",
            "emergency",
            "emergency_reason",
            "extensions",
        ]
        read_only_fields = fields


class InmateInScopeField(serializers.SlugRelatedField):
    def __init__(self, **kwargs):
        super().__init__(slug_field="booking_number", **kwargs)

    def get_queryset(self):
        return selectors.inmate_list(user=self.context["request"].user)


class MovementRequestSerializer(serializers.ModelSerializer):
    inmate = InmateInScopeField(help_text=_("Booking number of the person to move."))
    kind = serializers.ChoiceField(choices=MovementKind.choices)
    to_location = LocationCodeField(
        help_text=_(
            "Cell code: the new cell (cell_move, admission, return), or for a transfer "
            "optionally the cell in the destination facility; for court, medical or "
            "temporary release optionally a place inside the facility (the infirmary)."
        )
    )
    # A code, looked up by the service after every other check (see
    # movement_request): a refused request never tells whether it exists.
    to_facility = serializers.CharField(
        required=False,
        allow_null=True,
        max_length=32,
        help_text=_("Destination facility code (transfer)."),
    )
    expected_back_at = serializers.DateTimeField(
        required=False,
        allow_null=True,
        help_text=_("When the person is due back (court, medical, temporary release)."),
    )
    expected_arrival_at = serializers.DateTimeField(
        required=False,
        allow_null=True,
        help_text=_("When the person is due at the destination (transfer)."),
    )
    emergency = serializers.BooleanField(
        required=False,
        default=False,
        help_text=_(
            "Medical only: the person may leave before a second officer approves; one "
            "must approve within 30 minutes or a critical alert opens."
        ),
    )
    emergency_reason = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=2000,
        help_text=_("What the emergency is (required with emergency)."),
    )

    class Meta:
        model = Movement
        fields = [
            "inmate",
            "kind",
            "to_location",
            "to_facility",
            "destination",
            "reason",
            "expected_back_at",
            "expected_arrival_at",
            "emergency",
            "emergency_reason",
        ]

    def validate(self, attrs):
        attrs = super().validate(attrs)
        if attrs["kind"] == MovementKind.TRANSFER:
            # The cell is in the destination: both stay codes for the service.
            attrs["to_location"] = attrs.get("to_location")
            return attrs
        # Outings may name any place inside the walls (the infirmary); the rest, a cell.
        outing = attrs["kind"] in OUT_KINDS
        attrs["to_location"] = resolve_location(
            facility=attrs["inmate"].facility,
            code=attrs.get("to_location"),
            field="to_location",
            kind=None if outing else PLACEMENT_KINDS,
        )
        return attrs


class ArriveSerializer(serializers.Serializer):
    cell = serializers.CharField(
        required=False,
        allow_null=True,
        max_length=32,
        help_text=_(
            "Cell code where the person arrives. Transfers: a cell of the destination "
            "(default: the cell named at request). Others go to their approved cell."
        ),
    )

    def validate(self, attrs):
        movement = self.context["movement"]
        kind = movement.kind
        facility = movement.to_facility if kind == MovementKind.TRANSFER else movement.facility
        attrs["cell"] = resolve_location(
            facility=facility, code=attrs.get("cell"), field="cell", kind=PLACEMENT_KINDS
        )
        return attrs


class CancelSerializer(serializers.Serializer):
    reason = serializers.CharField(
        required=False, allow_blank=True, max_length=2000, help_text=_("Why it is cancelled.")
    )


class ExtendSerializer(serializers.Serializer):
    # Bounded to the years the rest of the record takes (FacilityTimeField).
    expected_back_at = FacilityTimeField(
        help_text=_(
            "The later return asked; at most the facility's max_absence_seconds for the "
            "kind from now."
        )
    )
    reason = serializers.CharField(max_length=2000, help_text=_("Why the return is later."))


class RejectExtensionSerializer(serializers.Serializer):
    reason = serializers.CharField(
        required=False, allow_blank=True, max_length=2000, help_text=_("Why it is turned down.")
    )


class UnpairedSerializer(serializers.ModelSerializer):
    inmate = natural_key("booking_number")
    facility = natural_key("code")
    from_location = natural_key("code")
    to_location = natural_key("code")
    departed_by = natural_key("username")
    departed_at = FacilityTimeField(read_only=True)
    expected_back_at = FacilityTimeField(read_only=True)
    session = serializers.IntegerField(source="session_id", read_only=True, allow_null=True)
    overdue = serializers.BooleanField(
        read_only=True, help_text=_("The expected return has passed.")
    )

    class Meta:
        model = Movement
        fields = [
            "id",
            "inmate",
            "facility",
            "from_location",
            "to_location",
            "departed_by",
            "departed_at",
            "expected_back_at",
            "session",
            "overdue",
        ]
        read_only_fields = fields


class CellAssignmentSerializer(serializers.ModelSerializer):
    inmate = natural_key("booking_number")
    cell = natural_key("code")
    facility = serializers.CharField(source="cell.facility.code", read_only=True)
    started_at = FacilityTimeField(read_only=True)
    ended_at = FacilityTimeField(read_only=True, allow_null=True)

    class Meta:
        model = CellAssignment
        fields = ["id", "inmate", "facility", "cell", "started_at", "ended_at"]
        read_only_fields = fields


# --- Views -------------------------------------------------------------------

_EXTENSION_ID = OpenApiParameter(
    "extension_id", int, OpenApiParameter.PATH, description=_("The extension's id.")
)
_NOT_FOUND = OpenApiResponse(ErrorSerializer, description=_("No such movement or extension."))
_CONFLICT = OpenApiResponse(
    ErrorSerializer, description=_("Not possible from the movement's current status.")
)
_FORBIDDEN = OpenApiResponse(
    ErrorSerializer,
    description=_(
        "Your role or facility may not do this, or you requested this departure "
        "yourself (a second officer must approve it)."
    ),
)
_BAD = OpenApiResponse(ErrorSerializer, description=_("Invalid input; the fields are named."))
_FROZEN = OpenApiResponse(
    ErrorSerializer,
    description=_(
        "Not possible from the movement's current status, or a unit it touches is "
        "frozen before its formal count (the count is named in ``count``)."
    ),
)


class MovementViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Request, approve, depart, arrive, cancel. Never edited or deleted: each
    step is its own action and its own ledger event."""

    serializer_class = MovementSerializer
    filterset_class = MovementFilter
    write_roles = SUPERVISING_ROLES
    http_method_names = ["get", "post", "head", "options"]
    ordering_fields = ["requested_at", "kind", "status"]
    search_fields = ["inmate__booking_number", "destination"]

    def get_queryset(self):
        return selectors.movement_list(user=self.request.user)

    @extend_schema(
        request=MovementRequestSerializer,
        responses={201: MovementSerializer, 400: _BAD, 409: _CONFLICT},
    )
    def create(self, request, *args, **kwargs):
        """Request a movement; the person may have only one open movement at a time."""
        serializer = MovementRequestSerializer(
            data=request.data, context=self.get_serializer_context()
        )
        serializer.is_valid(raise_exception=True)
        movement = services.movement_request(by=request.user, **serializer.validated_data)
        return Response(self._shown(movement), status=status.HTTP_201_CREATED)

    @extend_schema(
        request=None, responses={200: MovementSerializer, 403: _FORBIDDEN, 409: _CONFLICT}
    )
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        """Approve a requested movement (a second officer for every departure), or an
        emergency medical departure after the person left."""
        movement = services.movement_approve(movement=self.get_object(), by=request.user)
        return Response(self._shown(movement))

    @extend_schema(request=None, responses={200: MovementSerializer, 409: _FROZEN})
    @action(detail=True, methods=["post"])
    def depart(self, request, pk=None):
        """The person leaves (court, medical, temporary release, transfer, release)."""
        movement = services.movement_depart(movement=self.get_object(), by=request.user)
        return Response(self._shown(movement))

    @extend_schema(
        request=ArriveSerializer,
        responses={200: MovementSerializer, 400: _BAD, 403: _FORBIDDEN, 409: _FROZEN},
    )
    @action(detail=True, methods=["post"])
    def arrive(self, request, pk=None):
        """The person arrives and is in custody again; a transfer is received by
        an officer of the destination."""
        movement = self.get_object()
        serializer = ArriveSerializer(data=request.data or {}, context={"movement": movement})
        serializer.is_valid(raise_exception=True)
        movement = services.movement_arrive(
            movement=movement, by=request.user, cell=serializer.validated_data["cell"]
        )
        return Response(self._shown(movement))

    @extend_schema(request=CancelSerializer, responses={200: MovementSerializer, 409: _CONFLICT})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Withdraw a requested or approved movement."""
        serializer = CancelSerializer(data=request.data or {})
        serializer.is_valid(raise_exception=True)
        movement = services.movement_cancel(
            movement=self.get_object(),
            by=request.user,
            reason=serializer.validated_data.get("reason", ""),
        )
        return Response(self._shown(movement))

    @extend_schema(
        request=ExtendSerializer,
        responses={201: ExtensionSerializer, 400: _BAD, 403: _FORBIDDEN, 409: _CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def extend(self, request, pk=None):
        """Ask for a later return of a departed outing; it applies only when
        another officer approves it."""
        serializer = ExtendSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        extension = services.extension_request(
            movement=self.get_object(), by=request.user, **serializer.validated_data
        )
        return Response(self._extension(extension), status=status.HTTP_201_CREATED)

    @extend_schema(
        request=None,
        parameters=[_EXTENSION_ID],
        responses={200: ExtensionSerializer, 403: _FORBIDDEN, 404: _NOT_FOUND, 409: _CONFLICT},
    )
    @action(
        detail=True,
        methods=["post"],
        url_path=r"extensions/(?P<extension_id>[0-9]{1,18})/approve",
    )
    def approve_extension(self, request, pk=None, extension_id=None):
        """Approve a pending extension (never the officer who asked): the return
        deadline moves."""
        extension = services.extension_approve(
            extension=self._pending(extension_id), by=request.user
        )
        return Response(self._extension(extension))

    @extend_schema(
        request=RejectExtensionSerializer,
        parameters=[_EXTENSION_ID],
        responses={
            200: ExtensionSerializer,
            400: _BAD,
            403: _FORBIDDEN,
            404: _NOT_FOUND,
            409: _CONFLICT,
        },
    )
    @action(
        detail=True,
        methods=["post"],
        url_path=r"extensions/(?P<extension_id>[0-9]{1,18})/reject",
    )
    def reject_extension(self, request, pk=None, extension_id=None):
        """Turn a pending extension down (or withdraw your own); the return stays."""
        serializer = RejectExtensionSerializer(data=request.data or {})
        serializer.is_valid(raise_exception=True)
        extension = services.extension_reject(
            extension=self._pending(extension_id),
            by=request.user,
            reason=serializer.validated_data.get("reason", ""),
        )
        return Response(self._extension(extension))

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "facility",
                str,
                description=_("Facility code (optional when you have exactly one)."),
            ),
            OpenApiParameter(
                "overdue", bool, description=_("true: only those whose return has passed.")
            ),
        ],
        responses={200: UnpairedSerializer(many=True), 400: _BAD, 404: _NOT_FOUND},
    )
    @action(detail=False, methods=["get"], pagination_class=None)
    def unpaired(self, request):
        """The pairing report: internal movements (yard, workshop, visit...) not
        yet paired with an observation back in the cell, most overdue first."""
        facility = one_facility(request, missing_message=_("Name the facility (facility=CODE)."))
        flag = request.query_params.get("overdue")
        if flag not in (None, "true", "false"):
            raise serializers.ValidationError({"overdue": [_("Use true or false.")]})
        rows = selectors.internal_unpaired(
            facilities=[facility], now=timezone.now(), overdue_only=flag == "true"
        )[:UNPAIRED_LIMIT]
        return Response(UnpairedSerializer(rows, many=True).data)

    def _pending(self, extension_id) -> MovementExtension:
        movement = self.get_object()
        extension = movement.extensions.filter(pk=extension_id).first()
        if extension is None:
            raise NotFound(_("No extension %(id)s on this movement.") % {"id": extension_id})
        return extension

    def _extension(self, extension: MovementExtension) -> dict:
        extension = MovementExtension.objects.select_related(
            "movement__facility", "requested_by", "decided_by"
        ).get(pk=extension.pk)
        return ExtensionSerializer(extension, context=self.get_serializer_context()).data

    def _shown(self, movement: Movement) -> dict:
        # Re-read with every reference joined, as the list shows it.
        movement = self.get_queryset().get(pk=movement.pk)
        return self.get_serializer(movement).data


class CellAssignmentViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Who was in which cell, from when until when (``ended_at`` null: still there)."""

    serializer_class = CellAssignmentSerializer
    filterset_class = CellAssignmentFilter
    ordering_fields = ["started_at"]

    def get_queryset(self):
        return selectors.cell_assignment_list(user=self.request.user).order_by("started_at", "id")
