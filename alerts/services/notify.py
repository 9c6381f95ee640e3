"""The notification outbox: a row per message, delivered at least once.

Rows are written in the same transaction as the alert step they announce;
a task sweeps due rows (woken on commit, and by beat every reconcile period),
so an alert opened while Redis is down goes out once it is back.
"""

import hashlib
import hmac
import json
import logging
import smtplib
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import requests
from django.conf import settings
from django.core.mail import send_mail
from django.db import connections, transaction
from django.db.models import F
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from alerts.models import (
    Alert,
    ChannelKind,
    DeliveryStatus,
    Notification,
    NotificationChannel,
    NotificationEvent,
)

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 10
# A claimed row is retried after this if its worker died mid-send.
CLAIM_LEASE = timedelta(seconds=60)
WEBHOOK_TIMEOUT = (3.05, 10)
# Rows claimed at once: CLAIM_BATCH × the slowest send stays inside the lease.
CLAIM_BATCH = 4
RETRYABLE_HTTP = {408, 425, 429}


class TransientError(Exception):
    """Worth another try later (network, 5xx, a full mailbox)."""


class PermanentError(Exception):
    """No retry will help (bad address, 4xx refusal); marked failed for a person to see."""


def backoff(attempts: int) -> timedelta:
    """5 s, 10 s, 20 s … capped at 15 min."""
    return timedelta(seconds=min(5 * 2 ** max(attempts - 1, 0), 900))


@dataclass(frozen=True)
class Step:
    alert: Alert
    event: str
    level: int  # the alert's rung the step is about
    round: int = 0  # the top rung told again: 1, 2 …
    # Whose channels hear it, when not the rung's own: the owner's rung.
    channel_level: int | None = None

    @property
    def heard_at(self) -> int:
        return self.level if self.channel_level is None else self.channel_level


def notifications_create(*, steps: list[Step], now: datetime) -> int:
    """One pending row per (step, active channel of the rung it is told to
    that takes its severity), in one query to read channels and one to write."""
    if not steps:
        return 0
    facility_ids = {step.alert.facility_id for step in steps}
    channels = list(
        NotificationChannel.objects.filter(facility_id__in=facility_ids, is_active=True)
    )
    rows = []
    for step in steps:
        for channel in channels:
            if channel.level == step.heard_at and channel.hears(step.alert):
                rows.append(
                    Notification(
                        alert=step.alert,
                        channel=channel,
                        event=step.event,
                        level=step.level,
                        round=step.round,
                        created_at=now,
                        next_attempt_at=now,
                    )
                )
    return _enqueue(rows)


def resolved_steps(alerts: list[Alert]) -> list[tuple[Alert, set[int]]]:
    """Who heard about each alert, so they also hear it is over."""
    heard: dict[int, set] = {}
    for alert_id, channel_id in (
        Notification.objects.filter(alert__in=alerts)
        .exclude(event=NotificationEvent.RESOLVED)
        .values_list("alert_id", "channel_id")
        .distinct()
    ):
        heard.setdefault(alert_id, set()).add(channel_id)
    return [(alert, heard.get(alert.pk, set())) for alert in alerts]


def notify_resolved(*, alerts: list[Alert], now: datetime) -> int:
    rows = [
        Notification(
            alert=alert,
            channel_id=channel_id,
            event="resolved",
            level=alert.escalation_level,
            created_at=now,
            next_attempt_at=now,
        )
        for alert, channel_ids in resolved_steps(alerts)
        for channel_id in channel_ids
    ]
    return _enqueue(rows)


def _enqueue(rows: list[Notification]) -> int:
    """Writes the rows (a step announced twice is one row) and wakes a
    worker once the transaction commits."""
    Notification.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    if rows:
        transaction.on_commit(wake_delivery)
    return len(rows)


def wake_delivery() -> None:
    """Asks a worker to deliver now; if the broker is down the periodic sweep
    does it later, so a failure here is logged, never raised."""
    from alerts.tasks import deliver_notifications

    try:
        deliver_notifications.apply_async(expires=settings.RECONCILE_EVERY_SECONDS * 4)
    except Exception as exc:  # the broker is unreachable: the outbox keeps the row
        logger.warning("could not wake the notification worker: %s", exc)


def outbox_claim(due, *, now: datetime, limit: int) -> list:
    """Claims up to ``limit`` rows of an outbox queryset (``due``: pending and
    due): counts the attempt and sets a lease, so two workers never send the
    same row at once."""
    with transaction.atomic():
        rows = list(
            due.select_for_update(skip_locked=True, of=("self",)).order_by("next_attempt_at", "id")[
                :limit
            ]
        )
        if rows:
            due.model.objects.filter(pk__in=[r.pk for r in rows]).update(
                attempts=F("attempts") + 1, next_attempt_at=now + CLAIM_LEASE
            )
            for row in rows:
                row.attempts += 1
    return rows


def outbox_drain(*, claim, deliver, limit: int) -> dict[str, int]:
    """Claims and delivers, a claim at a time, until nothing is due or
    ``limit`` rows were handled; counts each row's outcome."""
    outcome = {"sent": 0, "retry": 0, "failed": 0}
    handled = 0
    while handled < limit:
        rows = claim(min(CLAIM_BATCH, limit - handled))
        if not rows:
            break
        handled += len(rows)
        for row in rows:
            outcome[deliver(row)] += 1
    return outcome


def _claim(now: datetime, limit: int, alert_ids=None) -> list[Notification]:
    due = Notification.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
    if alert_ids is not None:
        due = due.filter(alert_id__in=alert_ids)
    due = due.select_related(
        "alert",
        "alert__facility",
        "alert__inmate",
        "alert__location",
        "alert__acknowledged_by",
        "channel",
    )
    return outbox_claim(due, now=now, limit=limit)


def deliver_due(*, now: datetime | None = None, limit: int = 200, alert_ids=None) -> dict[str, int]:
    """Sends what is due, a few rows at a time. Each row is claimed (attempt
    counted, lease set) before sending, so two workers never send the same
    row at once; a claim is small enough to be sent within its lease even if
    every endpoint in it hangs to its timeout."""
    now = now or timezone.now()
    return outbox_drain(claim=lambda n: _claim(now, n, alert_ids), deliver=_deliver, limit=limit)


def deliver_in_background(alert_ids: list[int]) -> threading.Thread:
    """Sends these alerts' messages from this process, in a thread: for
    ``reconciler_stale``, raised by the web process when the workers may be
    the very thing that died. A live worker sweeping at the same time cannot
    send a row twice (the claim), and the request does not wait."""

    def run():
        try:
            deliver_due(alert_ids=alert_ids)
        except Exception:
            logger.exception("could not send the stale-reconciler alerts %s", alert_ids)
        finally:
            connections.close_all()  # this thread's own connection

    thread = threading.Thread(target=run, name="alert-delivery", daemon=True)
    thread.start()
    return thread


def _deliver(row: Notification) -> str:
    try:
        send(row)
    except PermanentError as exc:
        _finish(row, status=DeliveryStatus.FAILED, error=str(exc))
        return "failed"
    except Exception as exc:  # transient by default: retrying is the safe side
        if row.attempts >= MAX_ATTEMPTS:
            _finish(row, status=DeliveryStatus.FAILED, error=f"{exc} (gave up)")
            return "failed"
        Notification.objects.filter(pk=row.pk).update(
            next_attempt_at=timezone.now() + backoff(row.attempts),
            last_error=str(exc)[:2000],
        )
        return "retry"
    _finish(row, status=DeliveryStatus.SENT, error="")
    return "sent"


def _finish(row: Notification, *, status: str, error: str) -> None:
    fields = {"status": status, "last_error": error[:2000]}
    if status == DeliveryStatus.SENT:
        fields["sent_at"] = timezone.now()
    else:
        logger.error("notification %s to %s failed for good: %s", row.pk, row.channel, error)
    Notification.objects.filter(pk=row.pk).update(**fields)


def send(row: Notification) -> None:
    if row.channel.kind == ChannelKind.WEBHOOK:
        send_webhook(row)
    else:
        send_email(row)


def payload(row: Notification) -> dict:
    alert = row.alert
    return {
        "delivery": row.pk,
        "event": row.event,
        "level": row.level,
        "alert": {
            "id": alert.pk,
            "kind": alert.kind,
            "severity": alert.severity,
            "status": alert.status,
            "facility": alert.facility.code,
            "location": alert.location.code if alert.location_id else None,
            "inmate": alert.inmate.booking_number if alert.inmate_id else None,
            "opened_at": alert.opened_at.isoformat(),
            "due_at": alert.due_at.isoformat() if alert.due_at else None,
            "escalation_level": alert.escalation_level,
            "acknowledged_at": alert.acknowledged_at.isoformat() if alert.acknowledged_at else None,
            "acknowledged_by": owner_name(alert),
            "resolve_by": alert.resolve_by.isoformat() if alert.resolve_by else None,
            "resolution": alert.resolution,
            "details": alert.details,
        },
        "round": row.round,
        "message": step_message(row),
    }


def owner_name(alert: Alert) -> str | None:
    return alert.acknowledged_by.username if alert.acknowledged_by_id else None


def step_message(row: Notification) -> str:
    """What this message adds to the alert's facts, in the service's language
    and the facility's time: who sits on it, or that nobody has taken it."""
    alert = row.alert
    with translation.override(settings.LANGUAGE_CODE), timezone.override(alert.facility.tzinfo):
        if row.event == NotificationEvent.OVERDUE:
            return _("Acknowledged by %(who)s at %(at)s, not resolved.") % {
                "who": owner_name(alert) or "—",
                "at": _local(alert.acknowledged_at),
            }
        if row.event == NotificationEvent.REPEATED:
            return _("Still not acknowledged (reminder %(round)s).") % {"round": row.round}
        return ""


def _local(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S %Z") if moment else "—"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=`` + HMAC-SHA256 of ``"{timestamp}." + body``: the timestamp is
    signed too, so a captured request cannot be replayed later unnoticed."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def send_webhook(row: Notification) -> None:
    webhook_post(channel=row.channel, event=row.event, delivery=str(row.pk), payload=payload(row))


def webhook_post(*, channel, event: str, delivery: str, payload: dict) -> None:
    """Posts ``payload`` signed with the channel's secret. ``delivery`` is the
    receiver's deduplication key. Raises TransientError (try again later) or
    PermanentError (a person must fix the channel)."""
    # Checked again here: a row saved before the rules (or straight into the
    # database) is never sent unsigned or in clear; it fails for a person to see.
    problem = channel.webhook_problem()
    if problem:
        raise PermanentError(f"not sent: {problem}")
    body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "custody-alerts/1",
        "X-Custody-Event": event,
        "X-Custody-Delivery": delivery,
        "X-Custody-Timestamp": timestamp,
        "X-Custody-Signature": signature(channel.secret, timestamp, body),
    }
    try:
        response = requests.post(
            channel.target,
            data=body,
            headers=headers,
            timeout=WEBHOOK_TIMEOUT,
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        raise TransientError(f"{type(exc).__name__}: {exc}") from exc
    if 200 <= response.status_code < 300:
        return
    message = f"HTTP {response.status_code}: {response.text[:200]}"
    if response.status_code >= 500 or response.status_code in RETRYABLE_HTTP:
        raise TransientError(message)
    raise PermanentError(message)


def email_text(row: Notification) -> tuple[str, str]:
    alert = row.alert
    with translation.override(settings.LANGUAGE_CODE), timezone.override(alert.facility.tzinfo):
        who = alert.inmate.booking_number if alert.inmate_id else "—"
        where = alert.location.code if alert.location_id else "—"
        subject = _("[%(severity)s] %(kind)s at %(facility)s: %(who)s") % {
            "severity": alert.get_severity_display(),
            "kind": alert.get_kind_display(),
            "facility": alert.facility.code,
            "who": who,
        }
        lines = [
            _("Event: %(event)s (level %(level)s)")
            % {"event": row.get_event_display(), "level": row.level},
            *([message] if (message := step_message(row)) else []),
            _("Person: %(who)s") % {"who": who},
            _("Location: %(where)s") % {"where": where},
            _("Opened at: %(at)s") % {"at": _local(alert.opened_at)},
            _("Alert number: %(id)s") % {"id": alert.pk},
        ]
        if alert.resolution:
            lines.append(_("Resolution: %(text)s") % {"text": alert.resolution})
    return subject, "\n".join(lines)


def send_email(row: Notification) -> None:
    subject, body = email_text(row)
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [row.channel.target])
    except smtplib.SMTPRecipientsRefused as exc:
        raise PermanentError(f"recipient refused: {exc}") from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise TransientError(f"{type(exc).__name__}: {exc}") from exc
