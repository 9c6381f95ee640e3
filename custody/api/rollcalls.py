"""Roll calls API (docs/api.md "Roll calls"), count schedules and emergency calls.
Thin: scope, resolve natural keys, call ``custody.services.rollcalls``."""

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from config.schema import ErrorSerializer
from custody import selectors
from custody.api.batches import (
    EntryBatchResultSerializer,
    batch_answer,
    batch_body,
    marks_schema,
)
from custody.api.changes import SubmitsChanges, submitted_edits
from custody.api.recounts import RecountActions
from custody.filters import CountScheduleFilter, RollCallFilter
from custody.models import (
    MAX_COUNT_GRACE_MINUTES,
    CheckInMethod,
    CountCall,
    CountKind,
    EntryStatus,
    RollCall,
    RollCallEntry,
    RollCallStatus,
)
from custody.roles import CUSTODIAL_ROLES, SUPERVISING_ROLES
from custody.selectors.rollcalls import (
    count_schedule_list,
    live_tally,
    rollcall_list,
    rollcall_roster,
    rollcall_scope,
)
from custody.serializers import (
    FacilityTimeField,
    LocalTimeField,
    LocationCodeField,
    StrictBooleanField,
    VisibleFacilityField,
    in_zone_isoformat,
    natural_key,
    resolve_location,
)
from custody.services import count_schedules, recounts, rollcalls
from custody.tablet_credential import tablet_from_request

# --- Serializers ---------------------------------------------------------------


class RosterLineSerializer(serializers.Serializer):
    inmate = serializers.CharField(source="booking_number")
    name = serializers.CharField()
    cell = serializers.CharField()
    status = serializers.CharField(help_text=gettext_lazy("At the start of the count."))
    whereabouts = serializers.CharField(
        help_text=gettext_lazy("Where someone out on an authorised movement is.")
    )
    mark = serializers.ChoiceField(
        choices=EntryStatus.choices,
        allow_null=True,
        help_text=gettext_lazy("The person's latest mark on this count, if any."),
    )
    mark_method = serializers.ChoiceField(
        choices=CheckInMethod.choices,
        allow_null=True,
        help_text=gettext_lazy("How that mark was made (rfid, manual, visual...)."),
    )


class EntrySerializer(serializers.ModelSerializer):
    inmate = natural_key("booking_number")
    recorded_by = natural_key("username")
    observed_at = serializers.DateTimeField()
    received_at = serializers.DateTimeField()
    device = serializers.UUIDField(
        source="device_id",
        allow_null=True,
        help_text=gettext_lazy("The enrolled tablet the mark was made on, if any."),
    )

    class Meta:
        model = RollCallEntry
        fields = [
            "id",
            "inmate",
            "status",
            "method",
            "observed_at",
            "received_at",
            "recorded_by",
            "device",
        ]
        read_only_fields = fields


class TotalsSerializer(serializers.Serializer):
    expected = serializers.IntegerField()
    present = serializers.IntegerField()
    out_authorized = serializers.IntegerField()
    unaccounted = serializers.IntegerField(
        allow_null=True, help_text=gettext_lazy("Known once the count is submitted.")
    )
    unmarked = serializers.IntegerField(help_text=gettext_lazy("Nobody has marked them yet."))
    would_be_unaccounted = serializers.IntegerField(
        allow_null=True,
        help_text=gettext_lazy(
            "While the count is in progress: how many people submitting it now would report "
            "unaccounted (the submission's own reckoning). Null once it is settled."
        ),
    )


class RollCallSummarySerializer(serializers.ModelSerializer):
    facility = natural_key("code")
    location = natural_key("code")
    started_at = FacilityTimeField(read_only=True)
    started_by = natural_key("username")
    submitted_at = FacilityTimeField(read_only=True, allow_null=True)
    submitted_by = natural_key("username", allow_null=True)
    verified_at = FacilityTimeField(read_only=True, allow_null=True)
    verified_by = natural_key("username", allow_null=True)
    cancelled_at = FacilityTimeField(read_only=True, allow_null=True)
    cancelled_by = natural_key("username", allow_null=True)
    needs_verification = serializers.BooleanField(read_only=True)

    class Meta:
        model = RollCall
        fields = [
            "id",
            "facility",
            "location",
            "kind",
            "status",
            "started_at",
            "started_by",
            "submitted_at",
            "submitted_by",
            "verified_at",
            "verified_by",
            "cancelled_at",
            "cancelled_by",
            "cancel_reason",
            "recount_of",
            "call",
            "expected_count",
            "present_count",
            "out_count",
            "unaccounted_count",
            "unaccounted",
            "needs_verification",
        ]
        read_only_fields = fields


class RollCallSerializer(RollCallSummarySerializer):
    """The whole count: the frozen roster with each person's mark, and every entry."""

    expected = RosterLineSerializer(many=True, read_only=True)
    entries = EntrySerializer(many=True, read_only=True)
    totals = TotalsSerializer(read_only=True)

    class Meta(RollCallSummarySerializer.Meta):
        fields = [*RollCallSummarySerializer.Meta.fields, "totals", "expected", "entries"]
        read_only_fields = fields


class RollCallStartSerializer(serializers.Serializer):
    location = serializers.CharField(
        max_length=32, help_text=gettext_lazy("Code of the unit to count.")
    )
    kind = serializers.ChoiceField(choices=CountKind.choices)
    facility = VisibleFacilityField(
        required=False,
        help_text=gettext_lazy("Facility code; needed only if you work in several."),
    )
    id = serializers.UUIDField(
        required=False,
        help_text=gettext_lazy(
            "A UUID made by the tablet: starting again with it answers the same count."
        ),
    )
    recount_of = serializers.UUIDField(
        required=False, help_text=gettext_lazy("The submitted count this one recounts.")
    )

    def validate(self, attrs):
        user = self.context["request"].user
        facility = attrs.get("facility")
        if facility is None:
            # A unit code is enough when only one of the caller's facilities has it.
            matches = list(selectors.location_list(user=user).filter(code=attrs["location"])[:2])
            if len(matches) > 1:
                raise ValidationError({"facility": [_("Name the facility of the unit.")]})
            if not matches:
                raise ValidationError(
                    {
                        "location": [
                            _("No location with code %s in your facilities.") % attrs["location"]
                        ]
                    }
                )
            attrs["location"] = matches[0]
        else:
            attrs["location"] = resolve_location(
                facility=facility, code=attrs["location"], field="location"
            )
        if "recount_of" in attrs:
            original = rollcall_list(user=user).filter(pk=attrs["recount_of"]).first()
            if original is None:
                raise ValidationError({"recount_of": [_("No such count in your facilities.")]})
            attrs["recount_of"] = original
        return attrs


ENTRY_SCHEMA = marks_schema(
    statuses=EntryStatus.values,
    methods=["fingerprint", "face", "iris", "rfid", "visual", "manual"],
    inmate="Booking number.",
)


class RollCallCancelSerializer(serializers.Serializer):
    reason = serializers.CharField(min_length=10, max_length=2000)


_CONFLICT = OpenApiResponse(
    ErrorSerializer,
    description=gettext_lazy(
        "Not possible from the count's status, or another count of the unit is in progress."
    ),
)


# --- Views -------------------------------------------------------------------


class RollCallViewSet(
    RecountActions, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Counts of named people: start (roster frozen), mark, submit, verify.
    Never edited or deleted; each step is its own ledger event."""

    serializer_class = RollCallSummarySerializer
    filterset_class = RollCallFilter
    write_roles = CUSTODIAL_ROLES
    http_method_names = ["get", "post", "head", "options"]
    ordering_fields = ["started_at", "submitted_at"]

    def get_queryset(self):
        if self.action == "entries":
            # The hot path (every tap of every tablet): scope only, no joins;
            # the service locks the row and reads what it needs.
            return rollcall_scope(user=self.request.user)
        return rollcall_list(user=self.request.user).order_by("-started_at", "id")

    def get_serializer_class(self):
        return RollCallSerializer if self.action != "list" else RollCallSummarySerializer

    @extend_schema(responses={200: RollCallSerializer})
    def retrieve(self, request, *args, **kwargs):
        return Response(self._shown(self.get_object()))

    @extend_schema(
        request=RollCallStartSerializer,
        responses={200: RollCallSerializer, 201: RollCallSerializer, 409: _CONFLICT},
    )
    def create(self, request, *args, **kwargs):
        """Start a count; the roster is frozen now. 200 when ``id`` names a
        count you already started (a retry), 201 when it is new."""
        serializer = RollCallStartSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        rollcall, created = rollcalls.rollcall_start(
            location=data["location"],
            kind=data["kind"],
            by=request.user,
            rollcall_id=data.get("id"),
            recount_of=data.get("recount_of"),
        )
        return Response(
            self._shown(rollcall), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )

    @extend_schema(
        request={"application/json": ENTRY_SCHEMA},
        responses={200: EntryBatchResultSerializer},
    )
    @action(detail=True, methods=["post"])
    def entries(self, request, pk=None):
        """Mark people (a list of up to 1,000); idempotent by ``id``, each
        item answered in order; good items are stored even beside bad ones."""
        results = rollcalls.rollcall_record_entries(
            rollcall=self.get_object(),
            raw_entries=batch_body(request),
            by=request.user,
            device=tablet_from_request(request),
        )
        return Response(batch_answer(results))

    @extend_schema(request=None, responses={200: RollCallSerializer, 409: _CONFLICT})
    @action(detail=True, methods=["post"])
    def submit(self, request, pk=None):
        """Close the count; anyone expected, not present and not authorised
        out is unaccounted, and raises ``count_discrepancy``."""
        rollcall = rollcalls.rollcall_submit(rollcall=self.get_object(), by=request.user)
        return Response(self._shown(rollcall))

    @extend_schema(request=None, responses={200: RollCallSerializer, 409: _CONFLICT})
    @action(detail=True, methods=["post"])
    def verify(self, request, pk=None):
        """A second officer (not one who took the count) finishes their recount
        of the sample drawn at ``recount/``: everyone drawn found present
        verifies the count; anyone not found leaves it submitted and raises
        ``count_discrepancy`` naming both officers."""
        rollcall = recounts.rollcall_verify(rollcall=self.get_object(), by=request.user)
        return Response(self._shown(rollcall))

    @extend_schema(
        request=RollCallCancelSerializer, responses={200: RollCallSerializer, 409: _CONFLICT}
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Abandon a count in progress, with a reason (its starter or a supervisor)."""
        serializer = RollCallCancelSerializer(data=request.data or {})
        serializer.is_valid(raise_exception=True)
        rollcall = rollcalls.rollcall_cancel(
            rollcall=self.get_object(), by=request.user, reason=serializer.validated_data["reason"]
        )
        return Response(self._shown(rollcall))

    def _shown(self, rollcall: RollCall) -> dict:
        # Re-read as the list shows it, then the roster and the marks. Built
        # as plain dicts (the shapes RosterLineSerializer and EntrySerializer
        # declare): a 500-person count is 1,000 rows, and DRF per row would
        # be most of the answer's time.
        rollcall = self.get_queryset().get(pk=rollcall.pk)
        roster = rollcall_roster(rollcall)
        hidden = recounts.hidden_from_verifier(rollcall, self.request.user)
        return {
            **RollCallSummarySerializer(rollcall).data,
            "totals": rollcall_totals(rollcall, roster),
            "expected": [
                {
                    "inmate": line.booking_number,
                    "name": line.name,
                    "cell": line.cell,
                    "status": line.status,
                    "whereabouts": line.whereabouts,
                    "mark": None if line.booking_number in hidden else line.mark,
                    "mark_method": None if line.booking_number in hidden else line.mark_method,
                }
                for line in roster
            ],
            "entries": [e for e in _entries_shown(rollcall) if e["inmate"] not in hidden],
        }


def _entries_shown(rollcall: RollCall) -> list[dict]:
    tz = rollcall.facility.tzinfo
    return [
        {
            "id": str(pk),
            "inmate": booking,
            "status": status,
            "method": method,
            "observed_at": in_zone_isoformat(observed_at, tz),
            "received_at": in_zone_isoformat(received_at, tz),
            "recorded_by": username,
            "device": str(device) if device else None,
        }
        for pk, booking, status, method, observed_at, received_at, username, device in (
            rollcall.entries.order_by("observed_at", "received_at").values_list(
                "id",
                "inmate__booking_number",
                "status",
                "method",
                "observed_at",
                "received_at",
                "recorded_by__username",
                "device_id",
            )
        )
    ]


def rollcall_totals(rollcall: RollCall, roster) -> dict:
    """Tallies for a count: settled figures once submitted, live marks before."""
    live = live_tally(roster)
    if rollcall.status in (RollCallStatus.SUBMITTED, RollCallStatus.VERIFIED):
        return {
            "expected": rollcall.expected_count,
            "present": rollcall.present_count,
            "out_authorized": rollcall.out_count,
            "unaccounted": rollcall.unaccounted_count,
            "unmarked": live["unmarked"],
            "would_be_unaccounted": None,
        }
    if rollcall.status == RollCallStatus.IN_PROGRESS:
        would_be = len(rollcalls.rollcall_settle(rollcall, roster=roster).unaccounted)
    else:
        would_be = None
    return {
        "expected": rollcall.expected_count,
        "present": live["present"],
        "out_authorized": live["out"],
        "unaccounted": None,
        "unmarked": live["unmarked"],
        "would_be_unaccounted": would_be,
    }


# --- Schedules and emergency calls ----------------------------------------------


class CountScheduleSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    facility = VisibleFacilityField()
    location = LocationCodeField(help_text=gettext_lazy("Unit code; empty: every unit."))
    time_of_day = LocalTimeField(help_text=gettext_lazy("HH:MM in the facility's time zone."))
    kind = serializers.ChoiceField(
        choices=[CountKind.FORMAL, CountKind.INFORMAL], default=CountKind.FORMAL
    )
    grace_minutes = serializers.IntegerField(
        min_value=1, max_value=MAX_COUNT_GRACE_MINUTES, default=15
    )
    is_active = StrictBooleanField(default=True)
    created_by = serializers.CharField(
        source="created_by.username", read_only=True, allow_null=True
    )

    def validate(self, attrs):
        facility = attrs.get("facility") or getattr(self.instance, "facility", None)
        if "location" in attrs and facility is not None:
            attrs["location"] = resolve_location(
                facility=facility, code=attrs["location"], field="location"
            )
        return attrs

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["location"] = instance.location.code if instance.location_id else None
        return data


@submitted_edits(CountScheduleSerializer)
class CountScheduleViewSet(
    SubmitsChanges,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """When each unit is counted, every day (supervisors edit; retire with
    ``is_active: false``: schedules are never deleted)."""

    serializer_class = CountScheduleSerializer
    change_kind = "count_schedule"
    filterset_class = CountScheduleFilter
    write_roles = SUPERVISING_ROLES
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        return count_schedule_list(user=self.request.user).order_by("time_of_day", "id")

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = count_schedules.count_schedule_create(
            facility=data["facility"],
            location=data.get("location"),
            time_of_day=data["time_of_day"],
            kind=data["kind"],
            grace_minutes=data["grace_minutes"],
            by=self.request.user,
        )

    def change_fields(self, data) -> dict:
        # A count of another unit is another schedule: retire this one, add that one.
        changes = dict(data)
        changes.pop("facility", None)
        changes.pop("location", None)
        return changes


class CountCallSerializer(serializers.ModelSerializer):
    facility = VisibleFacilityField()
    called_at = FacilityTimeField(read_only=True)
    called_by = natural_key("username")
    grace_minutes = serializers.IntegerField(
        min_value=1, max_value=MAX_COUNT_GRACE_MINUTES, default=15
    )
    reason = serializers.CharField(min_length=5, max_length=2000)

    class Meta:
        model = CountCall
        fields = ["id", "facility", "called_at", "called_by", "grace_minutes", "reason"]


class CountCallViewSet(mixins.ListModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet):
    """Emergency counts: a supervisor calls one and every unit's count is
    due within its grace (``missed_rollcall`` otherwise)."""

    serializer_class = CountCallSerializer
    write_roles = SUPERVISING_ROLES

    def get_queryset(self):
        return (
            CountCall.objects.filter(
                facility_id__in=selectors.visible_facility_ids(self.request.user)
            )
            .select_related("facility", "called_by")
            .order_by("-called_at", "-id")
        )

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = count_schedules.count_call_create(
            facility=data["facility"],
            by=self.request.user,
            reason=data["reason"],
            grace_minutes=data["grace_minutes"],
        )
