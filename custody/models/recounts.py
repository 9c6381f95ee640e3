"""Verification of a count is a recount (docs/api.md "Roll calls").

When a second officer starts verifying a submitted count, the server draws a
sample of its roster (``CountVerification.sample``: a share of the people
marked present, never fewer than a floor, and always everyone whose mark was
only a person's word). The verifier marks each sampled person without being
shown the first officer's marks (``RecountMark``, append-only). A sampled
person not found present leaves the count unverified and becomes a
discrepancy naming both officers.

The database keeps the draw from being redone or rewritten: a verification
is never deleted, its sample and verifier never change, and once finished it
never changes at all (``custody.migrations.0021_recounts``).
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from custody.models.checkins import CheckInMethod
from custody.models.records import Facility, Inmate
from custody.models.rollcalls import RollCall


class RecountStatus(models.TextChoices):
    PRESENT = "present", _("Present")
    ABSENT = "absent", _("Absent")


class CountVerification(models.Model):
    rollcall = models.OneToOneField(
        RollCall,
        on_delete=models.PROTECT,
        related_name="verification",
        verbose_name=_("roll call"),
    )
    facility = models.ForeignKey(
        Facility, on_delete=models.PROTECT, related_name="+", verbose_name=_("facility")
    )
    verifier = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("verifier"),
    )
    drawn_at = models.DateTimeField(_("sample drawn at"))
    # [{"inmate_id", "inmate", "name", "cell", "reason"}]: what was drawn and why.
    sample = models.JSONField(_("sample"))
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    # The sampled people the verifier did not find present: [{"inmate", "name", "cell", "marked"}].
    missing = models.JSONField(_("not found by the recount"), default=list, blank=True)

    class Meta:
        verbose_name = _("count verification")
        verbose_name_plural = _("count verifications")
        indexes = [
            # count_discrepancy: recounts finished since the last pass.
            models.Index(fields=["facility", "finished_at"], name="recount_facility_finished"),
        ]

    def __str__(self):
        return f"{self.rollcall_id} verified by {self.verifier_id}"

    @property
    def sampled_ids(self) -> set[int]:
        return {row["inmate_id"] for row in self.sample}


class RecountMark(models.Model):
    """One mark of the recount. Append-only; the latest by its own time counts."""

    # Made by the tablet: the idempotency key of a queued, retried mark.
    id = models.UUIDField(primary_key=True, editable=False)
    verification = models.ForeignKey(
        CountVerification,
        on_delete=models.PROTECT,
        related_name="marks",
        verbose_name=_("verification"),
    )
    inmate = models.ForeignKey(
        Inmate, on_delete=models.PROTECT, related_name="+", verbose_name=_("inmate")
    )
    status = models.CharField(_("status"), max_length=16, choices=RecountStatus.choices)
    method = models.CharField(_("method"), max_length=16, choices=CheckInMethod.choices)
    observed_at = models.DateTimeField(_("observed at"))
    received_at = models.DateTimeField(_("received at"))
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("recorded by"),
    )

    class Meta:
        ordering = ["observed_at", "received_at"]
        verbose_name = _("recount mark")
        verbose_name_plural = _("recount marks")
        indexes = [
            models.Index(
                fields=["verification", "inmate", "observed_at"], name="recount_mark_person"
            )
        ]

    def __str__(self):
        return f"{self.inmate_id} {self.status} @ {self.observed_at:%H:%M:%S}"
