"""Changes that weaken surveillance, waiting for a second officer (invariant 7).

The rules (what is weaker, who may approve, when one goes stale or expires)
live in ``custody.services.changes``; this row is the proposal and its fate.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from custody.models.records import Facility


class ChangeStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    EXPIRED = "expired", _("Expired")


class PendingChange(models.Model):
    """A proposed edit of one record (``kind`` + ``target_id``) that weakens
    surveillance. ``proposed`` holds the new values, ``baseline`` the values
    of the same fields when it was proposed: approval applies ``proposed``
    only while the record still holds ``baseline`` (else it is stale)."""

    facility = models.ForeignKey(
        Facility,
        on_delete=models.PROTECT,
        related_name="pending_changes",
        verbose_name=_("facility"),
    )
    kind = models.CharField(_("kind"), max_length=64)
    target_id = models.CharField(_("target"), max_length=64)
    target_label = models.CharField(_("target label"), max_length=200)
    proposed = models.JSONField(_("proposed values"))
    baseline = models.JSONField(_("values when proposed"))
    weakened = models.JSONField(_("fields that weaken"), default=list)
    status = models.CharField(
        _("status"), max_length=16, choices=ChangeStatus.choices, default=ChangeStatus.PENDING
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("requested by"),
    )
    requested_at = models.DateTimeField(_("requested at"))
    expires_at = models.DateTimeField(_("expires at"))
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    reason = models.TextField(_("reason"), blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        verbose_name = _("pending change")
        verbose_name_plural = _("pending changes")
        indexes = [
            # The dashboard's and the expiry pass's question: what waits, per facility.
            models.Index(
                fields=["facility", "expires_at"],
                name="change_pending_per_facility",
                condition=Q(status="pending"),
            ),
        ]
        constraints = [
            # Invariant 7 in the database: the author never approves their own change.
            models.CheckConstraint(
                condition=~Q(status="approved") | ~Q(decided_by=F("requested_by")),
                name="change_approved_by_another",
            ),
            models.CheckConstraint(
                condition=Q(status="pending") | Q(decided_at__isnull=False),
                name="change_decided_has_time",
            ),
        ]

    def __str__(self):
        return f"{self.kind} {self.target_label} ({self.status})"
