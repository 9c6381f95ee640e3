"""The tamper-evident custody ledger (invariant 4, docs/architecture.md).

Every custody-relevant change appends an event in the same transaction as the
change itself. Each facility has its own chain: ``hash = sha256(prev_hash +
canonical JSON of the event)``. Appends lock the facility's chain-head row, so
writers to one facility are serialised (and the sequence has no gaps) while
other facilities proceed in parallel. Callers that also lock other rows take
this lock last, keeping the lock order the same everywhere.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from custody.models import GENESIS_HASH, Facility, LedgerEvent, LedgerHead

SYSTEM_ACTOR = "system"


def actor_label(principal) -> str:
    """``user:<username>``, ``device:<id>`` or ``system`` for who did something."""
    if principal is None:
        return SYSTEM_ACTOR
    device = getattr(principal, "device", None)
    if device is not None:
        return f"device:{device.pk}"
    if getattr(principal, "is_authenticated", False) and getattr(principal, "username", None):
        return f"user:{principal.username}"
    return SYSTEM_ACTOR


def _plain(data) -> dict:
    # What is hashed must be exactly what the database gives back: dates,
    # UUIDs and decimals become their JSON text before either happens.
    return json.loads(json.dumps(data or {}, cls=DjangoJSONEncoder))


def canonical_time(at) -> str:
    """A time as the chain hashes it: UTC, ISO 8601, microseconds."""
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def canonical_event(*, facility_code: str, seq: int, at, actor, action, subject, data) -> str:
    """The text that is hashed: sorted keys, no spaces, UTF-8, UTC times."""
    return canonical_json(
        {
            "facility": facility_code,
            "seq": seq,
            "at": canonical_time(at),
            "actor": actor,
            "action": action,
            "subject": subject,
            "data": data,
        }
    )


def canonical_json(value) -> str:
    """JSON as the chain hashes it: sorted keys, no spaces, UTF-8 as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def chain_hash(prev_hash: str, canonical: str) -> str:
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


@dataclass(frozen=True)
class PendingEvent:
    action: str
    subject: str
    data: dict
    actor: str = SYSTEM_ACTOR
    at: datetime | None = None  # the batch's time unless given (loading a past)


def ledger_append(*, facility: Facility, actor, action: str, subject: str, data=None, at=None):
    """Appends one event to ``facility``'s chain and returns it."""
    event = PendingEvent(action=action, subject=subject, data=data, actor=actor_label(actor))
    return ledger_append_many(facility=facility, events=[event], at=at)[0]


# No savepoint inside a caller's transaction: nobody recovers from a failed
# append and carries on, so two statements per batch buy nothing.
@transaction.atomic(savepoint=False)
def ledger_append_many(*, facility: Facility, events: list[PendingEvent], at=None):
    """Appends several events in order with one lock, one insert and one head
    update, whatever their number (bulk admission, check-in batches)."""
    if not events:
        return []
    at = at or timezone.now()
    head = _lock_head(facility)
    seq, prev_hash, rows = head.seq, head.hash, []
    for event in events:
        seq += 1
        event_at = event.at or at
        data = _plain(event.data)
        digest = chain_hash(
            prev_hash,
            canonical_event(
                facility_code=facility.code,
                seq=seq,
                at=event_at,
                actor=event.actor,
                action=event.action,
                subject=event.subject,
                data=data,
            ),
        )
        rows.append(
            LedgerEvent(
                facility=facility,
                seq=seq,
                at=event_at,
                actor=event.actor,
                action=event.action,
                subject=event.subject,
                data=data,
                prev_hash=prev_hash,
                hash=digest,
            )
        )
        prev_hash = digest
    LedgerEvent.objects.bulk_create(rows, batch_size=1000)
    LedgerHead.objects.filter(pk=head.pk).update(seq=seq, hash=prev_hash)
    return rows


def ledger_changes(before: dict, after: dict) -> dict:
    """``{field: {"from": old, "to": new}}`` for each field whose value differs."""
    return {
        name: {"from": before.get(name), "to": value}
        for name, value in after.items()
        if before.get(name) != value
    }


def ledger_append_changes(*, facility: Facility, actor, action: str, subject: str, before, after):
    """Appends ``action`` with ``{"changes": ...}`` from ``before`` to ``after``;
    nothing when nothing the ledger tracks has changed."""
    changes = ledger_changes(before, after)
    if changes:
        ledger_append(
            facility=facility,
            actor=actor,
            action=action,
            subject=subject,
            data={"changes": changes},
        )


def _lock_head(facility: Facility) -> LedgerHead:
    head = LedgerHead.objects.select_for_update().filter(pk=facility.pk).first()
    if head is None:
        # First event of this facility: create the head; a concurrent first
        # writer makes this a no-op, and the lock below waits for it.
        LedgerHead.objects.bulk_create([LedgerHead(facility=facility)], ignore_conflicts=True)
        head = LedgerHead.objects.select_for_update().get(pk=facility.pk)
    return head


@dataclass(frozen=True)
class LedgerVerification:
    ok: bool
    events: int
    head: str
    first_bad_seq: int | None
    problem: str = ""
    # The witnessed head the chain no longer holds (None: none, or no witness).
    witnessed_seq: int | None = None
    # Witness lines checked (trusted) and refused (bad signature, unknown key).
    witness_lines: int = 0
    untrusted_lines: int = 0


def ledger_verify(
    *, facility: Facility, witnessed: dict[int, set[str]] | None = None, chunk_size: int = 5000
) -> LedgerVerification:
    """Recomputes ``facility``'s chain from the first event and names the first
    broken link: a changed event, a missing or reordered one, or events cut
    off after the recorded head. Streams the chain; memory stays flat.

    ``witnessed`` (seq -> hashes signed outside the database, see
    ``custody.services.witness``) must each still be the hash at its seq: a
    chain rewritten with every hash recomputed breaks at the first witnessed
    seq it changed, and a chain shorter than a witnessed seq is broken too."""
    witnessed = witnessed or {}
    expected_seq, prev_hash, count = 1, GENESIS_HASH, 0
    rows = (
        LedgerEvent.objects.filter(facility=facility)
        .order_by("seq")
        .values_list("seq", "at", "actor", "action", "subject", "data", "prev_hash", "hash")
    )
    for seq, at, actor, action, subject, data, stored_prev, stored_hash in rows.iterator(
        chunk_size=chunk_size
    ):
        if seq != expected_seq:
            return LedgerVerification(False, count, prev_hash, expected_seq, _("missing event"))
        if stored_prev != prev_hash:
            return LedgerVerification(
                False, count, prev_hash, seq, _("previous hash does not match")
            )
        canonical = canonical_event(
            facility_code=facility.code,
            seq=seq,
            at=at,
            actor=actor,
            action=action,
            subject=subject,
            data=data,
        )
        if chain_hash(prev_hash, canonical) != stored_hash:
            return LedgerVerification(False, count, prev_hash, seq, _("event content was changed"))
        if seq in witnessed and witnessed[seq] != {stored_hash}:
            return LedgerVerification(
                False, count, prev_hash, seq, _("not the witnessed hash"), witnessed_seq=seq
            )
        prev_hash, expected_seq, count = stored_hash, seq + 1, count + 1
    head = LedgerHead.objects.filter(pk=facility.pk).values_list("seq", "hash").first()
    if head is not None and (head[0], head[1]) != (count, prev_hash):
        # The head says the chain is longer than what is left: the end was cut.
        return LedgerVerification(
            False, count, prev_hash, count + 1, _("events missing at the end")
        )
    beyond = [seq for seq in witnessed if seq > count]
    if beyond:
        # Head and events cut back together: only the witness remembers.
        return LedgerVerification(
            False,
            count,
            prev_hash,
            count + 1,
            _("events missing up to a witnessed head"),
            witnessed_seq=min(beyond),
        )
    return LedgerVerification(True, count, prev_hash, None)
