"""Check-in ingestion (docs/api.md "Check-ins").

A batch of up to 1,000 scans is handled in one transaction with a constant
number of queries, whatever its size: resolve people and places, drop repeats,
insert, move each person's ``last_seen_at`` / ``next_due_at`` forward, keep
the rejects in quarantine and append one ledger summary per facility. Lock
order, the same for every writer: check-in ids (sorted), inmate rows (sorted),
then the facility's ledger head; so concurrent batches never deadlock each
other or the movement services (which lock inmates, then the ledger).
"""

import hashlib
import json
import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from datetime import UTC, timedelta

import psycopg
from django.db import OperationalError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from custody.models import (
    CheckIn,
    CheckInMethod,
    Device,
    Facility,
    Inmate,
    InmateStatus,
    Location,
    Movement,
    MovementKind,
    MovementStatus,
    QuarantinedCheckIn,
)
from custody.services.checkin_items import Item, Reason, parse_item
from custody.services.evidence import device_places, location_id_refusal
from custody.services.internal_movements import Pairing, internal_pair
from custody.services.ledger import PendingEvent, actor_label, ledger_append_many

logger = logging.getLogger(__name__)

MAX_BATCH = 1000
ACCEPTED, DUPLICATE, REJECTED = "accepted", "duplicate", "rejected"
BIOMETRIC_METHODS = CheckInMethod.biometric()
IDENTITY_METHODS = CheckInMethod.identity()
# A device replays a buffered scan with the same id and time; a replay with the
# same id and another time is still the same scan if it lies this close.
REPLAY_WINDOW = timedelta(hours=75)
# People whose scans can be "in place": anyone still inside the walls.
INSIDE = (InmateStatus.IN_CUSTODY, InmateStatus.OUT_AUTHORIZED)
DEADLOCK_RETRIES = 3


@dataclass
class Sender:
    """Who posted the batch: a device (its own facility only) or a signed-in person."""

    principal: object
    device: Device | None
    user: object | None
    facility_ids: frozenset[int]

    @property
    def actor(self) -> str:
        return actor_label(self.principal)

    def default_facility_id(self) -> int | None:
        if len(self.facility_ids) == 1:
            return next(iter(self.facility_ids))
        return None

    def quarantine_facility_ids(self) -> list[int | None]:
        """Where a reject that names no facility of its own is kept: under
        every facility the sender posts for, so that the supervisors and
        auditors of each of them see it (a guard of two facilities posting an
        unknown booking number could be in either). A superuser, who may post
        anywhere, puts it under the facilities they are assigned to; with none,
        one row without a facility, which superusers list."""
        if len(self.facility_ids) <= 1 or self.device is not None:
            return [self.default_facility_id()]
        ids = set(self.facility_ids)
        if getattr(self.user, "is_superuser", False):
            ids &= set(self.user.facilities.values_list("pk", flat=True))
        return sorted(ids) or [None]


@dataclass
class IngestResult:
    items: list[Item]

    def count(self, status: str) -> int:
        return sum(1 for item in self.items if item.status == status)


def checkins_ingest(*, raw_items: list, sender: Sender, now=None) -> IngestResult:
    """Stores the good items of a batch and quarantines the rest.

    ``raw_items`` is the parsed JSON list (at most ``MAX_BATCH``); the caller
    checks the body's shape. Every item gets a status, in order.
    """
    now = now or timezone.now()
    for attempt in range(1, DEADLOCK_RETRIES + 1):
        items = _parse(raw_items, sender=sender, now=now)
        try:
            with transaction.atomic():
                _store(items, sender=sender, now=now)
            break
        except OperationalError as exc:
            # The lock order makes this rare; a retry is cheap and loses nothing.
            deadlocked = isinstance(exc.__cause__, psycopg.errors.DeadlockDetected)
            if attempt == DEADLOCK_RETRIES or not deadlocked:
                raise
            logger.warning("check-in batch deadlocked, retrying (%s)", attempt)
    for item in items:
        if item.errors:
            item.status = REJECTED
    return IngestResult(items)


def _parse(raw_items: list, *, sender: Sender, now) -> list[Item]:
    default_location = (
        sender.device.location.code if sender.device and sender.device.location else ""
    )
    items = [
        parse_item(
            index,
            raw,
            now=now,
            device=sender.device,
            person=sender.user is not None,
            default_location=default_location,
        )
        for index, raw in enumerate(raw_items)
    ]
    _mark_repeats_within_batch(items)
    return items


def _mark_repeats_within_batch(items: list[Item]) -> None:
    seen = set()
    for item in items:
        if item.uuid is None:
            continue
        if item.uuid in seen and not item.errors:
            item.status = DUPLICATE
        seen.add(item.uuid)


def _store(items: list[Item], *, sender: Sender, now) -> None:
    pending = [item for item in items if not item.errors and not item.status]
    context = _Context.load(pending, sender=sender)
    for item in pending:
        context.resolve(item, sender=sender)
    pending = [item for item in pending if not item.errors]
    _mark_stored_duplicates(pending)
    pending = [item for item in pending if not item.status]
    accepted = _insert(pending, context=context, sender=sender, now=now)
    _raise_last_seen(accepted, context=context)
    # After the inmates' locks (taken just above): inmates, then movements.
    paired = internal_pair(_pairings(accepted, context=context))
    quarantined = _quarantine(items, context=context, sender=sender, now=now)
    if sender.device is not None:
        Device.objects.filter(pk=sender.device.pk).update(last_heartbeat_at=now)
    _append_to_ledger(
        items, accepted, quarantined, context=context, sender=sender, now=now, paired=paired
    )


def _pairings(accepted: list[Item], *, context: "_Context") -> list[Pairing]:
    """Scans back home after an internal movement's departure: each pairs
    (completes) it, with no query of its own (the context has the movement)."""
    found = []
    for item in accepted:
        inmate = context.item_inmate[item.index]
        if inmate.internal is None:
            continue
        movement_id, departed_at, to_location_id = inmate.internal
        location_id = context.item_location[item.index]
        if (
            location_id in inmate.home
            and location_id != to_location_id
            and item.observed_at > departed_at
        ):
            found.append(
                Pairing(
                    movement_id=movement_id,
                    facility_id=inmate.facility_id,
                    booking=item.inmate,
                    observed_at=item.observed_at,
                    checkin=str(item.uuid),
                    location=item.location,
                    method=item.method,
                )
            )
    return found


@dataclass
class _Inmate:
    id: int
    facility_id: int
    status: str
    security_level: str
    places: frozenset  # location ids where being seen is expected
    # The cell and the unit(s) above it: where being seen is being back.
    home: frozenset = frozenset()
    # An open internal movement: (movement id, departed at, destination id).
    internal: tuple | None = None


class _Context:
    """What a batch needs from the database, fetched in a fixed number of queries."""

    def __init__(self):
        self.inmates: dict[str, _Inmate] = {}
        self.facilities: dict[int, Facility] = {}
        self.locations: dict[tuple[int, str], int] = {}
        self.item_facility: dict[int, int] = {}  # item index -> facility id
        self.item_inmate: dict[int, _Inmate] = {}
        self.item_location: dict[int, int] = {}
        # Where a mounted device may report (services.evidence), read once.
        self.device_places: frozenset[int] | None = None

    @classmethod
    def load(cls, items: list[Item], *, sender: Sender) -> "_Context":
        context = cls()
        numbers = {item.inmate for item in items}
        if not numbers:
            return context
        rows = list(
            Inmate.objects.filter(booking_number__in=numbers).values_list(
                "id",
                "booking_number",
                "facility_id",
                "status",
                "security_level",
                "cell_id",
                "cell__parent_id",
                "cell__parent__parent_id",
            )
        )
        moving = defaultdict(set)
        internal = {}
        # The same query as before the pairing: an internal movement always
        # names its place, so it is already among these rows.
        for inmate_id, movement_id, kind, status, departed_at, *places in Movement.objects.filter(
            inmate_id__in=[row[0] for row in rows],
            status__in=(MovementStatus.APPROVED, MovementStatus.DEPARTED),
            to_location__isnull=False,
        ).values_list(
            "inmate_id",
            "id",
            "kind",
            "status",
            "departed_at",
            "to_location_id",
            "to_location__parent_id",
        ):
            moving[inmate_id].update(p for p in places if p)
            if kind == MovementKind.INTERNAL and status == MovementStatus.DEPARTED:
                internal[inmate_id] = (movement_id, departed_at, places[0])
        for inmate_id, number, facility_id, status, level, *cell_places in rows:
            home = frozenset(p for p in cell_places if p)
            context.inmates[number] = _Inmate(
                inmate_id,
                facility_id,
                status,
                level,
                home | moving[inmate_id],
                home=home,
                internal=internal.get(inmate_id),
            )
        facility_ids = {i.facility_id for i in context.inmates.values()} & sender.facility_ids
        context.facilities = Facility.objects.in_bulk(facility_ids)
        codes = {item.location for item in items}
        for facility_id, code, location_id in Location.objects.filter(
            facility_id__in=facility_ids, code__in=codes
        ).values_list("facility_id", "code", "id"):
            context.locations[(facility_id, code)] = location_id
        context.device_places = device_places(sender.device)
        return context

    def resolve(self, item: Item, *, sender: Sender) -> None:
        inmate = self.inmates.get(item.inmate)
        if inmate is None or inmate.facility_id not in sender.facility_ids:
            # A person outside the sender's facilities is, to them, unknown: the
            # same answer and reason, so that no key, device or person can learn
            # which booking numbers another facility holds.
            item.reject(
                Reason.UNKNOWN_INMATE,
                "inmate",
                _("No person with booking number %(number)s in your facilities.")
                % {"number": item.inmate},
            )
            return
        self.item_facility[item.index] = inmate.facility_id
        location_id = self.locations.get((inmate.facility_id, item.location))
        if location_id is None:
            item.reject(
                Reason.UNKNOWN_LOCATION,
                "location",
                _("No location with code %(code)s in this person's facility.")
                % {"code": item.location},
            )
            return
        if location_id_refusal(location_id=location_id, places=self.device_places):
            # A leaked reader key cannot keep everyone "seen" from one spot.
            item.reject(
                Reason.WRONG_LOCATION,
                "location",
                _("This device is mounted at %(place)s and reports only there or under it.")
                % {"place": sender.device.location.code},
            )
            return
        self.item_inmate[item.index] = inmate
        self.item_location[item.index] = location_id

    def out_of_place(self, item: Item) -> bool:
        inmate = self.item_inmate[item.index]
        return inmate.status not in INSIDE or self.item_location[item.index] not in inmate.places


def _mark_stored_duplicates(items: list[Item]) -> None:
    if not items:
        return
    times = [item.observed_at for item in items]
    stored = set(
        CheckIn.objects.filter(
            id__in=[item.uuid for item in items],
            # Partition pruning: only the months around this batch are read.
            observed_at__gte=min(times) - REPLAY_WINDOW,
            observed_at__lte=max(times) + REPLAY_WINDOW,
        ).values_list("id", flat=True)
    )
    for item in items:
        if item.uuid in stored:
            item.status = DUPLICATE


_INSERT_SQL = """
INSERT INTO custody_checkin (
    id, observed_at, received_at, facility_id, inmate_id, location_id, method,
    is_biometric, score, device_id, recorded_by_id, out_of_place
)
SELECT u.id, u.observed_at, %s, u.facility_id, u.inmate_id, u.location_id, u.method,
       u.is_biometric, u.score, %s, %s, u.out_of_place
FROM unnest(
    %s::uuid[], %s::timestamptz[], %s::bigint[], %s::bigint[], %s::bigint[],
    %s::varchar[], %s::boolean[], %s::float8[], %s::boolean[]
) AS u(id, observed_at, facility_id, inmate_id, location_id, method, is_biometric, score,
       out_of_place)
ORDER BY u.id
ON CONFLICT DO NOTHING
RETURNING id
"""


def _insert(items: list[Item], *, context: _Context, sender: Sender, now) -> list[Item]:
    """Inserts the items; returns those actually stored (a concurrent post of the
    same id makes the other one a duplicate, decided by the primary key)."""
    if not items:
        return []
    for item in items:
        item.out_of_place = context.out_of_place(item)
    device_id = sender.device.pk if sender.device else None
    user_id = sender.user.pk if sender.user else None
    columns = (
        [i.uuid for i in items],
        [i.observed_at for i in items],
        [context.item_facility[i.index] for i in items],
        [context.item_inmate[i.index].id for i in items],
        [context.item_location[i.index] for i in items],
        [i.method for i in items],
        [i.method in BIOMETRIC_METHODS for i in items],
        [i.score for i in items],
        [i.out_of_place for i in items],
    )
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_SQL, [now, device_id, user_id, *columns])
        stored = {row[0] for row in cursor.fetchall()}
    accepted = []
    for item in items:
        item.status = ACCEPTED if item.uuid in stored else DUPLICATE
        if item.status == ACCEPTED:
            accepted.append(item)
    return accepted


# identity_verified_at moves on its own: a buffered fingerprint older than
# the last visual check still proves who the person is (GREATEST skips nulls).
_RAISE_LAST_SEEN_SQL = """
WITH seen(inmate_id, seen_at, due_at, verified_at) AS (
    SELECT * FROM unnest(%s::bigint[], %s::timestamptz[], %s::timestamptz[], %s::timestamptz[])
), locked AS (
    SELECT id FROM custody_inmate WHERE id = ANY(%s) ORDER BY id FOR NO KEY UPDATE
)
UPDATE custody_inmate AS i
SET last_seen_at = GREATEST(i.last_seen_at, seen.seen_at),
    next_due_at = CASE WHEN i.status = 'in_custody'
                        AND (i.last_seen_at IS NULL OR i.last_seen_at < seen.seen_at)
                       THEN seen.due_at ELSE i.next_due_at END,
    identity_verified_at = GREATEST(i.identity_verified_at, seen.verified_at)
FROM seen
WHERE i.id = seen.inmate_id
  AND i.id IN (SELECT id FROM locked)
  AND (i.last_seen_at IS NULL OR i.last_seen_at < seen.seen_at
       OR seen.verified_at > COALESCE(i.identity_verified_at, '-infinity'))
"""


def _raise_last_seen(accepted: list[Item], *, context: _Context) -> None:
    """Each person's latest scan in the batch moves ``last_seen_at`` forward and
    sets the next deadline from it, and their latest fingerprint, face or iris
    scan moves ``identity_verified_at``; an older, buffered scan moves nothing back."""
    latest: dict[int, tuple] = {}
    verified: dict[int, object] = {}
    for item in accepted:
        inmate = context.item_inmate[item.index]
        if inmate.id not in latest or item.observed_at > latest[inmate.id][1]:
            latest[inmate.id] = (inmate, item.observed_at)
        if item.method in IDENTITY_METHODS and (
            inmate.id not in verified or item.observed_at > verified[inmate.id]
        ):
            verified[inmate.id] = item.observed_at
    if not latest:
        return
    ids, seen, due = [], [], []
    for inmate_id in sorted(latest):
        inmate, seen_at = latest[inmate_id]
        facility = context.facilities[inmate.facility_id]
        ids.append(inmate_id)
        seen.append(seen_at)
        due.append(seen_at + facility.check_interval(inmate.security_level))
    proven = [verified.get(i) for i in ids]
    with connection.cursor() as cursor:
        cursor.execute(_RAISE_LAST_SEEN_SQL, [ids, seen, due, proven, ids])


def _quarantine(items: list[Item], *, context: _Context, sender: Sender, now) -> list:
    """Keeps every reject: under its person's facility when that is known,
    else under each facility the sender covers (never lost for lack of one)."""
    rows = []
    fallback = None  # read once, only when some reject needs it
    for item in items:
        if not item.errors:
            continue
        if item.index in context.item_facility:
            facility_ids = [context.item_facility[item.index]]
        else:
            fallback = fallback or sender.quarantine_facility_ids()
            facility_ids = fallback
        rows += quarantine_copies(
            item.raw,
            sender_key=sender.actor,
            facility_ids=facility_ids,
            received_at=now,
            device=sender.device,
            submitted_by=sender.user,
            item_id=item.item_id,
            reason=item.reason,
            errors=item.errors,
        )
    # A retried request quarantines nothing twice (same sender, same item).
    QuarantinedCheckIn.objects.bulk_create(rows, ignore_conflicts=True)
    return rows


MAX_RAW_STRING = 500


def quarantine_copies(raw, *, sender_key: str, facility_ids, **fields) -> list[QuarantinedCheckIn]:
    """One quarantine row of a refused item per facility it may concern, each
    fingerprinted by its sender, its content (and that facility when there are
    several), so a retried request quarantines nothing twice."""
    raw = _storable(raw)
    key = sender_key + json.dumps(raw, sort_keys=True)
    return [
        QuarantinedCheckIn(
            facility_id=facility_id,
            raw=raw,
            fingerprint=hashlib.sha256(
                (key if len(facility_ids) == 1 else f"{key}|facility:{facility_id}").encode()
            ).hexdigest(),
            **fields,
        )
        for facility_id in facility_ids
    ]


def _storable(value):
    """The item as received, minus what JSON columns cannot hold (NUL) and
    bounded in size: evidence, not a place to park megabytes."""
    if isinstance(value, str):
        return value.replace("\x00", "\\u0000")[:MAX_RAW_STRING]
    if isinstance(value, list):
        return [_storable(v) for v in value[:50]]
    if isinstance(value, dict):
        return {_storable(str(k)): _storable(v) for k, v in list(value.items())[:50]}
    return value


def _append_to_ledger(items, accepted, quarantined, *, context, sender, now, paired) -> None:
    """One summary per facility and batch; its digest of the accepted scans
    ties every stored check-in to the hash chain."""
    by_facility: dict[int, list] = defaultdict(list)
    for item in accepted:
        by_facility[context.item_facility[item.index]].append(item)
    duplicates = Counter(
        context.item_facility.get(i.index, sender.default_facility_id())
        for i in items
        if i.status == DUPLICATE
    )
    rejects: dict[int, list] = defaultdict(list)
    for row in quarantined:
        if row.facility_id is not None:
            rejects[row.facility_id].append(row)
    subject = sender.actor
    for facility_id in sorted(set(by_facility) | set(rejects) | set(paired)):
        facility = context.facilities.get(facility_id) or Facility.objects.get(pk=facility_id)
        events = []
        stored = by_facility.get(facility_id, [])
        if stored:
            events.append(
                PendingEvent(
                    action="checkins.received",
                    subject=subject,
                    actor=sender.actor,
                    data={
                        "accepted": len(stored),
                        "duplicate": duplicates.get(facility_id, 0),
                        "out_of_place": sum(1 for i in stored if i.out_of_place),
                        "visual": sum(1 for i in stored if i.method == CheckInMethod.VISUAL),
                        "first_observed_at": min(i.observed_at for i in stored),
                        "last_observed_at": max(i.observed_at for i in stored),
                        "digest": _digest(stored),
                    },
                )
            )
        if rejects.get(facility_id):
            events.append(
                PendingEvent(
                    action="checkins.quarantined",
                    subject=subject,
                    actor=sender.actor,
                    data={
                        "count": len(rejects[facility_id]),
                        "reasons": dict(Counter(r.reason for r in rejects[facility_id])),
                        "items": [r.item_id for r in rejects[facility_id]][:100],
                    },
                )
            )
        # Pairings are named after the batch's sender; the observation is in their data.
        events.extend(replace(e, actor=sender.actor) for e in paired.get(facility_id, []))
        ledger_append_many(facility=facility, events=events, at=now)


def _utc(at) -> str:
    return at.astimezone(UTC).isoformat()


def _digest(items: list[Item]) -> str:
    """sha256 over the accepted scans, one sorted line each, so that anyone can
    recompute it from the check-in table."""
    lines = sorted(
        f"{i.uuid}|{i.inmate}|{i.location}|{i.method}|{i.observed_at.astimezone(UTC).isoformat()}"
        for i in items
    )
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()
