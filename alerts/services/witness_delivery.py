"""Signed chain heads sent off this server: every witness line also goes to the
facility's witness channels (an auditors' mailbox, an outside archive), so
whoever controls this server cannot quietly rewrite the witness file too.

An outbox like the alerts' one (``alerts.services.notify``): rows written when
the head is signed, claimed before sending, retried with back-off, at least
once; the receiver deduplicates on ``X-Custody-Delivery``.
"""

import json
import smtplib
from datetime import datetime

from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone

from alerts.models import ChannelKind, ChannelPurpose, DeliveryStatus, NotificationChannel
from alerts.models import WitnessDelivery as Delivery
from alerts.services.notify import (
    MAX_ATTEMPTS,
    PermanentError,
    TransientError,
    backoff,
    outbox_claim,
    outbox_drain,
    webhook_post,
)

WITNESS_PURPOSES = (ChannelPurpose.WITNESS, ChannelPurpose.BOTH)


def witness_deliveries_create(*, lines: list[tuple[int, dict]], now: datetime) -> int:
    """One pending row per (signed line, active witness channel of its
    facility); ``lines`` are (facility id, line)."""
    facility_ids = {facility_id for facility_id, _line in lines}
    channels = list(
        NotificationChannel.objects.filter(
            facility_id__in=facility_ids, is_active=True, purpose__in=WITNESS_PURPOSES
        )
    )
    rows = [
        Delivery(channel=channel, line=line, created_at=now, next_attempt_at=now)
        for facility_id, line in lines
        for channel in channels
        if channel.facility_id == facility_id
    ]
    Delivery.objects.bulk_create(rows, batch_size=1000)
    return len(rows)


def _claim(now: datetime, limit: int) -> list[Delivery]:
    due = Delivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
    return outbox_claim(due.select_related("channel"), now=now, limit=limit)


def witness_deliver_due(*, now: datetime | None = None, limit: int = 200) -> dict[str, int]:
    """Sends the witness lines that are due, a claim at a time."""
    now = now or timezone.now()
    return outbox_drain(claim=lambda n: _claim(now, n), deliver=_deliver, limit=limit)


def _deliver(row: Delivery) -> str:
    try:
        send(row)
    except PermanentError as exc:
        return _finish(row, DeliveryStatus.FAILED, str(exc))
    except Exception as exc:  # transient by default: retrying is the safe side
        if row.attempts >= MAX_ATTEMPTS:
            return _finish(row, DeliveryStatus.FAILED, f"{exc} (gave up)")
        Delivery.objects.filter(pk=row.pk).update(
            next_attempt_at=timezone.now() + backoff(row.attempts), last_error=str(exc)[:2000]
        )
        return "retry"
    return _finish(row, DeliveryStatus.SENT, "")


def _finish(row: Delivery, status: str, error: str) -> str:
    fields = {"status": status, "last_error": error[:2000]}
    if status == DeliveryStatus.SENT:
        fields["sent_at"] = timezone.now()
    Delivery.objects.filter(pk=row.pk).update(**fields)
    return "sent" if status == DeliveryStatus.SENT else "failed"


def payload(row: Delivery) -> dict:
    return {"delivery": f"witness-{row.pk}", "event": "ledger.witness", "witness": row.line}


def send(row: Delivery) -> None:
    if row.channel.kind == ChannelKind.WEBHOOK:
        _send_webhook(row)
    else:
        _send_email(row)


def _send_webhook(row: Delivery) -> None:
    # The same rules as alerts: https or a listed host, and a signing secret.
    webhook_post(
        channel=row.channel,
        event="ledger.witness",
        delivery=f"witness-{row.pk}",
        payload=payload(row),
    )


def _send_email(row: Delivery) -> None:
    line = row.line
    # Machine-read at the other end: the line as it is, no translation.
    subject = f"[custody] ledger witness {line.get('facility')} #{line.get('seq')}"
    body = (
        "Signed head of the custody ledger chain (Ed25519). Keep this message: it proves\n"
        "what the chain held at this time, whatever happens to the server later.\n\n"
        + json.dumps(line, sort_keys=True, separators=(",", ":"))
        + "\n"
    )
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [row.channel.target])
    except smtplib.SMTPRecipientsRefused as exc:
        raise PermanentError(f"recipient refused: {exc}") from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise TransientError(f"{type(exc).__name__}: {exc}") from exc
