"""Facilities, locations, people in custody, devices and users.

Business rules live in ``services.py`` (writes) and ``selectors.py`` (reads);
models hold fields, constraints and small derived properties only.
"""

import hashlib
import uuid
import zoneinfo
from datetime import timedelta

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from custody.models.watch_levels import (
    MAX_ROUND_GRACE_SECONDS,
    WatchLevel,
    default_round_intervals,
    validate_round_intervals,
)

CODE_VALIDATOR = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
    _("Use letters, digits, dots, dashes or underscores, starting with a letter or digit."),
)


class SecurityLevel(models.TextChoices):
    MAXIMUM = "maximum", _("Maximum")
    MEDIUM = "medium", _("Medium")
    MINIMUM = "minimum", _("Minimum")


DEFAULT_CHECK_INTERVAL_SECONDS = {
    SecurityLevel.MAXIMUM: 30 * 60,
    SecurityLevel.MEDIUM: 60 * 60,
    SecurityLevel.MINIMUM: 120 * 60,
}
MIN_CHECK_INTERVAL_SECONDS = 60
MAX_CHECK_INTERVAL_SECONDS = 24 * 3600
MAX_GRACE_SECONDS = 3600
# Device and workstation clocks drift; beyond this a time "from the future" is
# a typo or an attempt to push a deadline away.
CLOCK_SKEW = timedelta(minutes=2)


def default_check_intervals() -> dict[str, int]:
    return {str(level): seconds for level, seconds in DEFAULT_CHECK_INTERVAL_SECONDS.items()}


# How long each kind of authorised absence may last before a second officer
# must approve an extension (API.md "Records": ``max_absence_seconds``).
DEFAULT_MAX_ABSENCE_SECONDS = {"court": 57_600, "medical": 259_200, "temporary_release": 259_200}


def default_max_absence() -> dict[str, int]:
    return dict(DEFAULT_MAX_ABSENCE_SECONDS)


# Sane bounds: a minute at least, thirty days at most (longer needs extensions).
MIN_ABSENCE_SECONDS, MAX_ABSENCE_SECONDS = 60, 30 * 86_400
# An internal movement (yard, workshop, visit...) comes back within this long;
# a facility may shorten it, never lengthen it beyond the hard maximum.
DEFAULT_INTERNAL_MOVEMENT_SECONDS = 8 * 3600
MIN_INTERNAL_MOVEMENT_SECONDS, MAX_INTERNAL_MOVEMENT_SECONDS = 300, 12 * 3600
# The freeze before a formal count: always some, at most four hours.
MIN_COUNT_FREEZE_SECONDS, MAX_COUNT_FREEZE_SECONDS = 60, 4 * 3600
# How long a person admitted to reception may wait for a cell (``uncelled``).
DEFAULT_RECEPTION_DEADLINE_SECONDS = 4 * 3600
MIN_RECEPTION_DEADLINE_SECONDS, MAX_RECEPTION_DEADLINE_SECONDS = 60, 24 * 3600


def validate_max_absence(value) -> None:
    if not isinstance(value, dict):
        raise ValidationError(_("Give an object with one limit per kind of outing."))
    expected = set(DEFAULT_MAX_ABSENCE_SECONDS)
    if set(value) != expected:
        raise ValidationError(
            _("Give exactly these kinds: %(kinds)s."),
            params={"kinds": ", ".join(sorted(expected))},
        )
    for kind, seconds in value.items():
        if (
            not isinstance(seconds, int)
            or isinstance(seconds, bool)
            or not MIN_ABSENCE_SECONDS <= seconds <= MAX_ABSENCE_SECONDS
        ):
            raise ValidationError(
                _("%(kind)s: the limit must be whole seconds between %(low)s and %(high)s."),
                params={"kind": kind, "low": MIN_ABSENCE_SECONDS, "high": MAX_ABSENCE_SECONDS},
            )


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(
            _("%(value)s is not a known IANA time zone."), params={"value": value}
        )


def validate_check_intervals(value) -> None:
    if not isinstance(value, dict):
        raise ValidationError(_("Give an object with one interval per security level."))
    expected = set(SecurityLevel.values)
    if set(value) != expected:
        raise ValidationError(
            _("Give exactly these security levels: %(levels)s."),
            params={"levels": ", ".join(sorted(expected))},
        )
    for level, seconds in value.items():
        if (
            not isinstance(seconds, int)
            or isinstance(seconds, bool)
            or not MIN_CHECK_INTERVAL_SECONDS <= seconds <= MAX_CHECK_INTERVAL_SECONDS
        ):
            raise ValidationError(
                _("%(level)s: the interval must be whole seconds between %(low)s and %(high)s."),
                params={
                    "level": level,
                    "low": MIN_CHECK_INTERVAL_SECONDS,
                    "high": MAX_CHECK_INTERVAL_SECONDS,
                },
            )


# The owner of the national ledger chain. The code validator refuses a leading
# underscore, so no real facility can ever take (or be mistaken for) it.
NATIONAL_CODE = "_national"


class PrisonManager(models.Manager):
    """Facilities people work in. Never the national chain's owner row: it is
    no prison, so no list, form, scope, reconcile pass or headcount sees it."""

    def get_queryset(self):
        return super().get_queryset().filter(is_national=False)


class ChainOwnerManager(models.Manager):
    """Every owner of a ledger chain: the facilities and the national row."""


class Facility(models.Model):
    code = models.CharField(_("code"), max_length=32, unique=True, validators=[CODE_VALIDATOR])
    name = models.CharField(_("name"), max_length=200)
    timezone = models.CharField(
        _("time zone"), max_length=64, default="America/Guatemala", validators=[validate_timezone]
    )
    check_interval_seconds = models.JSONField(
        _("check interval per security level (seconds)"),
        default=default_check_intervals,
        validators=[validate_check_intervals],
    )
    grace_seconds = models.PositiveIntegerField(
        _("grace period (seconds)"),
        default=300,
        validators=[MinValueValidator(0), MaxValueValidator(MAX_GRACE_SECONDS)],
    )
    # A biometric observation per person at least this often (identity_unverified).
    identity_window_seconds = models.PositiveIntegerField(
        _("identity window (seconds)"), default=86_400, validators=[MinValueValidator(60)]
    )
    max_absence_seconds = models.JSONField(
        _("longest authorised absence per kind (seconds)"),
        default=default_max_absence,
        validators=[validate_max_absence],
    )
    internal_movement_max_seconds = models.PositiveIntegerField(
        _("longest internal movement (seconds)"),
        default=DEFAULT_INTERNAL_MOVEMENT_SECONDS,
        # Also in the database: rows written in SQL (bulk loads, benchmarks) get them.
        db_default=DEFAULT_INTERNAL_MOVEMENT_SECONDS,
        validators=[
            MinValueValidator(MIN_INTERNAL_MOVEMENT_SECONDS),
            MaxValueValidator(MAX_INTERNAL_MOVEMENT_SECONDS),
        ],
    )
    # Movements in or out of a unit are frozen this long before its formal count.
    count_freeze_seconds = models.PositiveIntegerField(
        _("count freeze (seconds)"),
        default=900,
        validators=[
            MinValueValidator(MIN_COUNT_FREEZE_SECONDS),
            MaxValueValidator(MAX_COUNT_FREEZE_SECONDS),
        ],
    )
    recount_sample_percent = models.PositiveSmallIntegerField(
        _("recount sample (percent)"),
        default=10,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
    )
    # Observation rounds (custody.services.rounds): [shortest, longest]
    # seconds between two checks per watch level; the next is drawn between.
    round_intervals = models.JSONField(
        _("round interval per watch level (seconds)"),
        default=default_round_intervals,
        # Also in the database: rows written in SQL (bulk loads, benchmarks) get them.
        db_default=default_round_intervals(),
        validators=[validate_round_intervals],
    )
    round_grace_seconds = models.PositiveIntegerField(
        _("round grace (seconds)"),
        default=120,
        db_default=120,
        validators=[MaxValueValidator(MAX_ROUND_GRACE_SECONDS)],
    )
    # A place's intervals over a shift whose spread (standard deviation over
    # mean) falls below this are too regular: someone could predict them.
    round_min_spread_percent = models.PositiveSmallIntegerField(
        _("least spread of round intervals (percent)"),
        default=10,
        db_default=10,
        validators=[MaxValueValidator(100)],
    )
    # A person admitted to reception must be in a cell within this long.
    reception_deadline_seconds = models.PositiveIntegerField(
        _("reception deadline (seconds)"),
        default=DEFAULT_RECEPTION_DEADLINE_SECONDS,
        db_default=DEFAULT_RECEPTION_DEADLINE_SECONDS,
        validators=[
            MinValueValidator(MIN_RECEPTION_DEADLINE_SECONDS),
            MaxValueValidator(MAX_RECEPTION_DEADLINE_SECONDS),
        ],
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    # True only for the reserved row that owns the national ledger chain
    # (accounts with no facility: superusers, national staff). Created by
    # ``custody.services.account_record.national_chain``, never by hand.
    is_national = models.BooleanField(default=False, editable=False)

    # The first manager is the default one (forms, admin, serializers, related
    # managers): prisons only. ``chain_owners`` also sees the national row, for
    # the few readers of every chain (verification, witnessing, the ledger).
    objects = PrisonManager()
    chain_owners = ChainOwnerManager()

    class Meta:
        ordering = ["code"]
        verbose_name = _("facility")
        verbose_name_plural = _("facilities")
        constraints = [
            models.CheckConstraint(
                condition=Q(grace_seconds__lte=MAX_GRACE_SECONDS),
                name="facility_grace_at_most_an_hour",
            ),
            models.UniqueConstraint(
                fields=["is_national"],
                condition=Q(is_national=True),
                name="facility_one_national_chain",
            ),
            models.CheckConstraint(
                # The reserved code and the flag go together, both ways.
                condition=Q(is_national=True, code=NATIONAL_CODE)
                | (Q(is_national=False) & ~Q(code=NATIONAL_CODE)),
                name="facility_national_has_reserved_code",
            ),
        ]

    def __str__(self):
        return f"{self.code} — {self.name}"

    @property
    def tzinfo(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    def round_bounds(self, watch_level: str) -> tuple[timedelta, timedelta]:
        """The shortest and longest wait between two checks at ``watch_level``."""
        low, high = (self.round_intervals or {}).get(watch_level) or default_round_intervals()[
            watch_level
        ]
        return timedelta(seconds=low), timedelta(seconds=high)

    def check_interval(self, security_level: str) -> timedelta:
        seconds = self.check_interval_seconds.get(
            security_level, DEFAULT_CHECK_INTERVAL_SECONDS[security_level]
        )
        return timedelta(seconds=seconds)


class LocationKind(models.TextChoices):
    UNIT = "unit", _("Unit")
    CELL = "cell", _("Cell")
    YARD = "yard", _("Yard")
    WORKSHOP = "workshop", _("Workshop")
    INFIRMARY = "infirmary", _("Infirmary")
    VISIT = "visit", _("Visit room")
    INTERVIEW = "interview", _("Interview room")
    OTHER = "other", _("Other")
    # Where a person admitted waits for a cell: a real place on the roll,
    # watched by the ``uncelled`` deadline.
    RECEPTION = "reception", _("Reception")


# Where a person in custody may be placed (invariant 1): a cell, or a
# reception area until they are celled. ``Inmate.cell`` points at one.
PLACEMENT_KINDS = (LocationKind.CELL, LocationKind.RECEPTION)


class Location(models.Model):
    facility = models.ForeignKey(
        Facility, on_delete=models.PROTECT, related_name="locations", verbose_name=_("facility")
    )
    code = models.CharField(_("code"), max_length=32, validators=[CODE_VALIDATOR])
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=16, choices=LocationKind.choices)
    parent = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
        verbose_name=_("inside"),
    )
    # The certified capacity (how many the place was built and certified to
    # hold); the API keeps its name ``capacity``.
    capacity = models.PositiveIntegerField(_("capacity"), null=True, blank=True)
    # Observation rounds. The level of the place (a person's own level
    # overrides it). The three times are kept by round ingestion
    # (custody.services.rounds); null until the place can be checked (its
    # first tag) or is checked.
    watch_level = models.CharField(
        _("watch level"),
        max_length=16,
        choices=WatchLevel.choices,
        default=WatchLevel.STANDARD,
        db_default=WatchLevel.STANDARD,
    )
    last_round_at = models.DateTimeField(_("last round check at"), null=True, blank=True)
    # Drawn at random between the level's shortest and longest wait: the
    # tablet shows "due within N minutes", never this time.
    next_round_due_at = models.DateTimeField(_("next round due at"), null=True, blank=True)
    # The last check plus the level's longest wait: missed_round past it
    # (plus the facility's round grace).
    round_deadline_at = models.DateTimeField(_("round deadline"), null=True, blank=True)
    # How many it may hold now (may be lower: repairs, a closed bed). Null:
    # the certified capacity. Above it only with a second officer.
    operational_capacity = models.PositiveIntegerField(
        _("operational capacity"), null=True, blank=True
    )
    # Why the operational capacity stands above the certified one (an
    # override a second officer approved; custody.services.capacity).
    over_capacity_reason = models.TextField(
        _("reason for exceeding capacity"), blank=True, default="", db_default=""
    )

    class Meta:
        ordering = ["facility__code", "code"]
        verbose_name = _("location")
        verbose_name_plural = _("locations")
        constraints = [
            models.UniqueConstraint(fields=["facility", "code"], name="location_code_per_facility"),
            models.CheckConstraint(
                # NULL >= 1 is unknown, which a CHECK lets through: test it explicitly.
                condition=Q(kind="cell", capacity__isnull=False, capacity__gte=1) | ~Q(kind="cell"),
                name="cell_has_capacity",
            ),
            models.CheckConstraint(
                condition=~Q(parent=models.F("id")), name="location_not_own_parent"
            ),
        ]
        indexes = [
            # missed_round's due query (alerts.rules_rounds, through
            # custody.selectors.rounds.locations_round_overdue).
            models.Index(
                fields=["facility", "round_deadline_at"],
                name="location_round_due",
                condition=Q(round_deadline_at__isnull=False),
            ),
            # The reconciler's uncelled rule asks each pass whether a facility
            # has a reception area at all (custody.selectors.reception).
            models.Index(
                fields=["facility"], name="location_reception", condition=Q(kind="reception")
            ),
        ]

    def __str__(self):
        return f"{self.facility.code}/{self.code}"

    def clean(self):
        if self.kind == LocationKind.CELL and not self.capacity:
            raise ValidationError({"capacity": _("A cell needs a capacity of at least 1.")})
        if self.operational_capacity is not None and self.capacity is None:
            raise ValidationError(
                {"operational_capacity": _("Give the certified capacity (capacity) first.")}
            )
        over = self.capacity is not None and (self.usable_capacity or 0) > self.capacity
        if over and len(self.over_capacity_reason.strip()) < 5:
            raise ValidationError(
                {
                    "over_capacity_reason": _(
                        "Say why the place must hold more than its certified capacity."
                    )
                }
            )

    @property
    def usable_capacity(self) -> int | None:
        """The operational capacity (the certified one when none is set)."""
        if self.operational_capacity is not None:
            return self.operational_capacity
        return self.capacity


class InmateStatus(models.TextChoices):
    IN_CUSTODY = "in_custody", _("In custody")
    OUT_AUTHORIZED = "out_authorized", _("Out, authorised")
    IN_TRANSIT = "in_transit", _("In transit")
    RELEASED = "released", _("Released")
    MISSING = "missing", _("Missing")
    ESCAPED = "escaped", _("Escaped")
    DECEASED = "deceased", _("Deceased")


class Inmate(models.Model):
    booking_number = models.CharField(
        _("booking number"), max_length=32, unique=True, validators=[CODE_VALIDATOR]
    )
    first_name = models.CharField(_("first name"), max_length=100)
    last_name = models.CharField(_("last name"), max_length=100)
    # No index of its own: inmate_facility_status starts with it. Every index
    # costs on each check-in batch, which rewrites last_seen_at/next_due_at.
    facility = models.ForeignKey(
        Facility,
        on_delete=models.PROTECT,
        related_name="inmates",
        verbose_name=_("facility"),
        db_index=False,
    )
    cell = models.ForeignKey(
        Location,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="inmates",
        verbose_name=_("cell"),
    )
    security_level = models.CharField(
        _("security level"), max_length=16, choices=SecurityLevel.choices
    )
    status = models.CharField(
        _("status"), max_length=16, choices=InmateStatus.choices, default=InmateStatus.IN_CUSTODY
    )
    admitted_at = models.DateTimeField(_("admitted at"))
    last_seen_at = models.DateTimeField(_("last seen at"), null=True, blank=True)
    next_due_at = models.DateTimeField(_("next check due at"), null=True, blank=True)
    # The last fingerprint, face or iris observation (never rfid, visual or
    # manual): moved forward by check-in ingestion, in the same statement as
    # last_seen_at. Null: never proven by biometrics.
    identity_verified_at = models.DateTimeField(_("identity verified at"), null=True, blank=True)
    # Observation rounds: empty inherits the cell's level. A level of one's
    # own moves with the person (suicide watch), and only then are the round
    # times below kept (custody.services.rounds), as on Location.
    watch_level = models.CharField(
        _("watch level"),
        max_length=16,
        choices=WatchLevel.choices,
        blank=True,
        default="",
        db_default="",
    )
    last_round_at = models.DateTimeField(_("last round check at"), null=True, blank=True)
    next_round_due_at = models.DateTimeField(_("next round due at"), null=True, blank=True)
    round_deadline_at = models.DateTimeField(_("round deadline"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["booking_number"]
        verbose_name = _("inmate")
        verbose_name_plural = _("inmates")
        indexes = [
            # The reconciler's due-work query (who is overdue for a positive
            # observation) reads only people in custody, ordered by deadline
            # (alerts.rules.MissedCheckIn), one facility at a time.
            models.Index(
                fields=["facility", "next_due_at"],
                name="inmate_due_per_facility",
                condition=Q(status="in_custody"),
            ),
            models.Index(fields=["facility", "status"], name="inmate_facility_status"),
            # The identity_unverified rule's due query (alerts.rules_identity,
            # through custody.selectors.watch.inmates_identity_due): people in
            # custody whose last biometric proof (admission, if none) is older
            # than the facility's identity window, one facility at a time.
            models.Index(
                "facility",
                Coalesce("identity_verified_at", "admitted_at"),
                name="inmate_identity_due",
                condition=Q(status="in_custody"),
            ),
            # missed_round's due query for people on a level of their own
            # (custody.selectors.rounds.inmates_round_overdue): few rows.
            models.Index(
                fields=["facility", "round_deadline_at"],
                name="inmate_round_due",
                condition=Q(status="in_custody", round_deadline_at__isnull=False),
            ),
        ]
        constraints = [
            # Invariant 1 (the cell half): a person in custody has a cell or
            # a reception area (the kind is checked by the trigger of
            # migration 0026: ``inmate_cell_is_a_placement``).
            models.CheckConstraint(
                condition=~Q(status="in_custody") | Q(cell__isnull=False),
                name="in_custody_has_cell",
            ),
            # Invariant 2: a person in custody always has a deadline.
            models.CheckConstraint(
                condition=~Q(status="in_custody") | Q(next_due_at__isnull=False),
                name="in_custody_has_next_due_at",
            ),
            # A person on a level of their own always has a round deadline.
            models.CheckConstraint(
                condition=Q(watch_level="") | Q(round_deadline_at__isnull=False),
                name="own_watch_level_has_round_deadline",
            ),
        ]

    def __str__(self):
        return f"{self.booking_number} {self.last_name}, {self.first_name}"

    def clean(self):
        # Checked here so the API, the admin and bulk admission all refuse alike.
        if self.admitted_at and self.admitted_at > timezone.now() + CLOCK_SKEW:
            raise ValidationError({"admitted_at": _("An admission cannot be in the future.")})
        cell = self.cell if self.cell_id else None
        if cell is not None:
            if cell.facility_id != self.facility_id:
                raise ValidationError({"cell": _("The cell must be in the inmate's facility.")})
            if cell.kind not in PLACEMENT_KINDS:
                raise ValidationError(
                    {"cell": _("%(code)s is neither a cell nor reception.") % {"code": cell.code}}
                )
        elif self.status == InmateStatus.IN_CUSTODY:
            raise ValidationError({"cell": _("A person in custody must be assigned to a cell.")})

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


class DeviceKind(models.TextChoices):
    BIOMETRIC = "biometric", _("Biometric reader")
    TABLET = "tablet", _("Tablet")


DEVICE_KEY_PREFIX = "dk_"


def hash_device_key(key: str) -> str:
    # Keys are 256-bit random tokens, so a fast hash is enough (no dictionary
    # to attack) and keeps per-request lookup cheap for thousands of readers.
    return hashlib.sha256(key.encode()).hexdigest()


class Device(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    facility = models.ForeignKey(
        Facility, on_delete=models.PROTECT, related_name="devices", verbose_name=_("facility")
    )
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=16, choices=DeviceKind.choices)
    location = models.ForeignKey(
        Location,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="devices",
        verbose_name=_("location"),
    )
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    key_prefix = models.CharField(_("key prefix"), max_length=12, editable=False)
    # The observation methods it can make (API.md "Records"); empty keeps the
    # defaults of its kind.
    methods = models.JSONField(_("methods"), default=list, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    last_heartbeat_at = models.DateTimeField(_("last heartbeat at"), null=True, blank=True)
    # What the device's clock said at its last heartbeat that gave one:
    # a clock that runs fast pushes deadlines away (integrity signals).
    clock_offset_seconds = models.FloatField(
        _("clock offset (seconds)"),
        null=True,
        blank=True,
        help_text=_("The device's clock minus the server's at its last timed heartbeat."),
    )
    clock_checked_at = models.DateTimeField(_("clock checked at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["facility__code", "name"]
        verbose_name = _("device")
        verbose_name_plural = _("devices")
        constraints = [
            models.UniqueConstraint(fields=["facility", "name"], name="device_name_per_facility"),
        ]

    def __str__(self):
        return f"{self.facility.code}/{self.name}"


class Role(models.TextChoices):
    GUARD = "guard", _("Guard")
    SUPERVISOR = "supervisor", _("Supervisor")
    AUDITOR = "auditor", _("Auditor")
    ADMIN = "admin", _("Administrator")


class User(AbstractUser):
    """A person who signs in. The role is the Django group of the same name."""

    facilities = models.ManyToManyField(
        Facility, blank=True, related_name="users", verbose_name=_("facilities")
    )

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        verbose_name = _("user")
        verbose_name_plural = _("users")

    @property
    def role_label(self) -> str:
        return Role(self.role).label if self.role else ""

    @property
    def role(self) -> str | None:
        # Cached per instance: permission checks ask several times a request.
        if not hasattr(self, "_role_cache"):
            names = self.groups.values_list("name", flat=True)
            self._role_cache = role_of(names, is_superuser=self.is_superuser)
        return self._role_cache


def role_of(group_names, *, is_superuser: bool) -> str | None:
    """The role that group names give: the highest of them; a superuser with
    none is an admin. (Forms ask before the groups are saved.)"""
    names = set(group_names)
    role = next((r for r in reversed(Role.values) if r in names), None)
    return Role.ADMIN if role is None and is_superuser else role
