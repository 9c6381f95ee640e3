"""Authorised movements of people and the history of cell assignments."""

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from custody.models.records import Facility, Inmate, Location


class MovementKind(models.TextChoices):
    ADMISSION = "admission", _("Admission")
    CELL_MOVE = "cell_move", _("Cell move")
    TRANSFER = "transfer", _("Transfer to another facility")
    COURT = "court", _("Court hearing")
    MEDICAL = "medical", _("Medical")
    TEMPORARY_RELEASE = "temporary_release", _("Temporary release")
    RELEASE = "release", _("Release")
    RETURN = "return", _("Return to custody")
    # Inside the walls (yard, workshop, infirmary, visit, interview) and back
    # to the cell: not a departure from custody (custody.services.internal_movements).
    INTERNAL = "internal", _("Internal movement")


class MovementStatus(models.TextChoices):
    REQUESTED = "requested", _("Requested")
    APPROVED = "approved", _("Approved")
    DEPARTED = "departed", _("Departed")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")


# Every departure from custody needs two different officers (invariant 7).
DEPARTURE_KINDS = (
    MovementKind.COURT,
    MovementKind.MEDICAL,
    MovementKind.TEMPORARY_RELEASE,
    MovementKind.RELEASE,
    MovementKind.TRANSFER,
)
# An emergency medical departure leaves on one officer's word; a second one
# must approve it within this long or ``unapproved_departure`` opens.
EMERGENCY_APPROVAL_WITHIN = timedelta(minutes=30)

# Where an internal movement may take someone (all inside the walls).
INTERNAL_DESTINATION_KINDS = ("yard", "workshop", "infirmary", "visit", "interview")

OPEN_MOVEMENT_STATUSES = (
    MovementStatus.REQUESTED,
    MovementStatus.APPROVED,
    MovementStatus.DEPARTED,
)


class MovementSession(models.Model):
    """A unit-level session ("yard, B block, 10:00-11:00"): one internal
    movement per person of the unit, started together and ended together
    (early, by an officer, or paired one by one as people are seen back)."""

    facility = models.ForeignKey(
        Facility,
        on_delete=models.PROTECT,
        related_name="movement_sessions",
        verbose_name=_("facility"),
    )
    unit = models.ForeignKey(
        Location, on_delete=models.PROTECT, related_name="+", verbose_name=_("unit")
    )
    to_location = models.ForeignKey(
        Location, on_delete=models.PROTECT, related_name="+", verbose_name=_("destination")
    )
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    started_at = models.DateTimeField(_("started at"))
    ends_at = models.DateTimeField(_("ends at"))
    # Booking numbers left in their cells (ill, kept apart, refused).
    excluded = models.JSONField(_("left out"), default=list, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = _("movement session")
        verbose_name_plural = _("movement sessions")
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("started_at")), name="session_ends_after_start"
            ),
        ]
        indexes = [
            models.Index(
                fields=["facility", "unit"],
                name="session_open_per_unit",
                condition=Q(ended_at__isnull=True),
            ),
        ]

    def __str__(self):
        return f"{self.unit_id} -> {self.to_location_id} until {self.ends_at:%Y-%m-%d %H:%M}"


class Movement(models.Model):
    """A request to move a person, its approval and its execution.

    The state machine and its rules live in ``custody.services.movements``.
    """

    inmate = models.ForeignKey(
        Inmate, on_delete=models.PROTECT, related_name="movements", verbose_name=_("inmate")
    )
    facility = models.ForeignKey(
        Facility,
        on_delete=models.PROTECT,
        related_name="movements",
        verbose_name=_("facility"),
        help_text=_("Where the movement starts."),
    )
    kind = models.CharField(_("kind"), max_length=24, choices=MovementKind.choices)
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=MovementStatus.choices,
        default=MovementStatus.REQUESTED,
    )
    from_location = models.ForeignKey(
        Location,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("from"),
    )
    to_location = models.ForeignKey(
        Location,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("to location"),
    )
    to_facility = models.ForeignKey(
        Facility,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="incoming_movements",
        verbose_name=_("to facility"),
    )
    destination = models.CharField(
        _("destination"),
        max_length=200,
        blank=True,
        help_text=_("Outside the prison: court, hospital, address."),
    )
    reason = models.TextField(_("reason"), blank=True)
    expected_back_at = models.DateTimeField(_("expected back at"), null=True, blank=True)
    expected_arrival_at = models.DateTimeField(_("expected arrival at"), null=True, blank=True)
    # Null only for changes the system records without a person (seed, bulk
    # import); the ledger names their actor "system". Requests made through
    # the movement services always have an officer.
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    requested_at = models.DateTimeField(_("requested at"))
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    approved_at = models.DateTimeField(_("approved at"), null=True, blank=True)
    departed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    departed_at = models.DateTimeField(_("departed at"), null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    cancel_reason = models.TextField(_("reason for cancelling"), blank=True)
    # A medical emergency may leave before its approval (fixed at request;
    # the database refuses a change, see migration ``_departure_guards``).
    emergency = models.BooleanField(_("emergency"), default=False)
    emergency_reason = models.TextField(_("emergency reason"), blank=True)
    # Internal movements: the unit session that started it, if any, and the
    # observation back in the person's cell that completed it (a check-in or
    # a roll-call mark; check-ins live in a partitioned table, so no FK).
    session = models.ForeignKey(
        MovementSession,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="movements",
        verbose_name=_("session"),
    )
    paired_observation = models.JSONField(_("pairing observation"), null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        verbose_name = _("movement")
        verbose_name_plural = _("movements")
        constraints = [
            # Invariant 1 (the movement half): never two open movements at once.
            models.UniqueConstraint(
                fields=["inmate"],
                condition=Q(status__in=OPEN_MOVEMENT_STATUSES),
                name="one_open_movement_per_inmate",
            ),
            # Invariant 7: maker-checker, in the database too.
            # An internal movement always has a bounded return (no open-ended
            # "in the yard" to hide an escape behind).
            models.CheckConstraint(
                condition=~Q(kind="internal")
                | Q(expected_back_at__isnull=False, to_location__isnull=False),
                name="internal_movement_has_return_and_place",
            ),
            models.CheckConstraint(
                condition=~Q(kind__in=["release", "transfer"])
                | Q(approved_by__isnull=True)
                | ~Q(approved_by=models.F("requested_by")),
                name="release_transfer_two_officers",
            ),
        ]
        indexes = [
            # The reconciler's overdue_return / overdue_transfer queries
            # (alerts.rules), one facility at a time.
            models.Index(
                fields=["facility", "expected_back_at"],
                name="movement_return_due",
                condition=Q(status="departed"),
            ),
            models.Index(
                fields=["facility", "expected_arrival_at"],
                name="movement_arrival_due",
                condition=Q(status="departed", kind="transfer"),
            ),
            models.Index(fields=["facility", "status"], name="movement_facility_status"),
            # The reconciler's unapproved_departure query (alerts.departure_rules).
            models.Index(
                fields=["facility", "departed_at"],
                name="movement_emergency_unapproved",
                condition=Q(emergency=True, approved_by__isnull=True),
            ),
            models.Index(fields=["inmate", "requested_at"], name="movement_inmate_time"),
            # The establishment roll (custody.selectors.roll): who was away at
            # a time, who left and came back during a day.
            models.Index(
                fields=["facility", "departed_at"],
                name="movement_departed_time",
                condition=Q(departed_at__isnull=False),
            ),
            models.Index(
                fields=["facility", "completed_at"],
                name="movement_completed_time",
                condition=Q(departed_at__isnull=False),
            ),
            # The reconciler's unpaired_movement query: internal movements
            # whose return is due, one facility at a time (O(what is due)).
            models.Index(
                fields=["facility", "expected_back_at"],
                name="movement_internal_due",
                condition=Q(status="departed", kind="internal"),
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.inmate_id} ({self.status})"


class ExtensionStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")


class MovementExtension(models.Model):
    """A later return for a departed outing, asked by one officer and applied
    only when another approves it (invariant 7); never edited afterwards."""

    movement = models.ForeignKey(
        Movement, on_delete=models.PROTECT, related_name="extensions", verbose_name=_("movement")
    )
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=ExtensionStatus.choices,
        default=ExtensionStatus.PENDING,
    )
    previous_expected_back_at = models.DateTimeField(_("expected back at, before"))
    expected_back_at = models.DateTimeField(_("expected back at, asked"))
    reason = models.TextField(_("reason"))
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(_("requested at"))
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_reason = models.TextField(_("reason for the decision"), blank=True)

    class Meta:
        ordering = ["requested_at", "id"]
        verbose_name = _("return extension")
        verbose_name_plural = _("return extensions")
        constraints = [
            models.UniqueConstraint(
                fields=["movement"],
                condition=Q(status="pending"),
                name="one_pending_extension_per_movement",
            ),
            # Invariant 7: the officer who asked never approves.
            models.CheckConstraint(
                condition=~Q(status="approved")
                | (
                    Q(decided_by__isnull=False, decided_at__isnull=False)
                    & ~Q(decided_by=models.F("requested_by"))
                ),
                name="extension_approved_by_second_officer",
            ),
        ]

    def __str__(self):
        return f"{self.movement_id} until {self.expected_back_at:%Y-%m-%d %H:%M} ({self.status})"

    @property
    def facility(self) -> Facility:
        """The movement's facility (times are shown in its zone)."""
        return self.movement.facility


class CellAssignment(models.Model):
    """Who was in which cell, from when to when (``ended_at`` null: still there)."""

    inmate = models.ForeignKey(
        Inmate, on_delete=models.PROTECT, related_name="cell_assignments", verbose_name=_("inmate")
    )
    cell = models.ForeignKey(
        Location, on_delete=models.PROTECT, related_name="assignments", verbose_name=_("cell")
    )
    started_at = models.DateTimeField(_("from"))
    ended_at = models.DateTimeField(_("until"), null=True, blank=True)
    started_by = models.ForeignKey(
        Movement, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    ended_by = models.ForeignKey(
        Movement, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["started_at", "id"]
        verbose_name = _("cell assignment")
        verbose_name_plural = _("cell assignments")
        constraints = [
            models.UniqueConstraint(
                fields=["inmate"],
                condition=Q(ended_at__isnull=True),
                name="one_open_cell_assignment",
            ),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=models.F("started_at")),
                name="cell_assignment_ends_after_start",
            ),
        ]
        indexes = [
            models.Index(fields=["cell", "started_at"], name="assignment_cell_time"),
            # The establishment roll at a time (custody.selectors.roll): who
            # held a place then is open, or ended after it.
            models.Index(fields=["cell", "ended_at"], name="assignment_cell_ended"),
        ]

    def __str__(self):
        return f"{self.inmate_id} in {self.cell_id} from {self.started_at:%Y-%m-%d}"

    @property
    def facility(self) -> Facility:
        """The cell's facility (times are shown in its zone)."""
        return self.cell.facility
