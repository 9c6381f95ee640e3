"""API shapes (docs/api.md). References are natural keys; writes go to services."""

import zoneinfo
from datetime import UTC

from django.contrib.auth.password_validation import validate_password
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from custody import selectors
from custody.models import (
    PLACEMENT_KINDS,
    CheckInMethod,
    Device,
    Facility,
    Inmate,
    Location,
    LocationKind,
    Role,
    SecurityLevel,
    User,
    WatchLevel,
)
from custody.models.records import (
    MAX_COUNT_FREEZE_SECONDS,
    MAX_INTERNAL_MOVEMENT_SECONDS,
    MIN_COUNT_FREEZE_SECONDS,
    MIN_INTERNAL_MOVEMENT_SECONDS,
)
from custody.services.evidence import device_methods, methods_canonical, methods_problem


@extend_schema_field(OpenApiTypes.DATETIME)
def natural_key(field: str, **kwargs) -> serializers.SlugRelatedField:
    """A read-only reference shown by its natural key (docs/api.md: a facility by
    ``code``, an inmate by ``booking_number``, a user by ``username``)."""
    return serializers.SlugRelatedField(slug_field=field, read_only=True, **kwargs)


class StrictBooleanField(serializers.BooleanField):
    """JSON ``true`` or ``false`` only. DRF also takes 0, 1, "yes" or "off";
    the schema says boolean, so the API takes what the schema says and a
    typo never switches a reader or a count schedule off."""

    def to_internal_value(self, data):
        if isinstance(data, bool):
            return data
        self.fail("invalid", input=data)


@extend_schema_field(
    {
        "type": "string",
        "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$",
        "example": "06:00",
    }
)
class LocalTimeField(serializers.TimeField):
    """A wall-clock time in the facility's own zone (``HH:MM`` or
    ``HH:MM:SS``): no offset, because the facility's zone is the offset. Not
    an RFC 3339 ``time``, which would need one."""

    def __init__(self, **kwargs):
        kwargs.setdefault("input_formats", ["%H:%M", "%H:%M:%S"])
        kwargs.setdefault("format", "%H:%M:%S")
        super().__init__(**kwargs)


FIRST_YEAR, LAST_YEAR = 1900, 9000


def in_zone_isoformat(value, tz) -> str:
    """``value`` in ``tz`` as RFC 3339. Before 1900 a zone's offset is local
    mean time (-06:02:04 in Guatemala), which RFC 3339 cannot write: such a
    time is given as the same instant in UTC."""
    local = value.astimezone(tz)
    if local.utcoffset().total_seconds() % 60:
        local = value.astimezone(UTC)
    return local.isoformat()


class FacilityTimeField(serializers.DateTimeField):
    """A time shown with the offset of the record's own facility (docs/api.md)."""

    default_error_messages = {
        "out_of_range": _("Give a time between the years %(low)s and %(high)s."),
    }

    def to_internal_value(self, value):
        at = super().to_internal_value(value)
        # Before 1900 a zone's offset is local mean time (-06:02:04 in
        # Guatemala), which no RFC 3339 reader takes back; nobody in custody
        # was admitted then, nor returns after 9000.
        if not FIRST_YEAR <= at.year <= LAST_YEAR:
            self.fail("out_of_range", low=FIRST_YEAR, high=LAST_YEAR)
        return at

    def to_representation(self, value):
        if value is None:
            return None
        facility = getattr(self, "_facility", None)
        return in_zone_isoformat(value, facility.tzinfo if facility else None)

    def get_attribute(self, instance):
        self._facility = instance if isinstance(instance, Facility) else instance.facility
        return super().get_attribute(instance)


@extend_schema_field(OpenApiTypes.STR)
class VisibleFacilityField(serializers.SlugRelatedField):
    """A facility by its code, among those the caller may see."""

    def __init__(self, **kwargs):
        kwargs.setdefault("slug_field", "code")
        super().__init__(**kwargs)

    def get_queryset(self):
        return selectors.facilities_visible_to(self.context["request"].user)


class LocationCodeField(serializers.CharField):
    """A location by its code; resolved inside the record's facility in validate()."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 32)
        kwargs.setdefault("allow_null", True)
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def to_representation(self, value):
        return value.code if isinstance(value, Location) else value

    def get_attribute(self, instance):
        return getattr(instance, self.source, None)


def resolve_location(*, facility: Facility, code: str | None, field: str, kind=None):
    if code is None:
        return None
    qs = Location.objects.filter(facility=facility, code=code)
    if isinstance(kind, tuple):
        qs = qs.filter(kind__in=kind)
    elif kind:
        qs = qs.filter(kind=kind)
    location = qs.select_related("parent").first()
    if location is None:
        if kind == PLACEMENT_KINDS:
            what = _("cell or reception area")
        else:
            what = _("cell") if kind == LocationKind.CELL else _("location")
        raise serializers.ValidationError(
            {
                field: _("No %(what)s with code %(code)s in facility %(facility)s.")
                % {"what": what, "code": code, "facility": facility.code}
            }
        )
    return location


class ResolvesLocationCodes:
    """Location codes are unique only inside a facility, so they are resolved
    in validate(), once the record's facility is known.

    ``location_fields`` maps each field to the location kind it must be (or
    None); fields in ``location_fields_on_create`` are resolved on create even
    when absent, so the service sees an explicit None.
    """

    location_fields: dict[str, str | None] = {}
    location_fields_on_create: tuple[str, ...] = ()

    def validate(self, attrs):
        attrs = super().validate(attrs)
        facility = attrs.get("facility") or getattr(self.instance, "facility", None)
        for field, kind in self.location_fields.items():
            creating_needs_it = self.instance is None and field in self.location_fields_on_create
            if field in attrs or creating_needs_it:
                attrs[field] = resolve_location(
                    facility=facility, code=attrs.get(field), field=field, kind=kind
                )
        return attrs


class FacilitySerializer(serializers.ModelSerializer):
    check_interval_seconds = serializers.JSONField(
        required=False,
        help_text=_(
            "Seconds between required checks per security level, e.g. "
            '{"maximum": 1800, "medium": 3600, "minimum": 7200}.'
        ),
    )
    max_absence_seconds = serializers.JSONField(
        required=False,
        help_text=_(
            "Longest authorised absence per kind of outing, in seconds (60 to 2592000), "
            'e.g. {"court": 57600, "medical": 259200, "temporary_release": 259200}; a '
            "later return needs an extension approved by a second officer."
        ),
    )
    count_freeze_seconds = serializers.IntegerField(
        required=False,
        min_value=MIN_COUNT_FREEZE_SECONDS,
        max_value=MAX_COUNT_FREEZE_SECONDS,
        help_text=_(
            "Movements into, out of or inside a unit are refused from this long before "
            "its formal count until the count is submitted (60 to 14400 seconds)."
        ),
    )
    internal_movement_max_seconds = serializers.IntegerField(
        required=False,
        min_value=MIN_INTERNAL_MOVEMENT_SECONDS,
        max_value=MAX_INTERNAL_MOVEMENT_SECONDS,
        help_text=_(
            "Longest internal movement (yard, workshop, infirmary, visit, interview): "
            "its return is at most this long after it starts (300 to 43200 seconds)."
        ),
    )
    timezone = serializers.ChoiceField(
        choices=sorted(zoneinfo.available_timezones()),
        required=False,
        help_text=_("IANA time zone; times of this facility's records are shown in it."),
    )
    # The values are checked where movements use them; whether a change is
    # weaker (and waits for a second officer) is custody.services.changes'.
    max_absence_seconds = serializers.JSONField(
        required=False,
        help_text=_(
            "Longest authorised absence per kind, in seconds, e.g. "
            '{"court": 57600, "medical": 259200, "temporary_release": 259200}.'
        ),
    )
    round_intervals = serializers.JSONField(
        required=False,
        help_text=_(
            "Observation rounds: [shortest, longest] seconds between two checks per watch "
            'level; the next check is drawn at random in between, e.g. {"standard": [1800, '
            '3600], "special": [900, 1800], "close": [300, 900]}.'
        ),
    )
    created_at = FacilityTimeField(read_only=True)

    class Meta:
        model = Facility
        fields = [
            "code",
            "name",
            "timezone",
            "check_interval_seconds",
            "grace_seconds",
            "identity_window_seconds",
            "max_absence_seconds",
            "count_freeze_seconds",
            "recount_sample_percent",
            "internal_movement_max_seconds",
            "round_intervals",
            "round_grace_seconds",
            "round_min_spread_percent",
            "reception_deadline_seconds",
            "created_at",
        ]


class LocationSerializer(ResolvesLocationCodes, serializers.ModelSerializer):
    facility = VisibleFacilityField()
    parent = LocationCodeField(help_text=_("Code of the enclosing location, e.g. the unit."))

    class Meta:
        model = Location
        fields = [
            "id",
            "facility",
            "code",
            "name",
            "kind",
            "parent",
            "capacity",
            "operational_capacity",
            "over_capacity_reason",
            "watch_level",
        ]
        extra_kwargs = {
            "capacity": {
                "help_text": _(
                    "Certified capacity: how many the place was certified to hold "
                    "(required for cells)."
                )
            },
            "operational_capacity": {
                "help_text": _(
                    "How many it may hold now; null: the certified capacity. Placements "
                    "past it are refused (409). Above the certified capacity only with a "
                    "second officer's approval."
                )
            },
            "over_capacity_reason": {
                "help_text": _(
                    "Why the operational capacity stands above the certified one; required "
                    "then (at least 5 characters), cleared otherwise."
                )
            },
        }

    location_fields = {"parent": None}


class InmateSerializer(ResolvesLocationCodes, serializers.ModelSerializer):
    facility = VisibleFacilityField()
    cell = LocationCodeField(
        help_text=_(
            "Code of the assigned cell inside the facility, or of a reception area "
            "(admitted, not yet celled)."
        )
    )
    security_level = serializers.ChoiceField(choices=SecurityLevel.choices)
    last_seen_at = FacilityTimeField(read_only=True, allow_null=True)
    next_due_at = FacilityTimeField(read_only=True, allow_null=True)
    admitted_at = FacilityTimeField(required=False)
    watch_level = serializers.ChoiceField(
        choices=[("", _("The cell's level")), *WatchLevel.choices],
        required=False,
        allow_blank=True,
        help_text=_(
            "Observation rounds: a level of the person's own, which overrides the cell's "
            "and moves with them (suicide watch); empty inherits the cell's. Lowering it "
            "waits for a second officer."
        ),
    )

    class Meta:
        model = Inmate
        fields = [
            "booking_number",
            "first_name",
            "last_name",
            "facility",
            "cell",
            "security_level",
            "status",
            "admitted_at",
            "last_seen_at",
            "next_due_at",
            "watch_level",
        ]
        read_only_fields = ["status"]

    location_fields = {"cell": PLACEMENT_KINDS}
    location_fields_on_create = ("cell",)


class DeviceMethodsField(serializers.ListField):
    """The methods a device may vouch with; answered as the effective list
    (the kind's defaults when none were declared)."""

    def __init__(self, **kwargs):
        super().__init__(
            child=serializers.ChoiceField(choices=CheckInMethod.choices),
            required=False,
            allow_empty=True,
            max_length=len(CheckInMethod.values),
            help_text=_(
                'The observation methods it can make, e.g. ["fingerprint", "rfid"]; '
                "empty: the defaults of its kind (reader: fingerprint, face, iris, rfid; "
                "tablet: rfid, visual, manual). A reader cannot declare visual or manual."
            ),
            **kwargs,
        )

    def get_attribute(self, instance):
        return methods_canonical(device_methods(instance))


class DeviceSerializer(ResolvesLocationCodes, serializers.ModelSerializer):
    facility = VisibleFacilityField()
    location = LocationCodeField(help_text=_("Code of the location where the device is mounted."))
    methods = DeviceMethodsField()
    last_heartbeat_at = FacilityTimeField(read_only=True, allow_null=True)
    is_active = StrictBooleanField(required=False)
    clock_checked_at = FacilityTimeField(
        read_only=True,
        allow_null=True,
        help_text=_("When the device last sent its clock's time with a heartbeat."),
    )

    class Meta:
        model = Device
        fields = [
            "id",
            "facility",
            "name",
            "kind",
            "location",
            "methods",
            "is_active",
            "key_prefix",
            "last_heartbeat_at",
            "clock_offset_seconds",
            "clock_checked_at",
        ]
        read_only_fields = ["key_prefix", "clock_offset_seconds"]

    location_fields = {"location": None}

    def validate(self, attrs):
        attrs = super().validate(attrs)
        if "methods" in attrs or "kind" in attrs:
            methods = attrs.get("methods", getattr(self.instance, "methods", []))
            kind = attrs.get("kind", getattr(self.instance, "kind", ""))
            problem = methods_problem(methods, kind=kind)
            if problem:
                raise serializers.ValidationError({"methods": [problem]})
        return attrs


class DeviceWithKeySerializer(DeviceSerializer):
    key = serializers.CharField(
        read_only=True,
        help_text=_("The device key. Shown this once; only its hash is stored."),
    )

    class Meta(DeviceSerializer.Meta):
        fields = [*DeviceSerializer.Meta.fields, "key"]


class UserSerializer(serializers.ModelSerializer):
    password = serializers.CharField(write_only=True, required=False, max_length=128)
    role = serializers.ChoiceField(choices=Role.choices)
    facilities = VisibleFacilityField(many=True)
    is_active = StrictBooleanField(required=False)

    class Meta:
        model = User
        fields = [
            "username",
            "password",
            "first_name",
            "last_name",
            "email",
            "role",
            "facilities",
            "is_active",
        ]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        # A facility admin never learns which other facilities a colleague has.
        visible = set(selectors.visible_facility_ids(self.context["request"].user))
        data["facilities"] = [f.code for f in instance.facilities.all() if f.pk in visible]
        return data

    def validate(self, attrs):
        if self.instance is None and not attrs.get("password"):
            raise serializers.ValidationError({"password": _("This field is required.")})
        if attrs.get("password"):
            candidate = self.instance or User(
                username=attrs.get("username", ""), email=attrs.get("email", "")
            )
            try:
                validate_password(attrs["password"], candidate)
            except Exception as exc:  # Django's ValidationError: list of messages
                raise serializers.ValidationError({"password": list(exc.messages)}) from exc
        if self.instance is None and not attrs.get("facilities"):
            raise serializers.ValidationError({"facilities": _("Assign at least one facility.")})
        return attrs


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=128, style={"input_type": "password"})
    otp = serializers.CharField(
        max_length=32,
        required=False,
        allow_blank=True,
        help_text=_(
            "Second-factor code (authenticator or recovery code): required for "
            "admins and superusers who have enrolled one on the web sign-in."
        ),
    )


class TokenResponseSerializer(serializers.Serializer):
    token = serializers.CharField()
    expiry = serializers.DateTimeField(
        help_text=_("When the token lapses unless it is used; each use extends it.")
    )


class ZonedTimeField(serializers.DateTimeField):
    """A time in the zone the root serializer puts in its context (``tz``)."""

    def to_representation(self, value):
        if value is None:
            return None
        return in_zone_isoformat(value, self.context.get("tz"))


IDENTITY_VERIFIED_HELP = _(
    "In custody and proven by a fingerprint, face or iris observation within the "
    "facility's identity window (rfid, visual and manual never prove identity)."
)


class HeadcountLocationSerializer(serializers.Serializer):
    location = serializers.CharField(
        allow_null=True,
        help_text=_(
            "Code of the unit: the parent of the cell, or the cell itself when it has no "
            "parent. null: expected people without a cell (missing or escaped)."
        ),
    )
    expected = serializers.IntegerField(min_value=0)
    present = serializers.IntegerField(min_value=0)
    out_authorized = serializers.IntegerField(min_value=0)
    unaccounted = serializers.IntegerField(min_value=0)
    identity_verified = serializers.IntegerField(min_value=0, help_text=IDENTITY_VERIFIED_HELP)
    last_count_at = ZonedTimeField(
        allow_null=True, help_text=_("When the unit's last roll call was submitted.")
    )
    last_cleared_count_at = ZonedTimeField(
        allow_null=True,
        help_text=_("When a roll call of the unit last found everyone (nobody unaccounted)."),
    )


class HeadcountSerializer(serializers.Serializer):
    """Reads ``selectors.facility_headcount`` (definitions in its docstring)."""

    facility = serializers.CharField(source="facility.code", help_text=_("Facility code."))
    timezone = serializers.CharField(
        source="facility.timezone", help_text=_("The facility's time zone, used for as_of.")
    )
    expected = serializers.IntegerField(
        min_value=0,
        help_text=_(
            "People the facility answers for: in custody, out authorised, missing or "
            "escaped (not in transit, released or deceased)."
        ),
    )
    present = serializers.IntegerField(
        min_value=0,
        help_text=_("In custody and positively observed on schedule (within the grace)."),
    )
    out_authorized = serializers.IntegerField(
        min_value=0, help_text=_("Out on an authorised movement (court, medical, leave).")
    )
    unaccounted = serializers.IntegerField(
        min_value=0,
        help_text=_(
            "expected - present - out_authorized: overdue for an observation, missing or escaped."
        ),
    )
    in_transit = serializers.IntegerField(
        min_value=0,
        help_text=_("Left on a transfer, not yet arrived; not part of expected."),
    )
    identity_verified = serializers.IntegerField(min_value=0, help_text=IDENTITY_VERIFIED_HELP)
    by_location = HeadcountLocationSerializer(many=True)
    as_of = FacilityTimeField(help_text=_("The moment of the count, in the facility's zone."))

    def to_representation(self, instance):
        self.context["tz"] = instance.facility.tzinfo  # for the per-unit times
        return super().to_representation(instance)
