"""The tamper-evident custody ledger: one hash chain per facility (invariant 4)."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from custody.models.records import Facility

# The chain of a new facility starts from this value (64 zeros).
GENESIS_HASH = "0" * 64


class LedgerEvent(models.Model):
    """One custody-relevant change. Append-only: the database refuses UPDATE,
    DELETE and TRUNCATE (invariant 3). ``hash = sha256(prev_hash + canonical
    JSON of the event)``; see ``custody.services.ledger``."""

    # ledger_seq_per_facility starts with it: no index of its own, one less
    # on every check-in batch's ledger insert.
    facility = models.ForeignKey(
        Facility,
        on_delete=models.PROTECT,
        related_name="ledger_events",
        verbose_name=_("facility"),
        db_index=False,
    )
    seq = models.PositiveBigIntegerField(_("sequence number"))
    at = models.DateTimeField(_("at"))
    actor = models.CharField(
        _("actor"),
        max_length=200,
        help_text=_("Who did it: user:<username>, device:<id> or system."),
    )
    action = models.CharField(_("action"), max_length=64)
    subject = models.CharField(
        _("subject"), max_length=200, help_text=_("What it is about, e.g. inmate:<booking number>.")
    )
    data = models.JSONField(_("data"), default=dict)
    prev_hash = models.CharField(_("previous hash"), max_length=64)
    hash = models.CharField(_("hash"), max_length=64)

    class Meta:
        ordering = ["facility", "seq"]
        verbose_name = _("ledger event")
        verbose_name_plural = _("ledger events")
        constraints = [
            models.UniqueConstraint(fields=["facility", "seq"], name="ledger_seq_per_facility"),
        ]
        indexes = [
            models.Index(fields=["facility", "subject", "seq"], name="ledger_subject"),
            models.Index(fields=["facility", "at"], name="ledger_at"),
        ]

    def __str__(self):
        return f"{self.facility_id}#{self.seq} {self.action} {self.subject}"


class LedgerHead(models.Model):
    """The last link of a facility's chain. Writers lock this row, so appends
    to one facility are serialised while facilities proceed in parallel; it
    also lets verification notice events cut off the end of the chain."""

    facility = models.OneToOneField(
        Facility, on_delete=models.PROTECT, primary_key=True, related_name="ledger_head"
    )
    seq = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64, default=GENESIS_HASH)

    class Meta:
        verbose_name = _("ledger head")
        verbose_name_plural = _("ledger heads")

    def __str__(self):
        return f"{self.facility_id}#{self.seq} {self.hash[:12]}"


class LedgerJobKind(models.TextChoices):
    VERIFY = "verify", _("Verification")
    EXPORT = "export", _("Chain export")


class LedgerJobStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class LedgerJob(models.Model):
    """A verification or chain export asked for on the auditor's page, run by
    a worker (a whole chain is minutes of reading at national scale, too long
    for a web request); the row keeps its result for the page to show."""

    kind = models.CharField(_("kind"), max_length=16, choices=LedgerJobKind.choices)
    facility = models.ForeignKey(
        Facility, on_delete=models.PROTECT, related_name="+", verbose_name=_("facility")
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("requested by"),
    )
    status = models.CharField(
        _("status"), max_length=16, choices=LedgerJobStatus.choices, default=LedgerJobStatus.QUEUED
    )
    # Exports: the chain up to this seq (the head when it was asked for).
    up_to_seq = models.PositiveBigIntegerField(_("up to seq"), null=True, blank=True)
    result = models.JSONField(_("result"), default=dict, blank=True)
    # Exports: the finished file, relative to LEDGER_EXPORT_DIR.
    file_name = models.CharField(_("file"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("ledger job")
        verbose_name_plural = _("ledger jobs")
        indexes = [
            models.Index(fields=["facility", "created_at"], name="ledgerjob_facility_time"),
            # The sweep that runs again what the broker lost.
            models.Index(
                fields=["created_at"],
                name="ledgerjob_unfinished",
                condition=models.Q(status__in=["queued", "running"]),
            ),
        ]

    def __str__(self):
        return f"{self.kind} {self.facility_id} #{self.pk} ({self.status})"
