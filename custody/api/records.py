"""REST API for the custody record (docs/api.md). Thin: scope, validate, call a service."""

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from knox.models import AuthToken
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from custody import selectors, services
from custody.api.changes import SubmitsChanges, submitted_edits
from custody.api.history import (
    HISTORY_PARAMETERS,
    OCCUPANCY_PARAMETERS,
    HistoryEntrySerializer,
    OccupancySerializer,
    history_query,
    occupancy_window,
)
from custody.api.roll import ROLL_PARAMETERS, RollSerializer, roll_at
from custody.filters import DeviceFilter, InmateFilter, LocationFilter, UserFilter
from custody.permissions import IsAdmin
from custody.roles import ADMIN_ROLES, ALL_ROLES, SUPERVISING_ROLES
from custody.selectors.roll import establishment_roll
from custody.serializers import (
    DeviceSerializer,
    DeviceWithKeySerializer,
    FacilitySerializer,
    HeadcountSerializer,
    InmateSerializer,
    LocationSerializer,
    UserSerializer,
)


class RecordViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """List, read, create and edit; custody records are never deleted through the API."""

    read_roles = ALL_ROLES
    write_roles = ADMIN_ROLES
    # Partial updates only: a full PUT from an old tablet would blank new fields.
    http_method_names = ["get", "post", "patch", "head", "options"]

    def perform_create(self, serializer):
        serializer.instance = self.create_record(serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = self.update_record(serializer.instance, serializer.validated_data)


@submitted_edits(FacilitySerializer)
class FacilityViewSet(SubmitsChanges, RecordViewSet):
    change_kind = "facility"
    serializer_class = FacilitySerializer
    lookup_field = "code"
    lookup_value_regex = r"[^/]+"
    search_fields = ["code", "name"]
    ordering_fields = ["code", "name"]

    def get_queryset(self):
        return selectors.facilities_visible_to(self.request.user).order_by("code")

    @extend_schema(responses={200: HeadcountSerializer})
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def headcount(self, request, code=None):
        """Who the facility answers for now: present, out authorised and
        unaccounted, in total and per unit (definitions in
        ``selectors.facility_headcount``)."""
        facility = self.get_object()
        return Response(HeadcountSerializer(selectors.facility_headcount(facility=facility)).data)

    @extend_schema(parameters=ROLL_PARAMETERS, responses={200: RollSerializer})
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def roll(self, request, code=None):
        """The establishment roll now or at ``at``, per unit and for the
        facility (definitions in ``custody.selectors.roll``)."""
        facility = self.get_object()
        at = roll_at(request.query_params, now=timezone.now())
        return Response(RollSerializer(establishment_roll(facility=facility, at=at)).data)

    def create_record(self, data):
        return services.facility_create(by=self.request.user, **data)


@submitted_edits(LocationSerializer)
class LocationViewSet(SubmitsChanges, RecordViewSet):
    change_kind = "location"
    serializer_class = LocationSerializer
    filterset_class = LocationFilter
    write_roles = SUPERVISING_ROLES
    search_fields = ["code", "name"]
    ordering_fields = ["code", "name", "kind"]

    def get_queryset(self):
        return selectors.location_list(user=self.request.user).order_by("facility__code", "code")

    @extend_schema(parameters=OCCUPANCY_PARAMETERS, responses={200: OccupancySerializer})
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def occupants(self, request, pk=None):
        """Who was in this place between two times (the last 24 hours unless
        asked): the cell assignments overlapping the period (for a unit, those
        of its cells), and everyone checked in there, per person."""
        since, until = occupancy_window(request.query_params, now=timezone.now())
        location = self.get_object()
        occupancy = selectors.location_occupancy(location=location, since=since, until=until)
        context = {"tz": location.facility.tzinfo}
        return Response(OccupancySerializer(occupancy, context=context).data)

    def create_record(self, data):
        return services.location_create(by=self.request.user, **data)


@submitted_edits(InmateSerializer)
class InmateViewSet(SubmitsChanges, RecordViewSet):
    change_kind = "inmate"
    serializer_class = InmateSerializer
    filterset_class = InmateFilter
    write_roles = SUPERVISING_ROLES
    lookup_field = "booking_number"
    lookup_value_regex = r"[^/]+"
    search_fields = ["booking_number", "first_name", "last_name"]
    ordering_fields = ["booking_number", "last_name", "next_due_at", "last_seen_at"]

    def get_queryset(self):
        return selectors.inmate_list(user=self.request.user).order_by("booking_number")

    @extend_schema(
        parameters=HISTORY_PARAMETERS, responses={200: HistoryEntrySerializer(many=True)}
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def history(self, request, booking_number=None):
        """The custody timeline: check-ins, count entries, movements and ledger
        events (alerts among them), oldest first; filtered by time and type."""
        query = history_query(request.query_params)
        inmate = self.get_object()
        timeline = selectors.inmate_history(inmate=inmate, user=request.user, **query)
        page = self.paginate_queryset(timeline)
        return self.get_paginated_response(HistoryEntrySerializer(page, many=True).data)

    def create_record(self, data):
        return services.inmate_admit(by=self.request.user, **data)


@submitted_edits(DeviceSerializer)
class DeviceViewSet(SubmitsChanges, RecordViewSet):
    change_kind = "device"
    serializer_class = DeviceSerializer
    filterset_class = DeviceFilter
    search_fields = ["name"]
    ordering_fields = ["name", "last_heartbeat_at"]

    def get_queryset(self):
        return selectors.device_list(user=self.request.user).order_by("facility__code", "name")

    @extend_schema(request=DeviceSerializer, responses={201: DeviceWithKeySerializer})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        device, key = services.device_create(by=request.user, **serializer.validated_data)
        device.key = key
        return Response(DeviceWithKeySerializer(device).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: DeviceWithKeySerializer})
    @action(detail=True, methods=["post"], url_path="rotate-key")
    def rotate_key(self, request, pk=None):
        """Issue a new key (shown once); the old key stops working at once."""
        device = self.get_object()
        device.key = services.device_rotate_key(device=device, by=request.user)
        return Response(DeviceWithKeySerializer(device).data)


class UserViewSet(RecordViewSet):
    serializer_class = UserSerializer
    filterset_class = UserFilter
    lookup_field = "username"
    lookup_value_regex = r"[^/]+"
    permission_classes = [IsAdmin]
    read_roles = ADMIN_ROLES
    search_fields = ["username", "first_name", "last_name"]
    ordering_fields = ["username"]

    def get_queryset(self):
        return selectors.user_list(user=self.request.user)

    def create_record(self, data):
        return services.user_create(by=self.request.user, **data)

    def update_record(self, user, data):
        return services.user_update(user=user, by=self.request.user, **data)

    @extend_schema(request=None, responses={200: UserSerializer})
    @action(
        detail=False,
        methods=["get"],
        permission_classes=[*RecordViewSet.permission_classes],
        read_roles=ALL_ROLES,
    )
    def me(self, request):
        """The signed-in user: role and facilities (tablets use it after sign-in)."""
        return Response(self.get_serializer(request.user).data)


class AuthTokenRevokeView(APIView):
    """Sign out: this token stops working (shared tablets at shift change)."""

    write_roles = ALL_ROLES
    # Ending one's own sign-in is open to read-only roles too.
    changes_no_record = True

    @extend_schema(request=None, responses={204: None})
    def post(self, request):
        if isinstance(request.auth, AuthToken):
            request.auth.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)
