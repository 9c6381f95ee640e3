"""Alerts, who must hear about them, and the deliveries that told them.

Rules live in ``alerts.services`` (writes) and ``alerts.selectors`` (reads);
the reconciliation rules in ``alerts.rules``.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from alerts import webhooks
from custody.models import Device, Facility, Inmate, Location, LocationKind, Movement


class AlertKind(models.TextChoices):
    MISSED_CHECKIN = "missed_checkin", _("Missed check-in")
    MISSED_ROLLCALL = "missed_rollcall", _("Missed roll call")
    COUNT_DISCREPANCY = "count_discrepancy", _("Count discrepancy")
    OVERDUE_RETURN = "overdue_return", _("Overdue return")
    OVERDUE_TRANSFER = "overdue_transfer", _("Overdue transfer")
    OUT_OF_PLACE = "out_of_place", _("Out of place")
    IMPOSSIBLE_TRAVEL = "impossible_travel", _("Impossible travel")
    DEVICE_OFFLINE = "device_offline", _("Device offline")
    RECONCILER_STALE = "reconciler_stale", _("Reconciler stopped")
    LEDGER_BROKEN = "ledger_broken", _("Ledger chain broken")
    IDENTITY_UNVERIFIED = "identity_unverified", _("Identity not verified")
    UNIT_SILENT = "unit_silent", _("Unit silent")
    UNAPPROVED_DEPARTURE = "unapproved_departure", _("Unapproved departure")
    UNPAIRED_MOVEMENT = "unpaired_movement", _("Unpaired internal movement")
    MISSED_ROUND = "missed_round", _("Missed round check")
    IMPLAUSIBLE_ROUND = "implausible_round", _("Implausible round")
    ROUND_ATTENTION = "round_attention", _("Needs attention on a round")
    UNCELLED = "uncelled", _("Waiting in reception for a cell")


class Severity(models.TextChoices):
    # A context: "Medium" is also a security level, and Spanish says them apart.
    CRITICAL = "critical", pgettext_lazy("severity", "Critical")
    HIGH = "high", pgettext_lazy("severity", "High")
    MEDIUM = "medium", pgettext_lazy("severity", "Medium")
    LOW = "low", pgettext_lazy("severity", "Low")


# docs/architecture.md's table; the dashboard sorts by rank (0 first).
SEVERITY_OF = {
    AlertKind.MISSED_CHECKIN: Severity.HIGH,
    AlertKind.MISSED_ROLLCALL: Severity.HIGH,
    AlertKind.COUNT_DISCREPANCY: Severity.CRITICAL,
    AlertKind.OVERDUE_RETURN: Severity.HIGH,
    AlertKind.OVERDUE_TRANSFER: Severity.CRITICAL,
    AlertKind.OUT_OF_PLACE: Severity.MEDIUM,
    AlertKind.IMPOSSIBLE_TRAVEL: Severity.HIGH,
    AlertKind.DEVICE_OFFLINE: Severity.MEDIUM,
    AlertKind.RECONCILER_STALE: Severity.CRITICAL,
    AlertKind.LEDGER_BROKEN: Severity.CRITICAL,
    AlertKind.IDENTITY_UNVERIFIED: Severity.HIGH,
    AlertKind.UNIT_SILENT: Severity.CRITICAL,
    AlertKind.UNAPPROVED_DEPARTURE: Severity.CRITICAL,
    AlertKind.UNPAIRED_MOVEMENT: Severity.HIGH,
    # Critical instead when the place or person is on close watch (alerts.rules_rounds).
    AlertKind.MISSED_ROUND: Severity.HIGH,
    AlertKind.IMPLAUSIBLE_ROUND: Severity.HIGH,
    AlertKind.ROUND_ATTENTION: Severity.HIGH,
    AlertKind.UNCELLED: Severity.HIGH,
}
SEVERITY_RANK = {Severity.CRITICAL: 0, Severity.HIGH: 1, Severity.MEDIUM: 2, Severity.LOW: 3}


class AlertStatus(models.TextChoices):
    OPEN = "open", _("Open")
    ACKNOWLEDGED = "acknowledged", _("Acknowledged")
    RESOLVED = "resolved", _("Resolved")


UNRESOLVED = (AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED)


class Alert(models.Model):
    """A gap between what should be and what was seen, and who owns it.

    Never deleted, and frozen once resolved (database triggers); a new
    occurrence after resolution is a new alert.
    """

    # Foreign keys without an index of their own: the composite indexes below
    # start with facility and inmate, and locations, devices and movements are
    # never deleted. Each index costs on every pass that opens alerts.
    facility = models.ForeignKey(
        Facility,
        on_delete=models.PROTECT,
        related_name="alerts",
        verbose_name=_("facility"),
        db_index=False,
    )
    kind = models.CharField(_("kind"), max_length=32, choices=AlertKind.choices)
    severity = models.CharField(_("severity"), max_length=16, choices=Severity.choices)
    # Sort key for "most severe first", so a page of alerts is one index walk.
    severity_rank = models.PositiveSmallIntegerField(editable=False)
    status = models.CharField(
        _("status"), max_length=16, choices=AlertStatus.choices, default=AlertStatus.OPEN
    )
    # kind + subject (``missed_checkin:inmate:42``): invariant 5.
    dedup_key = models.CharField(_("deduplication key"), max_length=128)
    inmate = models.ForeignKey(
        Inmate, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    location = models.ForeignKey(
        Location, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    device = models.ForeignKey(
        Device, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    movement = models.ForeignKey(
        Movement, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    # The deadline or observation that made it fire.
    due_at = models.DateTimeField(_("due at"), null=True, blank=True)
    details = models.JSONField(_("details"), default=dict, blank=True)
    opened_at = models.DateTimeField(_("opened at"))
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    # Null when the world fixed it (the person was seen again): then
    # ``resolved_by_observation`` names what was seen.
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    resolution = models.TextField(_("resolution"), blank=True)
    resolved_by_observation = models.JSONField(_("resolving observation"), null=True, blank=True)
    escalation_level = models.PositiveSmallIntegerField(_("escalation level"), default=0)
    # The alert's clock (alerts.services.escalation): open, when it climbs
    # or, at the top, is sent again; acknowledged, when it climbs (or is sent
    # again) for not being resolved.
    next_escalation_at = models.DateTimeField(_("next escalation at"), null=True, blank=True)
    # The rung its owner stood on when acknowledging: that rung hears again
    # when the alert climbs past the owner unresolved.
    acknowledged_level = models.PositiveSmallIntegerField(
        _("acknowledged at level"), null=True, blank=True
    )
    # When an acknowledged alert must be resolved at its current rung; kept
    # once resolved, so an auditor sees how close to the limit it was closed.
    resolve_by = models.DateTimeField(_("resolve by"), null=True, blank=True)

    class Meta:
        ordering = ["severity_rank", "-opened_at", "-id"]
        verbose_name = _("alert")
        verbose_name_plural = _("alerts")
        constraints = [
            # Invariant 5: two reconcilers racing cannot open the same alert twice.
            models.UniqueConstraint(
                fields=["dedup_key"],
                condition=Q(status__in=UNRESOLVED),
                name="one_unresolved_alert_per_key",
            ),
            # Invariant 6: a resolution is written down and attributed (to a
            # person, or to the observation that fixed it).
            models.CheckConstraint(
                condition=~Q(status="resolved")
                | (
                    Q(resolved_at__isnull=False)
                    & ~Q(resolution="")
                    & (Q(resolved_by__isnull=False) | Q(resolved_by_observation__isnull=False))
                ),
                name="resolved_alert_has_reason_and_author",
            ),
            models.CheckConstraint(
                condition=Q(status="open")
                | Q(acknowledged_at__isnull=False)
                | Q(status="resolved"),
                name="acknowledged_alert_has_time",
            ),
        ]
        indexes = [
            # Each pass locks its facility's unresolved alerts (auto-resolution,
            # escalation); the dashboard lists them.
            models.Index(
                fields=["facility", "kind"],
                name="alert_unresolved",
                condition=Q(status__in=UNRESOLVED),
            ),
            models.Index(fields=["facility", "opened_at"], name="alert_facility_time"),
            models.Index(fields=["inmate", "opened_at"], name="alert_inmate_time"),
            # Re-alerting after a resolution by hand looks up resolved keys.
            models.Index(fields=["dedup_key", "resolved_at"], name="alert_key_resolved"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} #{self.pk} ({self.status})"

    def save(self, *args, **kwargs):
        self.severity_rank = SEVERITY_RANK[self.severity]
        super().save(*args, **kwargs)


class EscalationLevel(models.Model):
    """One rung of a facility's ladder: who hears, how long before the alert
    climbs past them if nobody acknowledges it, and how long its owner has
    to resolve it before it climbs anyway."""

    facility = models.ForeignKey(
        Facility,
        on_delete=models.PROTECT,
        related_name="escalation_levels",
        verbose_name=_("facility"),
    )
    level = models.PositiveSmallIntegerField(
        _("level"), validators=[MaxValueValidator(9)], help_text=_("0 hears first.")
    )
    name = models.CharField(_("name"), max_length=100)
    # Time at this level before climbing; null on the top rung.
    acknowledge_within_seconds = models.PositiveIntegerField(
        _("acknowledge within (seconds)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(10), MaxValueValidator(24 * 3600)],
    )
    # Time an acknowledged alert may stay unresolved at this rung before it
    # climbs; null takes the default for the alert's severity.
    resolve_within_seconds = models.PositiveIntegerField(
        _("resolve within (seconds)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(10), MaxValueValidator(7 * 24 * 3600)],
    )
    # At the top rung: notify again this often until acknowledged, and while
    # an acknowledged alert stays unresolved past its resolve time.
    repeat_every_seconds = models.PositiveIntegerField(
        _("repeat every (seconds)"),
        default=900,
        validators=[MinValueValidator(10), MaxValueValidator(24 * 3600)],
    )

    class Meta:
        ordering = ["facility__code", "level"]
        verbose_name = _("escalation level")
        verbose_name_plural = _("escalation levels")
        constraints = [
            models.UniqueConstraint(fields=["facility", "level"], name="one_rung_per_level"),
        ]

    def __str__(self):
        return f"{self.facility.code} L{self.level} {self.name}"


class ChannelKind(models.TextChoices):
    EMAIL = "email", _("E-mail")
    WEBHOOK = "webhook", _("Signed webhook")


class ChannelPurpose(models.TextChoices):
    ALERTS = "alerts", _("Alerts")
    WITNESS = "witness", _("Ledger witness (signed chain heads)")
    BOTH = "both", _("Alerts and ledger witness")


class NotificationChannel(models.Model):
    """Where one rung's people are reached: an e-mail address, or a webhook
    (SMS gateway, radio dispatch, pager) whose requests are signed."""

    facility = models.ForeignKey(
        Facility,
        on_delete=models.PROTECT,
        related_name="notification_channels",
        verbose_name=_("facility"),
    )
    level = models.PositiveSmallIntegerField(_("escalation level"), default=0)
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=16, choices=ChannelKind.choices)
    target = models.CharField(_("address or URL"), max_length=500)
    # HMAC-SHA256 key the receiver checks ``X-Custody-Signature`` with.
    secret = models.CharField(_("signing secret"), max_length=128, blank=True)
    min_severity = models.CharField(
        _("lowest severity sent"),
        max_length=16,
        choices=Severity.choices,
        default=Severity.MEDIUM,
    )
    # A unit supervisor's pager hears only about their own unit.
    unit = models.ForeignKey(
        Location,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("only this unit"),
        help_text=_("Empty: alerts of the whole facility."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    # An auditors' mailbox or an outside archive keeps a copy of every signed
    # chain head, so the witness also lives off this server.
    purpose = models.CharField(
        _("purpose"),
        max_length=16,
        choices=ChannelPurpose.choices,
        default=ChannelPurpose.ALERTS,
        help_text=_("Ledger witness: each signed chain head of the facility is sent here."),
    )

    class Meta:
        ordering = ["facility__code", "level", "name"]
        verbose_name = _("notification channel")
        verbose_name_plural = _("notification channels")
        constraints = [
            models.UniqueConstraint(fields=["facility", "name"], name="channel_name_per_facility"),
        ]

    def __str__(self):
        return f"{self.facility.code} L{self.level} {self.name}"

    def clean(self):
        errors = {}
        if self.unit_id and (
            self.unit.facility_id != self.facility_id or self.unit.kind != LocationKind.UNIT
        ):
            errors["unit"] = _("Choose a unit of this facility.")
        # An inactive channel may keep an old target, so that switching one off
        # never needs fixing it first; switching it back on does.
        if self.kind == ChannelKind.WEBHOOK and self.is_active:
            errors.update(webhook_problems(self))
        if errors:
            raise ValidationError(errors)

    def webhook_problem(self) -> str | None:
        """Why this webhook may not be sent to now, or None (checked at send time)."""
        problems = webhook_problems(self)
        return " ".join(str(p) for p in problems.values()) or None

    def hears(self, alert: "Alert") -> bool:
        """Whether this channel is told about ``alert`` (rung aside)."""
        if self.purpose == ChannelPurpose.WITNESS or self.facility_id != alert.facility_id:
            return False
        if SEVERITY_RANK[alert.severity] > SEVERITY_RANK[self.min_severity]:
            return False
        return self.unit_id is None or self.unit_id == alert_unit_id(alert)


def webhook_problems(channel: NotificationChannel) -> dict[str, str]:
    problems = {"target": webhooks.target_problem(channel.target)}
    problems["secret"] = webhooks.secret_problem(channel.secret)
    return {field: problem for field, problem in problems.items() if problem}


def alert_unit_id(alert: "Alert") -> int | None:
    """The unit an alert's place lies in: the place itself if it is a unit,
    else its parent (a cell's unit). Needs ``alert.location`` loaded."""
    location = alert.location if alert.location_id else None
    if location is None:
        return None
    return location.pk if location.kind == LocationKind.UNIT else location.parent_id


class NotificationEvent(models.TextChoices):
    OPENED = "opened", _("Opened")
    ESCALATED = "escalated", _("Escalated")
    # Acknowledged and not resolved in time: climbed past its owner, or sent
    # again at the top rung (to the owner's rung too).
    OVERDUE = "overdue", _("Acknowledged, not resolved")
    # At the top rung, still nobody acknowledged it: sent again.
    REPEATED = "repeated", _("Still not acknowledged")
    RESOLVED = "resolved", _("Resolved")


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed for good")


class Notification(models.Model):
    """One message to one channel about one step of one alert: the outbox
    (``pending`` until sent, retried with back-off) and its history.

    At least once: a worker that dies after sending but before recording it
    leaves the row claimed until ``next_attempt_at``, then it goes again; the
    receiver deduplicates on ``X-Custody-Delivery``.
    """

    # one_delivery_per_step starts with alert: no index of its own.
    alert = models.ForeignKey(
        Alert, on_delete=models.PROTECT, related_name="notifications", db_index=False
    )
    channel = models.ForeignKey(
        NotificationChannel, on_delete=models.PROTECT, related_name="deliveries"
    )
    event = models.CharField(_("event"), max_length=16, choices=NotificationEvent.choices)
    level = models.PositiveSmallIntegerField(_("escalation level"))
    # 0 for a step's first message; 1, 2 … for each time the top rung is told again.
    round = models.PositiveIntegerField(_("round"), default=0)
    status = models.CharField(
        _("status"), max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    created_at = models.DateTimeField(_("created at"))
    next_attempt_at = models.DateTimeField(_("next attempt at"))
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        constraints = [
            models.UniqueConstraint(
                fields=["alert", "channel", "event", "level", "round"],
                name="one_delivery_per_step_round",
            ),
        ]
        indexes = [
            # The delivery sweep (alerts.services.notify.deliver_due).
            models.Index(
                fields=["next_attempt_at"],
                name="notification_due",
                condition=Q(status="pending"),
            ),
        ]

    def __str__(self):
        return f"{self.event} #{self.alert_id} → {self.channel.name} ({self.status})"


class WitnessDelivery(models.Model):
    """One signed chain head to one witness channel: the witness's outbox,
    delivered at least once like ``Notification`` (the receiver deduplicates
    on ``X-Custody-Delivery``)."""

    channel = models.ForeignKey(
        NotificationChannel, on_delete=models.PROTECT, related_name="witness_deliveries"
    )
    line = models.JSONField(_("signed head"))
    status = models.CharField(
        _("status"), max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    created_at = models.DateTimeField(_("created at"))
    next_attempt_at = models.DateTimeField(_("next attempt at"))
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("witness delivery")
        verbose_name_plural = _("witness deliveries")
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="witness_delivery_due",
                condition=Q(status="pending"),
            ),
        ]

    def __str__(self):
        return f"{self.line.get('facility')}#{self.line.get('seq')} → {self.channel_id}"


class ReconcilerState(models.Model):
    """Each facility's last reconciliation pass (``/healthz`` reads it:
    invariant 8), and where the scan of new check-ins stopped."""

    facility = models.OneToOneField(
        Facility, on_delete=models.PROTECT, primary_key=True, related_name="+"
    )
    last_pass_at = models.DateTimeField(null=True, blank=True)
    last_pass_ms = models.FloatField(null=True, blank=True)
    # New check-ins are read from here on (out_of_place, impossible_travel).
    checkins_read_until = models.DateTimeField(null=True, blank=True)
    # identity_unverified counts nobody's identity window from before this:
    # set to the deploy time for the facilities the rule found already
    # running, so each person gets one whole window to give a biometric
    # instead of an alert for everyone at once. Null: from admission.
    identity_watch_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("reconciler state")
        verbose_name_plural = _("reconciler states")

    def __str__(self):
        return f"{self.facility_id} @ {self.last_pass_at}"


class ReconcilerStart(models.Model):
    """A Celery worker came up (``alerts.tasks``): it reconciles at once, and
    the watchdog gives that first pass its period before calling the
    reconciler stale (``alerts.services.policy.within_start_grace``). Kept,
    one row per start, so an auditor sees every restart and every grace."""

    started_at = models.DateTimeField(_("started at"), db_index=True)
    hostname = models.CharField(_("host name"), max_length=255, blank=True)
    pid = models.PositiveIntegerField(_("process id"), null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        verbose_name = _("reconciler start")
        verbose_name_plural = _("reconciler starts")

    def __str__(self):
        return f"{self.hostname or '?'}:{self.pid or '?'} @ {self.started_at}"


class AlertPolicy(models.Model):
    """A facility's limits for the rules that are not about schedules."""

    facility = models.OneToOneField(
        Facility, on_delete=models.PROTECT, primary_key=True, related_name="alert_policy"
    )
    device_offline_after_seconds = models.PositiveIntegerField(
        _("device silent for (seconds)"),
        default=600,
        validators=[MinValueValidator(60), MaxValueValidator(7 * 24 * 3600)],
    )
    # Walking time between two units; two sightings closer than this in two
    # units mean a shared finger, a cloned tag, or a record made up.
    travel_between_units_seconds = models.PositiveIntegerField(
        _("shortest walk between units (seconds)"),
        default=120,
        validators=[MinValueValidator(0), MaxValueValidator(3600)],
    )
    # Inside one unit an officer needs at least this long per cell: two tag
    # scans closer than that (or than the walk between two units) are a
    # round made up, or tags carried around (implausible_round).
    round_seconds_per_cell = models.PositiveIntegerField(
        _("shortest time per cell on a round (seconds)"),
        default=5,
        db_default=5,
        validators=[MaxValueValidator(600)],
    )
    movement_grace_seconds = models.PositiveIntegerField(
        _("grace for returns and arrivals (seconds)"),
        default=300,
        validators=[MaxValueValidator(3600)],
    )

    class Meta:
        verbose_name = _("alert policy")
        verbose_name_plural = _("alert policies")

    def __str__(self):
        return f"{self.facility_id}"
