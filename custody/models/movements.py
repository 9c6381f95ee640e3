"""Authorised movements of people and the history of cell assignments."""

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


class MovementStatus(models.TextChoices):
    REQUESTED = "requested", _("Requested")
    APPROVED = "approved", _("Approved")
    DEPARTED = "departed", _("Departed")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")


OPEN_MOVEMENT_STATUSES = (
    MovementStatus.REQUESTED,
    MovementStatus.APPROVED,
    MovementStatus.DEPARTED,
)


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
            models.Index(fields=["inmate", "requested_at"], name="movement_inmate_time"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.inmate_id} ({self.status})"


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
        indexes = [models.Index(fields=["cell", "started_at"], name="assignment_cell_time")]

    def __str__(self):
        return f"{self.inmate_id} in {self.cell_id} from {self.started_at:%Y-%m-%d}"

    @property
    def facility(self) -> Facility:
        """The cell's facility (times are shown in its zone)."""
        return self.cell.facility
