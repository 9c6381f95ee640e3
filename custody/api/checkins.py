"""Check-ins from readers and tablets, device heartbeats, and the quarantine."""

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from custody import selectors
from custody.filters import CheckInFilter, QuarantineFilter
from custody.models import CheckInMethod, Device, QuarantineSource
from custody.permissions import IsDevice, IsDeviceOrStaffUser, is_device
from custody.roles import ALL_ROLES, CUSTODIAL_ROLES, OVERSIGHT_ROLES
from custody.serializers import FacilityTimeField
from custody.services import checkins as ingestion
from custody.services.checkin_items import clock_problem

# Items are checked one by one and answered in a 200 (docs/api.md), so the request
# schema promises only what the server refuses as a whole with a 400: a JSON
# object, or a list of at most 1,000 values.
_ITEM_DESCRIPTION = (
    "One scan: `id` (UUID made by the device; the idempotency key), `inmate` "
    "(booking number), `location` (code; a device's own location when omitted), "
    "`method` (" + ", ".join(CheckInMethod.values) + "; fingerprint, face, iris and rfid "
    "only from a device whose `methods` list them, a person only visual or manual, "
    "else `method_not_allowed`), `score` (0-1, optional), `observed_at` (ISO 8601 with "
    "offset, at most 2 minutes ahead and 72 hours back from a device; from a person at "
    "most 10 minutes back, else `clock_past`). A device mounted at a location reports "
    "only that place or places under it (else `wrong_location`). An item that breaks "
    "these rules is answered `rejected` with its errors and kept in quarantine; the rest "
    "of the batch is stored."
)
_ITEM_EXAMPLE = {
    "id": "5d2f1b8e-9a3c-4c1e-8f5e-2b7a6d9c0e11",
    "inmate": "GT-2025-000123",
    "location": "B-2-14",
    "method": "fingerprint",
    "score": 0.97,
    "observed_at": "2026-11-24T01:15:09-06:00",
}
CHECKIN_REQUEST_SCHEMA = {
    "oneOf": [
        {"type": "object", "description": _ITEM_DESCRIPTION, "example": _ITEM_EXAMPLE},
        {
            "type": "array",
            "maxItems": ingestion.MAX_BATCH,
            "items": {"description": _ITEM_DESCRIPTION},
            "example": [_ITEM_EXAMPLE],
        },
    ]
}


class CheckInResultSerializer(serializers.Serializer):
    id = serializers.CharField(allow_null=True, help_text=gettext_lazy("The item's id as sent."))
    status = serializers.ChoiceField(
        choices=[ingestion.ACCEPTED, ingestion.DUPLICATE, ingestion.REJECTED]
    )
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text=gettext_lazy("Field name -> messages; empty unless rejected."),
    )
    out_of_place = serializers.BooleanField(
        help_text=gettext_lazy("Stored, but seen where neither the cell nor a movement puts them.")
    )


class CheckInBatchResultSerializer(serializers.Serializer):
    results = CheckInResultSerializer(many=True)
    accepted = serializers.IntegerField()
    duplicate = serializers.IntegerField()
    rejected = serializers.IntegerField()


class CheckInSerializer(serializers.Serializer):
    """A stored check-in, with natural keys."""

    id = serializers.UUIDField()
    inmate = serializers.CharField(source="inmate.booking_number")
    facility = serializers.CharField(source="facility.code")
    location = serializers.CharField(source="location.code")
    method = serializers.ChoiceField(choices=CheckInMethod.choices)
    is_biometric = serializers.BooleanField()
    score = serializers.FloatField(allow_null=True)
    observed_at = FacilityTimeField()
    received_at = FacilityTimeField()
    device = serializers.UUIDField(source="device_id", allow_null=True)
    recorded_by = serializers.CharField(source="recorded_by.username", allow_null=True)
    out_of_place = serializers.BooleanField()


class QuarantinedCheckInSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    facility = serializers.CharField(source="facility.code", allow_null=True)
    received_at = serializers.DateTimeField()
    device = serializers.UUIDField(source="device_id", allow_null=True)
    submitted_by = serializers.CharField(source="submitted_by.username", allow_null=True)
    item_id = serializers.CharField()
    source = serializers.ChoiceField(
        choices=QuarantineSource.choices,
        help_text=gettext_lazy("The batch API that refused it: check-ins or round checks."),
    )
    reason = serializers.CharField()
    errors = serializers.JSONField()
    raw = serializers.JSONField()


def _sender(request) -> ingestion.Sender:
    if is_device(request):
        device = request.user.device
        return ingestion.Sender(
            principal=request.user,
            device=device,
            user=None,
            facility_ids=frozenset({device.facility_id}),
        )
    return ingestion.Sender(
        principal=request.user,
        device=None,
        user=request.user,
        facility_ids=frozenset(selectors.visible_facility_ids(request.user)),
    )


class CheckInViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Positive observations of people: post them (devices, guards), read them
    (everyone, inside their facilities)."""

    permission_classes = [IsDeviceOrStaffUser]
    read_roles = ALL_ROLES
    write_roles = CUSTODIAL_ROLES
    filterset_class = CheckInFilter
    serializer_class = CheckInSerializer
    ordering_fields = ["observed_at", "received_at"]

    def get_queryset(self):
        return selectors.checkin_list(user=self.request.user).order_by("-observed_at", "id")

    @extend_schema(
        request={"application/json": CHECKIN_REQUEST_SCHEMA},
        responses={200: CheckInBatchResultSerializer},
    )
    def create(self, request, *args, **kwargs):
        """Post one scan or a list of up to 1,000; each is answered in order."""
        body = request.data
        if isinstance(body, dict):
            raw_items = [body]
        elif isinstance(body, list):
            raw_items = body
        else:
            raise ValidationError({"non_field_errors": [_("Send a JSON object or a list.")]})
        if len(raw_items) > ingestion.MAX_BATCH:
            raise ValidationError(
                {
                    "non_field_errors": [
                        _("At most %(max)s check-ins per request; nothing was stored.")
                        % {"max": ingestion.MAX_BATCH}
                    ]
                }
            )
        result = ingestion.checkins_ingest(raw_items=raw_items, sender=_sender(request))
        return Response(
            {
                "results": [
                    {
                        "id": item.item_id or None,
                        "status": item.status,
                        "errors": item.errors,
                        "out_of_place": item.out_of_place,
                    }
                    for item in result.items
                ],
                "accepted": result.count(ingestion.ACCEPTED),
                "duplicate": result.count(ingestion.DUPLICATE),
                "rejected": result.count(ingestion.REJECTED),
            }
        )


class QuarantineViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Scans that could not be accepted, as they arrived, with the reasons."""

    read_roles = OVERSIGHT_ROLES
    serializer_class = QuarantinedCheckInSerializer
    filterset_class = QuarantineFilter
    ordering_fields = ["received_at"]

    def get_queryset(self):
        return selectors.quarantine_list(user=self.request.user).order_by("-received_at", "-id")


class HeartbeatRequestSerializer(serializers.Serializer):
    at = serializers.DateTimeField(
        required=False, help_text=gettext_lazy("The device's clock; the server's time if omitted.")
    )


class HeartbeatResponseSerializer(serializers.Serializer):
    device = serializers.UUIDField()
    last_heartbeat_at = serializers.DateTimeField()
    clock_offset_seconds = serializers.FloatField(
        allow_null=True,
        help_text=gettext_lazy("The device's clock minus the server's, when `at` was sent."),
    )


class HeartbeatView(APIView):
    """A device says it is alive, even when nobody walks past it (device key only).

    A clock outside the check-in rules (more than 2 minutes ahead, 72 hours
    behind) answers 400 so that the device learns it, but loses nothing that
    was good: the device still counts as alive and its offset is kept, for
    the integrity signals."""

    permission_classes = [IsDevice]

    @extend_schema(request=HeartbeatRequestSerializer, responses={200: HeartbeatResponseSerializer})
    def post(self, request):
        serializer = HeartbeatRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        now = timezone.now()
        device = request.user.device
        at = serializer.validated_data.get("at")
        offset = (at - now).total_seconds() if at else None
        changes = {"last_heartbeat_at": now}
        if offset is not None:
            # Kept for the integrity signals: a drifting clock moves deadlines.
            changes.update(clock_offset_seconds=offset, clock_checked_at=now)
        Device.objects.filter(pk=device.pk).update(**changes)
        problem = clock_problem(at, now=now) if at else None
        if problem:
            raise ValidationError({"at": [problem[1]]})
        return Response(
            {"device": device.pk, "last_heartbeat_at": now, "clock_offset_seconds": offset}
        )
