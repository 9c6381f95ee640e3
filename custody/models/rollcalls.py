"""Roll calls: counts of named people, when they are due, and who vouched for them.

A count is a list of people, never a number. Its roster is frozen when it
starts (``RollCallExpected``), each mark is its own append-only row
(``RollCallEntry``), and a submitted count can only be verified afterwards,
never edited (database triggers, ``custody.migrations._rollcall_guards``).
"""

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from custody.models.checkins import CheckInMethod
from custody.models.movements import Movement
from custody.models.records import Facility, Inmate, Location

# A count called at 06:00 may be walked a little early; a count started longer
# before the slot than its grace belongs to the slot before.
MAX_COUNT_GRACE_MINUTES = 120


class CountKind(models.TextChoices):
    FORMAL = "formal", _("Formal count")
    INFORMAL = "informal", _("Informal count")
    EMERGENCY = "emergency", _("Emergency count")


class RollCallStatus(models.TextChoices):
    IN_PROGRESS = "in_progress", _("In progress")
    SUBMITTED = "submitted", _("Submitted")
    VERIFIED = "verified", _("Verified")
    CANCELLED = "cancelled", _("Cancelled")


class EntryStatus(models.TextChoices):
    PRESENT = "present", _("Present")
    ABSENT = "absent", _("Absent")
    OUT_AUTHORIZED = "out_authorized", _("Out, authorised")


class CountSchedule(models.Model):
    """A count due every day at ``time_of_day`` in the facility's zone.

    ``location`` null: every unit of the facility. Retired, never deleted,
    so the record keeps which counts were ever due.
    """

    facility = models.ForeignKey(
        Facility,
        on_delete=models.PROTECT,
        related_name="count_schedules",
        verbose_name=_("facility"),
    )
    location = models.ForeignKey(
        Location,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="count_schedules",
        verbose_name=_("unit"),
        help_text=_("Empty: every unit of the facility."),
    )
    time_of_day = models.TimeField(_("time of day"), help_text=_("In the facility's time zone."))
    kind = models.CharField(
        _("kind"), max_length=16, choices=CountKind.choices, default=CountKind.FORMAL
    )
    grace_minutes = models.PositiveSmallIntegerField(
        _("grace (minutes)"),
        default=15,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_COUNT_GRACE_MINUTES)],
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["facility__code", "time_of_day", "id"]
        verbose_name = _("count schedule")
        verbose_name_plural = _("count schedules")
        constraints = [
            models.UniqueConstraint(
                fields=["facility", "location", "time_of_day"],
                condition=Q(is_active=True),
                # "Every unit" (no location) is one slot too.
                nulls_distinct=False,
                name="one_active_count_per_slot",
            ),
            models.CheckConstraint(
                condition=Q(grace_minutes__gte=1, grace_minutes__lte=MAX_COUNT_GRACE_MINUTES),
                name="count_schedule_grace_range",
            ),
        ]

    def __str__(self):
        where = self.location.code if self.location_id else "*"
        return f"{self.facility.code}/{where} {self.time_of_day:%H:%M}"


class CountCall(models.Model):
    """An emergency count called for a whole facility: every unit's count is
    due within ``grace_minutes`` of ``called_at``."""

    facility = models.ForeignKey(
        Facility, on_delete=models.PROTECT, related_name="count_calls", verbose_name=_("facility")
    )
    called_at = models.DateTimeField(_("called at"))
    called_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("by")
    )
    grace_minutes = models.PositiveSmallIntegerField(
        _("grace (minutes)"),
        default=15,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_COUNT_GRACE_MINUTES)],
    )
    reason = models.TextField(_("reason"))

    class Meta:
        ordering = ["-called_at", "-id"]
        verbose_name = _("emergency count call")
        verbose_name_plural = _("emergency count calls")
        indexes = [models.Index(fields=["facility", "called_at"], name="countcall_facility_time")]

    def __str__(self):
        return f"{self.facility.code} {self.called_at:%Y-%m-%d %H:%M}"


class RollCall(models.Model):
    """One count of one unit. The lifecycle lives in ``custody.services.rollcalls``."""

    # Made by the tablet when it can (a retried start is then harmless).
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    facility = models.ForeignKey(
        Facility, on_delete=models.PROTECT, related_name="+", verbose_name=_("facility")
    )
    location = models.ForeignKey(
        Location, on_delete=models.PROTECT, related_name="rollcalls", verbose_name=_("unit")
    )
    kind = models.CharField(_("kind"), max_length=16, choices=CountKind.choices)
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=RollCallStatus.choices,
        default=RollCallStatus.IN_PROGRESS,
    )
    call = models.ForeignKey(
        CountCall,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="rollcalls",
        verbose_name=_("emergency call"),
    )
    recount_of = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="recounts",
        verbose_name=_("recount of"),
    )
    started_at = models.DateTimeField(_("started at"))
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    submitted_at = models.DateTimeField(_("submitted at"), null=True, blank=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    verified_at = models.DateTimeField(_("verified at"), null=True, blank=True)
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    cancel_reason = models.TextField(_("reason for cancelling"), blank=True)
    expected_count = models.PositiveIntegerField(_("expected"))
    # Set once, at submission.
    present_count = models.PositiveIntegerField(_("present"), null=True, blank=True)
    out_count = models.PositiveIntegerField(_("out, authorised"), null=True, blank=True)
    unaccounted_count = models.PositiveIntegerField(_("unaccounted"), null=True, blank=True)
    unaccounted = models.JSONField(_("unaccounted people"), default=list, blank=True)

    class Meta:
        ordering = ["-started_at"]
        verbose_name = _("roll call")
        verbose_name_plural = _("roll calls")
        constraints = [
            # Two tablets, one unit: the second joins the first count.
            models.UniqueConstraint(
                fields=["location"],
                condition=Q(status="in_progress"),
                name="one_count_in_progress_per_unit",
            ),
            # A count is vouched for by someone who did not take it.
            models.CheckConstraint(
                condition=Q(verified_by__isnull=True)
                | (
                    ~Q(verified_by=models.F("started_by"))
                    & ~Q(verified_by=models.F("submitted_by"))
                ),
                name="rollcall_verified_by_second_officer",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["submitted", "verified"])
                | Q(
                    submitted_at__isnull=False,
                    submitted_by__isnull=False,
                    unaccounted_count__isnull=False,
                ),
                name="rollcall_submitted_has_result",
            ),
        ]
        indexes = [
            # missed_rollcall: counts of a facility around a slot.
            models.Index(fields=["facility", "started_at"], name="rollcall_facility_started"),
            # count_discrepancy: counts submitted since the last pass.
            models.Index(fields=["facility", "submitted_at"], name="rollcall_facility_submitted"),
            models.Index(fields=["location", "started_at"], name="rollcall_location_started"),
        ]

    def __str__(self):
        return f"{self.location} {self.get_kind_display()} {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def needs_verification(self) -> bool:
        return self.kind == CountKind.FORMAL and self.status == RollCallStatus.SUBMITTED

    @property
    def cleared(self) -> bool:
        return self.unaccounted_count == 0


class RollCallExpected(models.Model):
    """One person on a count's roster, frozen at its start. Append-only."""

    rollcall = models.ForeignKey(
        RollCall, on_delete=models.PROTECT, related_name="expected", verbose_name=_("roll call")
    )
    inmate = models.ForeignKey(
        Inmate, on_delete=models.PROTECT, related_name="+", verbose_name=_("inmate")
    )
    cell = models.ForeignKey(
        Location, on_delete=models.PROTECT, related_name="+", verbose_name=_("cell")
    )
    # in_custody or out_authorized, as the record had it at the start.
    status = models.CharField(_("status"), max_length=16)
    movement = models.ForeignKey(
        Movement, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    whereabouts = models.CharField(_("where"), max_length=200, blank=True)

    class Meta:
        ordering = ["cell__code", "inmate__booking_number"]
        verbose_name = _("expected person")
        verbose_name_plural = _("expected people")
        constraints = [
            models.UniqueConstraint(fields=["rollcall", "inmate"], name="one_roster_row_per_person")
        ]

    def __str__(self):
        return f"{self.inmate_id} on {self.rollcall_id} ({self.status})"


class RollCallEntry(models.Model):
    """One mark on a count (present, absent, out). Append-only; the latest
    mark of a person, by its own time, is what the count says of them."""

    # Made by the tablet: the idempotency key of a queued, retried entry.
    id = models.UUIDField(primary_key=True, editable=False)
    rollcall = models.ForeignKey(
        RollCall, on_delete=models.PROTECT, related_name="entries", verbose_name=_("roll call")
    )
    inmate = models.ForeignKey(
        Inmate, on_delete=models.PROTECT, related_name="rollcall_entries", verbose_name=_("inmate")
    )
    status = models.CharField(_("status"), max_length=16, choices=EntryStatus.choices)
    method = models.CharField(_("method"), max_length=16, choices=CheckInMethod.choices)
    observed_at = models.DateTimeField(_("observed at"))
    received_at = models.DateTimeField(_("received at"))
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("recorded by"),
    )
    # The enrolled tablet the mark was made on (docs/api.md "Roll calls"):
    # a machine read (rfid) is the tablet's evidence, never the officer's.
    device = models.ForeignKey(
        "custody.Device",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("tablet"),
    )

    class Meta:
        ordering = ["observed_at", "received_at"]
        verbose_name = _("roll-call entry")
        verbose_name_plural = _("roll-call entries")
        indexes = [
            models.Index(
                fields=["rollcall", "inmate", "observed_at"], name="entry_rollcall_inmate"
            ),
            models.Index(fields=["inmate", "observed_at"], name="entry_inmate_time"),
            # An officer's marks (alerts.audit.officers).
            models.Index(fields=["recorded_by", "observed_at"], name="entry_recorder_time"),
        ]

    def __str__(self):
        return f"{self.inmate_id} {self.status} @ {self.observed_at:%H:%M:%S}"
