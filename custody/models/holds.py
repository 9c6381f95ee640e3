"""Legal holds: records an investigation needs keep off the archive.

A hold names a facility and a period, optionally narrowed to a person or a
place (for whoever reads it: archiving works by month and facility, so a
hold keeps every month its period touches in that facility online). It is
placed by a supervisor or an administrator and lifted only by two officers:
one asks, another approves (``custody.services.holds``). The database keeps
it: never deleted, and only the lifting columns change, each once
(migration 0028).
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from custody.models.records import Facility, Inmate, Location


class LegalHold(models.Model):
    facility = models.ForeignKey(
        Facility, on_delete=models.PROTECT, related_name="legal_holds", verbose_name=_("facility")
    )
    inmate = models.ForeignKey(
        Inmate,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("person"),
    )
    location = models.ForeignKey(
        Location,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("location"),
    )
    period_start = models.DateTimeField(_("period start"))
    # Open-ended (until lifted) when empty.
    period_end = models.DateTimeField(_("period end"), null=True, blank=True)
    reason = models.TextField(_("reason"))
    placed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    placed_at = models.DateTimeField(_("placed at"))
    lift_reason = models.TextField(_("why it may be lifted"), blank=True)
    lift_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    lift_requested_at = models.DateTimeField(_("lift requested at"), null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    lifted_at = models.DateTimeField(_("lifted at"), null=True, blank=True)

    class Meta:
        ordering = ["-placed_at", "-id"]
        verbose_name = _("legal hold")
        verbose_name_plural = _("legal holds")
        indexes = [
            models.Index(
                fields=["facility", "period_start"],
                name="hold_active_per_facility",
                condition=Q(lifted_at__isnull=True),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(period_end__isnull=True) | Q(period_end__gt=F("period_start")),
                name="hold_period_ends_after_start",
            ),
            # Two officers: whoever asked never approves the lifting.
            models.CheckConstraint(
                condition=Q(lifted_by__isnull=True)
                | (
                    Q(lift_requested_by__isnull=False)
                    & ~Q(lifted_by=F("lift_requested_by"))
                    & Q(lifted_at__isnull=False)
                ),
                name="hold_lifted_by_a_second_officer",
            ),
            models.CheckConstraint(
                condition=Q(lift_requested_by__isnull=True)
                | (Q(lift_requested_at__isnull=False) & ~Q(lift_reason="")),
                name="hold_lift_request_complete",
            ),
        ]

    def __str__(self):
        return f"hold #{self.pk} {self.facility_id} ({self.period_start:%Y-%m-%d})"

    @property
    def is_active(self) -> bool:
        return self.lifted_at is None
