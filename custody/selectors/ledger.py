"""Reads of the custody ledger, scoped to the caller's facilities."""

import uuid

from django.db.models import QuerySet

from custody.models import GENESIS_HASH, Device, DeviceKind, Facility, LedgerEvent, LedgerHead
from custody.selectors.records import facilities_visible_to, visible_facility_ids


def _national_scope(user) -> bool:
    # Superusers read the national chain (accounts with no facility); nobody
    # else does, and it never counts among anyone's facilities.
    return bool(getattr(user, "is_authenticated", False) and getattr(user, "is_superuser", False))


def ledger_event_list(*, user) -> QuerySet[LedgerEvent]:
    """Events oldest first, facility by facility: the order the chains were
    written in, served by the (facility, seq) unique index. A superuser also
    reads the national chain."""
    ids = list(visible_facility_ids(user))
    if _national_scope(user):
        ids += Facility.chain_owners.filter(is_national=True).values_list("pk", flat=True)
    return (
        LedgerEvent.objects.filter(facility_id__in=ids)
        .select_related("facility")
        .order_by("facility_id", "seq")
    )


def ledger_facilities(*, user, code: str | None = None) -> list[Facility]:
    """The visible facility with ``code``, or (no code) up to two visible
    facilities, enough for the caller to tell "exactly one" from "several".
    A superuser may name the national chain's code; it is never the default."""
    facilities = facilities_visible_to(user).order_by("code")
    if code is not None:
        if _national_scope(user):
            return list(Facility.chain_owners.filter(code=code, is_national=True)) or list(
                facilities.filter(code=code)
            )
        return list(facilities.filter(code=code))
    return list(facilities[:2])


def ledger_chain_owners() -> list[Facility]:
    """Every chain, the national one included, by code: what verification
    and witnessing go through (a hundred facilities at most, so a list)."""
    return list(Facility.chain_owners.order_by("code"))


def ledger_head(*, facility: Facility) -> tuple[int, str]:
    """(seq, hash) of the chain's last link; (0, genesis) before the first event."""
    head = LedgerHead.objects.filter(pk=facility.pk).values_list("seq", "hash").first()
    return head or (0, GENESIS_HASH)


def ledger_chain(*, facility: Facility, up_to_seq: int) -> QuerySet[LedgerEvent]:
    """The chain from its first event to ``up_to_seq``, in order (the
    (facility, seq) index), as the values its hashes were computed from."""
    return (
        LedgerEvent.objects.filter(facility=facility, seq__lte=up_to_seq)
        .order_by("seq")
        .values_list("seq", "at", "actor", "action", "subject", "data", "prev_hash", "hash")
    )


def ledger_around(*, facility: Facility, seq: int, reach: int = 2) -> list[LedgerEvent]:
    """The events next to ``seq`` (a broken link and its neighbours)."""
    return with_actor_names(
        LedgerEvent.objects.filter(
            facility=facility, seq__gte=max(seq - reach, 1), seq__lte=seq + reach
        ).order_by("seq"),
        facility=facility,
    )


def ledger_recent(*, facility: Facility, limit: int = 25) -> list[LedgerEvent]:
    return with_actor_names(
        LedgerEvent.objects.filter(facility=facility).order_by("-seq")[:limit], facility=facility
    )


DEVICE_ACTOR = "device:"


def _device_id(actor: str) -> uuid.UUID | None:
    if not actor.startswith(DEVICE_ACTOR):
        return None
    try:
        return uuid.UUID(actor.removeprefix(DEVICE_ACTOR))
    except ValueError:
        return None


def with_actor_names(events, *, facility: Facility) -> list[LedgerEvent]:
    """The events, each with ``actor_name`` and ``subject_name``: a reader's or
    tablet's name for ``device:<id>`` (one query for all of them), the
    username for ``user:<name>``. The labels themselves stay what the chain
    hashed; pages show them as tooltips."""
    events = list(events)
    ids = {
        device_id
        for event in events
        for label in (event.actor, event.subject)
        if (device_id := _device_id(label))
    }
    devices = Device.objects.filter(facility=facility, pk__in=ids).values_list("pk", "name", "kind")
    names = {pk: f"{name} ({DeviceKind(kind).label})" for pk, name, kind in devices}
    for event in events:
        event.actor_name = names.get(_device_id(event.actor), event.actor.removeprefix("user:"))
        event.subject_name = names.get(_device_id(event.subject), event.subject)
    return events
