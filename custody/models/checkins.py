"""Positive observations of people, and the scans that could not be accepted."""

import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from custody.models.records import Device, Facility, Inmate, Location

# Readers buffer scans while offline; older than this is no longer evidence of
# where someone is now (docs/api.md).
MAX_CHECKIN_AGE = timedelta(hours=72)


class CheckInMethod(models.TextChoices):
    FINGERPRINT = "fingerprint", _("Fingerprint")
    FACE = "face", _("Face")
    IRIS = "iris", _("Iris")
    RFID = "rfid", _("RFID tag")
    VISUAL = "visual", _("Visual (a guard's eyes)")
    MANUAL = "manual", _("Manual (typed or read off a wristband)")

    @classmethod
    def biometric(cls) -> frozenset[str]:
        # A match of the person's body. RFID proves the tag was read, not whose
        # wrist it was on (a cut-off tag can be carried), so it is a machine
        # read but not biometric; ``visual`` and ``manual`` are a person's word.
        return frozenset({cls.FINGERPRINT, cls.FACE, cls.IRIS})

    @classmethod
    def identity(cls) -> frozenset[str]:
        # What proves who the person is (identity_unverified): a tag can be
        # worn by anyone, and a person's word is no proof.
        return frozenset({cls.FINGERPRINT, cls.FACE, cls.IRIS})


class CheckIn(models.Model):
    """One positive observation. Append-only (invariant 3).

    In PostgreSQL the table is partitioned by month of ``observed_at`` (so old
    months can be archived) and its primary key is ``(id, observed_at)``; the
    migration creates it by hand. ``id`` is made by the device and is the
    idempotency key.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    observed_at = models.DateTimeField(_("observed at"))
    received_at = models.DateTimeField(_("received at"))
    facility = models.ForeignKey(
        Facility, on_delete=models.PROTECT, related_name="+", verbose_name=_("facility")
    )
    inmate = models.ForeignKey(
        Inmate, on_delete=models.PROTECT, related_name="checkins", verbose_name=_("inmate")
    )
    location = models.ForeignKey(
        Location, on_delete=models.PROTECT, related_name="+", verbose_name=_("location")
    )
    method = models.CharField(_("method"), max_length=16, choices=CheckInMethod.choices)
    is_biometric = models.BooleanField(_("biometric"))
    score = models.FloatField(_("match score"), null=True, blank=True)
    device = models.ForeignKey(
        Device, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("recorded by"),
    )
    out_of_place = models.BooleanField(
        _("out of place"),
        default=False,
        help_text=_("Seen where neither the cell nor an open movement puts the person."),
    )

    class Meta:
        ordering = ["observed_at"]
        verbose_name = _("check-in")
        verbose_name_plural = _("check-ins")
        indexes = [
            # A person's checks in time order; covering the facility lets the
            # history count them (scoped to the caller's facilities) from the
            # index alone (PostgreSQL; other databases ignore ``include``).
            models.Index(
                fields=["inmate", "observed_at"], name="checkin_inmate_time", include=["facility"]
            ),
            # Who was seen in a place between two times (selectors.occupancy).
            models.Index(fields=["location", "observed_at"], name="checkin_location_time"),
            # An officer's checks (alerts.audit.officers); readers record none.
            models.Index(
                fields=["recorded_by", "observed_at"],
                name="checkin_recorder_time",
                condition=models.Q(recorded_by__isnull=False),
            ),
            # The reconciler reads only new out-of-place scans.
            models.Index(
                fields=["facility", "received_at"],
                name="checkin_out_of_place",
                condition=models.Q(out_of_place=True),
            ),
        ]

    def __str__(self):
        return f"{self.id} {self.method} @ {self.observed_at:%Y-%m-%d %H:%M}"


class QuarantineSource(models.TextChoices):
    CHECKINS = "checkins", _("Check-ins")
    ROUNDS = "rounds", _("Round checks")


class QuarantinedCheckIn(models.Model):
    """A scan that could not be accepted, kept as it arrived with the reasons.

    An unknown booking number at a reader, a clock far in the past or another
    facility's prisoner are themselves worth investigating. Append-only.
    """

    received_at = models.DateTimeField(_("received at"))
    facility = models.ForeignKey(
        Facility, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    device = models.ForeignKey(
        Device, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    item_id = models.CharField(_("item id"), max_length=64, blank=True)
    # Which batch API refused it: check-ins, or round checks (same rules:
    # never lost, kept as received, one copy per sender and item).
    source = models.CharField(
        _("source"),
        max_length=16,
        choices=QuarantineSource.choices,
        default=QuarantineSource.CHECKINS,
        db_default=QuarantineSource.CHECKINS,
    )
    reason = models.CharField(_("reason"), max_length=32)
    errors = models.JSONField(_("errors"))
    raw = models.JSONField(_("item as received"))
    # sha256 of sender + raw item (+ the facility, for a reject kept under each
    # of a sender's facilities): a retried request does not quarantine twice.
    fingerprint = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["-received_at"]
        verbose_name = _("quarantined check-in")
        verbose_name_plural = _("quarantined check-ins")
        indexes = [models.Index(fields=["facility", "received_at"], name="quarantine_facility")]

    def __str__(self):
        return f"{self.item_id or '?'}: {self.reason}"
