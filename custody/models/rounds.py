"""Observation rounds: a guard proves being at a cell by scanning its tag, and
says, for each person in it, what they saw (docs/api.md "Rounds").

Counts say who is there; rounds say that someone looked, at each cell, often
enough, at times nobody could predict. Tags are never reassigned (a retired
uid stays taken), round checks and observations are append-only (database
triggers, ``custody.migrations._round_guards``).
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from custody.models.records import Device, Facility, Inmate, Location
from custody.models.watch_levels import WatchLevel


class TagKind(models.TextChoices):
    RFID = "rfid", _("RFID tag")
    NFC = "nfc", _("NFC tag")
    QR = "qr", _("Printed QR code")


class LocationTag(models.Model):
    """A tag fixed at a place (a cell door, a corridor checkpoint): scanning it
    is the proof that the officer stood there. A uid belongs to one place of a
    facility forever: retired, never deleted, never given to another place
    (database trigger: only the retirement may be written, once)."""

    facility = models.ForeignKey(
        Facility, on_delete=models.PROTECT, related_name="+", verbose_name=_("facility")
    )
    location = models.ForeignKey(
        Location, on_delete=models.PROTECT, related_name="tags", verbose_name=_("location")
    )
    # Normalised (custody.services.round_tags.normalise_uid): upper case,
    # no separators, so "04:a2:1b" and "04A21B" are one tag.
    uid = models.CharField(_("tag uid"), max_length=128)
    kind = models.CharField(_("kind"), max_length=8, choices=TagKind.choices)
    label = models.CharField(_("label"), max_length=100, blank=True)
    registered_at = models.DateTimeField(_("registered at"))
    registered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    retired_at = models.DateTimeField(_("retired at"), null=True, blank=True)
    retired_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    retire_reason = models.TextField(_("reason for retiring"), blank=True)

    class Meta:
        ordering = ["location__code", "registered_at", "id"]
        verbose_name = _("location tag")
        verbose_name_plural = _("location tags")
        constraints = [
            # Among every tag ever registered, retired ones too: a uid that
            # once proved one cell can never prove another.
            models.UniqueConstraint(fields=["facility", "uid"], name="tag_uid_once_per_facility"),
            models.CheckConstraint(
                condition=Q(retired_at__isnull=True, retired_by__isnull=True)
                | (Q(retired_at__isnull=False, retired_by__isnull=False) & ~Q(retire_reason="")),
                name="retired_tag_has_reason_and_author",
            ),
        ]
        indexes = [models.Index(fields=["location", "registered_at"], name="tag_location")]

    def __str__(self):
        return f"{self.uid} → {self.location_id}"

    @property
    def is_active(self) -> bool:
        return self.retired_at is None


class ObservationState(models.TextChoices):
    SEEN_ALIVE = "seen_alive", _("Seen, alive and well")
    NEEDS_ATTENTION = "needs_attention", _("Needs attention")
    VIEW_OBSTRUCTED = "view_obstructed", _("View obstructed")

    @classmethod
    def raising(cls) -> frozenset[str]:
        # Open a round_attention alert to the unit's supervisor at once.
        return frozenset({cls.NEEDS_ATTENTION, cls.VIEW_OBSTRUCTED})


class RoundCheck(models.Model):
    """One tag scan by an officer on an enrolled device: proof of presence at
    a place at a time. Append-only. ``id`` is made by the device and is the
    idempotency key of a retried, offline-buffered item."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No single-column indexes: the composite ones below start with facility,
    # location and officer, and each index costs on every batch.
    facility = models.ForeignKey(
        Facility,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("facility"),
        db_index=False,
    )
    location = models.ForeignKey(
        Location,
        on_delete=models.PROTECT,
        related_name="round_checks",
        verbose_name=_("location"),
        db_index=False,
    )
    tag = models.ForeignKey(
        LocationTag,
        on_delete=models.PROTECT,
        related_name="checks",
        verbose_name=_("tag"),
        db_index=False,
    )
    officer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("officer"),
        db_index=False,
    )
    device = models.ForeignKey(
        Device, on_delete=models.PROTECT, related_name="+", verbose_name=_("device"), db_index=False
    )
    scanned_at = models.DateTimeField(_("scanned at"))
    received_at = models.DateTimeField(_("received at"))
    # The level that applied and the next check drawn at random after this
    # one (kept, so an auditor can replay the schedule the tablet was given).
    watch_level = models.CharField(_("watch level"), max_length=16, choices=WatchLevel.choices)
    next_due_at = models.DateTimeField(_("next check due at"))
    # Seconds since this place's previous check (null: its first); what the
    # regularity selector reads (custody.selectors.rounds.round_regularity).
    interval_seconds = models.PositiveIntegerField(_("interval (seconds)"), null=True, blank=True)

    class Meta:
        ordering = ["scanned_at", "received_at"]
        verbose_name = _("round check")
        verbose_name_plural = _("round checks")
        indexes = [
            # A place's checks in time order (regularity, compliance report).
            models.Index(fields=["location", "scanned_at"], name="round_location_time"),
            # One officer's scans in time order (implausible_round).
            models.Index(fields=["officer", "scanned_at"], name="round_officer_time"),
            # The reconciler reads new scans since its last pass.
            models.Index(fields=["facility", "received_at"], name="round_facility_received"),
        ]

    def __str__(self):
        return f"{self.location_id} @ {self.scanned_at:%Y-%m-%d %H:%M:%S}"


class RoundObservation(models.Model):
    """What the officer saw of one person at a round check. Append-only."""

    # one_observation_per_person_per_check starts with it.
    round_check = models.ForeignKey(
        RoundCheck,
        on_delete=models.PROTECT,
        related_name="observations",
        verbose_name=_("round check"),
        db_index=False,
    )
    inmate = models.ForeignKey(
        Inmate, on_delete=models.PROTECT, related_name="round_observations", db_index=False
    )
    state = models.CharField(_("state"), max_length=16, choices=ObservationState.choices)
    # Copied from the check: a person's rounds, and the observations that
    # need someone (round_attention), are read without a join.
    facility = models.ForeignKey(
        Facility, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    observed_at = models.DateTimeField(_("observed at"))

    class Meta:
        ordering = ["observed_at", "id"]
        verbose_name = _("round observation")
        verbose_name_plural = _("round observations")
        constraints = [
            models.UniqueConstraint(
                fields=["round_check", "inmate"], name="one_observation_per_person_per_check"
            )
        ]
        indexes = [
            models.Index(fields=["inmate", "observed_at"], name="round_obs_inmate_time"),
            # round_attention: the few that were not "seen alive".
            models.Index(
                fields=["facility", "observed_at"],
                name="round_obs_attention",
                condition=~Q(state="seen_alive"),
            ),
        ]

    def __str__(self):
        return f"{self.inmate_id} {self.state} @ {self.observed_at:%H:%M:%S}"
