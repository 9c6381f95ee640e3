"""Round check ingestion (docs/api.md "Rounds").

A round check is a tag scan by a signed-in officer on an enrolled, active
tablet (or handheld) of the tag's facility, with what the officer saw of
each person in that place. Batches are idempotent by the item's ``id`` and
may arrive late (offline buffering, the clock rules of check-ins). Each item
is answered on its own; a refused one is kept in the quarantine with its
reason, never lost.

Set-based, like check-ins: a batch costs a fixed number of queries whatever
its size (tags, known ids, people of the places, one insert of checks, one
of observations, one update of places, one of people on a level of their
own, the quarantine, the ledger). Lock order: check ids (sorted), location
rows (sorted), inmate rows (sorted), then the facility's ledger head.
"""

import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from custody import signals
from custody.models import (
    Device,
    DeviceKind,
    Facility,
    Inmate,
    InmateStatus,
    LocationTag,
    ObservationState,
    QuarantinedCheckIn,
    QuarantineSource,
    RoundObservation,
)
from custody.services.checkin_items import (
    MAX_CODE_LENGTH,
    clock_problem,
    parse_aware_time,
    parse_item_id,
)
from custody.services.checkins import quarantine_copies
from custody.services.ledger import PendingEvent, actor_label, ledger_append_many
from custody.services.round_tags import normalise_uid
from custody.services.rounds_schedule import draw_next_due

MAX_ROUND_BATCH = 200
# More people than any cell holds: a longer list is not a round.
MAX_OBSERVATIONS = 64
ACCEPTED, DUPLICATE, REJECTED = "accepted", "duplicate", "rejected"
STATES = frozenset(ObservationState.values)


class RoundReason:
    """Why a round check was refused; stored with the quarantined item."""

    INVALID = "invalid"
    TAG_REQUIRED = "tag_required"
    UNKNOWN_TAG = "unknown_tag"
    TAG_OTHER_FACILITY = "tag_other_facility"
    TAG_RETIRED = "tag_retired"
    BEFORE_TAG = "before_tag_registered"
    NOT_IN_CELL = "not_in_cell"
    CLOCK_FUTURE = "clock_future"
    CLOCK_PAST = "clock_past"
    TABLET_REQUIRED = "tablet_required"
    NOT_YOUR_FACILITY = "not_your_facility"


@dataclass
class RoundItem:
    index: int
    raw: object
    id: str = ""
    uuid: UUID | None = None
    tag_uid: str = ""
    scanned_at: datetime | None = None
    observations: list[tuple[str, str]] = field(default_factory=list)
    tag: LocationTag | None = None
    # booking number -> inmate id, resolved against the place's people.
    people: dict[str, int] = field(default_factory=dict)
    # inmate id -> their own watch level, for those who have one.
    own_levels: dict[int, str] = field(default_factory=dict)
    errors: dict = field(default_factory=dict)
    reason: str = ""
    status: str = ""

    def reject(self, reason: str, field_name: str, message: str) -> None:
        self.errors.setdefault(field_name, []).append(str(message))
        self.reason = self.reason or reason


@dataclass
class _Stored:
    """An accepted check with what ingestion drew for its place."""

    item: RoundItem
    level: str
    next_due_at: datetime
    deadline: datetime
    interval_seconds: int | None


def rounds_ingest(*, raw_items: list, officer, device: Device | None, now=None) -> list[RoundItem]:
    """Stores the good round checks of a batch and quarantines the rest.

    ``officer``: the signed-in person posting (a custodial role, checked by
    the caller); ``device``: the tablet the request came from (its cookie),
    or None. Only an active tablet of a facility the officer works in makes
    a round check; every item of any other request is refused.
    """
    now = now or timezone.now()
    items = [_parse(index, raw, now=now) for index, raw in enumerate(raw_items)]
    facility = _sender_facility(items, officer=officer, device=device)
    with transaction.atomic():
        if facility is not None:
            _resolve(items, facility=facility)
            stored = _store(items, facility=facility, officer=officer, device=device, now=now)
        else:
            stored = []
        quarantined = _quarantine(items, officer=officer, device=device, now=now)
        for item in items:
            if item.errors:
                item.status = REJECTED
        _ledger(items, stored, quarantined, facility=facility, officer=officer, now=now)
        if stored:
            Device.objects.filter(pk=device.pk).update(last_heartbeat_at=now)
        if attention := _attention_ids(stored):
            # The unit's supervisor hears at once, not at the next pass.
            transaction.on_commit(
                lambda: signals.round_attention_observed.send(
                    sender=None, facility=facility, observation_ids=attention, now=now
                )
            )
    return items


# --- Parsing (no database) -----------------------------------------------------------


def _parse(index: int, raw, *, now) -> RoundItem:
    item = RoundItem(index=index, raw=raw)
    if not isinstance(raw, dict):
        item.reject(
            RoundReason.INVALID, "non_field_errors", _("Each round check is a JSON object.")
        )
        return item
    _parse_id(item, raw.get("id"))
    uid = raw.get("tag")
    if uid is None or uid == "":
        item.reject(
            RoundReason.TAG_REQUIRED,
            "tag",
            _("A round check is the scan of the place's tag: give the uid the tablet read."),
        )
    else:
        item.tag_uid = normalise_uid(uid)
        if not item.tag_uid:
            item.reject(RoundReason.INVALID, "tag", _("This is not a tag uid."))
    scanned_at = parse_aware_time(raw.get("scanned_at"))
    if scanned_at is None:
        item.reject(
            RoundReason.INVALID,
            "scanned_at",
            _("Give the time of the scan in ISO 8601 with its offset, e.g. %(example)s.")
            % {"example": "2026-11-24T01:15:09-06:00"},
        )
    elif problem := clock_problem(scanned_at, now=now):
        item.reject(problem[0], "scanned_at", problem[1])
    else:
        item.scanned_at = scanned_at
    _parse_observations(item, raw.get("observations", []))
    return item


def _parse_id(item: RoundItem, value) -> None:
    item.id, item.uuid = parse_item_id(value)
    if item.uuid is not None:
        return
    item.reject(
        RoundReason.INVALID,
        "id",
        _("A UUID made by the tablet is required; it makes a repeated post harmless."),
    )


def _parse_observations(item: RoundItem, value) -> None:
    if not isinstance(value, list) or len(value) > MAX_OBSERVATIONS:
        item.reject(
            RoundReason.INVALID,
            "observations",
            _("Give a list of at most %(max)s observations.") % {"max": MAX_OBSERVATIONS},
        )
        return
    seen = set()
    for obs in value:
        inmate = obs.get("inmate") if isinstance(obs, dict) else None
        state = obs.get("state") if isinstance(obs, dict) else None
        if not isinstance(inmate, str) or not inmate or len(inmate) > MAX_CODE_LENGTH:
            item.reject(
                RoundReason.INVALID,
                "observations",
                _("Each observation names a person by booking number."),
            )
            return
        if state not in STATES:
            item.reject(
                RoundReason.INVALID,
                "observations",
                _("%(inmate)s: the state is one of %(states)s.")
                % {"inmate": inmate, "states": ", ".join(ObservationState.values)},
            )
            return
        if inmate in seen:
            item.reject(
                RoundReason.INVALID,
                "observations",
                _("%(inmate)s is observed twice in one check.") % {"inmate": inmate},
            )
            return
        seen.add(inmate)
        item.observations.append((inmate, state))


# --- Who sends, and the record's answers ----------------------------------------------


def _sender_facility(items, *, officer, device: Device | None) -> Facility | None:
    """The tablet's facility when the request may make round checks at all;
    else None, every item refused with the reason."""
    if device is None or not device.is_active or device.kind != DeviceKind.TABLET:
        for item in items:
            item.reject(
                RoundReason.TABLET_REQUIRED,
                "non_field_errors",
                _("A round check is made on an enrolled, active tablet of the facility."),
            )
        return None
    works_there = officer.is_superuser or officer.facilities.filter(pk=device.facility_id).exists()
    if not works_there:
        for item in items:
            item.reject(
                RoundReason.NOT_YOUR_FACILITY,
                "non_field_errors",
                _("This tablet belongs to a facility you do not work in."),
            )
        return None
    return device.facility


def _resolve(items: list[RoundItem], *, facility: Facility) -> None:
    """Tags and people, two or three queries for the whole batch."""
    live = [i for i in items if not i.errors]
    uids = {i.tag_uid for i in live}
    tags = {
        tag.uid: tag
        for tag in LocationTag.objects.filter(facility=facility, uid__in=uids).select_related(
            "location"
        )
    }
    missing = uids - set(tags)
    elsewhere = set()
    if missing:
        elsewhere = set(
            LocationTag.objects.filter(uid__in=missing)
            .exclude(facility=facility)
            .values_list("uid", flat=True)
        )
    for item in live:
        tag = tags.get(item.tag_uid)
        if tag is None:
            if item.tag_uid in elsewhere:
                item.reject(
                    RoundReason.TAG_OTHER_FACILITY,
                    "tag",
                    _("This tag belongs to another facility."),
                )
            else:
                item.reject(
                    RoundReason.UNKNOWN_TAG, "tag", _("No tag with this uid is registered.")
                )
        elif tag.retired_at is not None and item.scanned_at >= tag.retired_at:
            # A scan made before the retirement, sent late, still proves presence.
            item.reject(RoundReason.TAG_RETIRED, "tag", _("This tag was retired."))
        elif item.scanned_at < tag.registered_at:
            item.reject(
                RoundReason.BEFORE_TAG,
                "scanned_at",
                _("Before the tag was registered: check the tablet's clock."),
            )
        else:
            item.tag = tag
    live = [i for i in live if not i.errors]
    places = {i.tag.location_id for i in live}
    people = defaultdict(dict)
    own_levels = {}
    if places:
        rows = Inmate.objects.filter(
            cell_id__in=places, status=InmateStatus.IN_CUSTODY
        ).values_list("cell_id", "booking_number", "id", "watch_level")
        for cell_id, booking, pk, level in rows:
            people[cell_id][booking] = pk
            if level:
                own_levels[pk] = level
    for item in live:
        here = people.get(item.tag.location_id, {})
        strangers = [b for b, _s in item.observations if b not in here]
        if strangers:
            item.reject(
                RoundReason.NOT_IN_CELL,
                "observations",
                _("Not in custody in %(place)s: %(people)s.")
                % {"place": item.tag.location.code, "people": ", ".join(strangers)},
            )
            continue
        item.people = {b: here[b] for b, _s in item.observations}
        item.own_levels = {pk: own_levels[pk] for pk in item.people.values() if pk in own_levels}


# --- Storing ---------------------------------------------------------------------------

_INSERT_CHECKS_SQL = """
INSERT INTO custody_roundcheck (
    id, facility_id, location_id, tag_id, officer_id, device_id, scanned_at, received_at,
    watch_level, next_due_at, interval_seconds
)
SELECT * FROM unnest(
    %s::uuid[], %s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], %s::uuid[],
    %s::timestamptz[], %s::timestamptz[], %s::varchar[], %s::timestamptz[], %s::integer[]
)
ON CONFLICT (id) DO NOTHING
RETURNING id
"""

# Moved forward only: a check buffered offline and sent after a later one
# never pulls a place's schedule back.
_ADVANCE_SQL = """
UPDATE {table} AS t
SET last_round_at = v.at, next_round_due_at = v.due, round_deadline_at = v.deadline
FROM unnest(%s::bigint[], %s::timestamptz[], %s::timestamptz[], %s::timestamptz[])
    AS v(id, at, due, deadline)
WHERE t.id = v.id AND (t.last_round_at IS NULL OR t.last_round_at < v.at)
"""


def _store(items, *, facility, officer, device, now) -> list[_Stored]:
    # Repeats already stored are told apart by the insert itself (ON CONFLICT).
    live = sorted((i for i in items if not i.errors), key=lambda i: str(i.uuid))
    fresh, ids = [], set()
    for item in live:
        if item.id in ids:
            item.status = DUPLICATE
        else:
            ids.add(item.id)
            fresh.append(item)
    stored = _schedule(fresh, facility=facility)
    if not stored:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT_CHECKS_SQL,
            [
                [s.item.uuid for s in stored],
                [facility.pk] * len(stored),
                [s.item.tag.location_id for s in stored],
                [s.item.tag.pk for s in stored],
                [officer.pk] * len(stored),
                [device.pk] * len(stored),
                [s.item.scanned_at for s in stored],
                [now] * len(stored),
                [s.level for s in stored],
                [s.next_due_at for s in stored],
                [s.interval_seconds for s in stored],
            ],
        )
        inserted = {str(row[0]) for row in cursor.fetchall()}
    # Another request stored the same id a moment ago: a repeat, not an error.
    for s in stored:
        s.item.status = ACCEPTED if s.item.id in inserted else DUPLICATE
    stored = [s for s in stored if s.item.status == ACCEPTED]
    RoundObservation.objects.bulk_create(
        [
            RoundObservation(
                round_check_id=s.item.uuid,
                inmate_id=s.item.people[booking],
                state=state,
                facility_id=facility.pk,
                observed_at=s.item.scanned_at,
            )
            for s in stored
            for booking, state in s.item.observations
        ]
    )
    _advance_places(stored)
    _advance_people(stored, facility=facility)
    return stored


def _schedule(fresh: list[RoundItem], *, facility) -> list[_Stored]:
    """Each check's drawn next time and its interval since the place's
    previous check (checks of one place in one batch follow each other)."""
    previous = {}
    stored = []
    for item in sorted(fresh, key=lambda i: i.scanned_at):
        location = item.tag.location
        before = previous.get(location.pk, location.last_round_at)
        interval = None
        if before is not None and item.scanned_at > before:
            interval = int((item.scanned_at - before).total_seconds())
        if before is None or item.scanned_at > before:
            previous[location.pk] = item.scanned_at
        due, deadline = draw_next_due(
            facility=facility, level=location.watch_level, after=item.scanned_at
        )
        stored.append(_Stored(item, location.watch_level, due, deadline, interval))
    return stored


def _attention_ids(stored: list[_Stored]) -> list[int]:
    """The observations just stored that need the unit's supervisor."""
    raising = ObservationState.raising()
    checks = [s.item.uuid for s in stored if any(st in raising for _b, st in s.item.observations)]
    if not checks:
        return []
    return list(
        RoundObservation.objects.filter(round_check_id__in=checks, state__in=raising).values_list(
            "pk", flat=True
        )
    )


def _advance_places(stored: list[_Stored]) -> None:
    latest: dict[int, _Stored] = {}
    for s in stored:
        place = s.item.tag.location_id
        if place not in latest or s.item.scanned_at > latest[place].item.scanned_at:
            latest[place] = s
    ids = sorted(latest)
    with connection.cursor() as cursor:
        cursor.execute(
            _ADVANCE_SQL.format(table="custody_location"),
            [
                ids,
                [latest[i].item.scanned_at for i in ids],
                [latest[i].next_due_at for i in ids],
                [latest[i].deadline for i in ids],
            ],
        )


def _advance_people(stored: list[_Stored], *, facility) -> None:
    """People on a level of their own keep their own schedule: one face-to-face
    observation (any state: the officer looked) moves it forward."""
    seen: dict[int, datetime] = {}
    own: dict[int, str] = {}
    for s in stored:
        own.update(s.item.own_levels)
        for booking, _state in s.item.observations:
            pk = s.item.people[booking]
            if pk not in seen or s.item.scanned_at > seen[pk]:
                seen[pk] = s.item.scanned_at
    if not own:
        return
    ids = sorted(own)
    draws = [draw_next_due(facility=facility, level=own[i], after=seen[i]) for i in ids]
    with connection.cursor() as cursor:
        cursor.execute(
            _ADVANCE_SQL.format(table="custody_inmate"),
            [ids, [seen[i] for i in ids], [d[0] for d in draws], [d[1] for d in draws]],
        )


def _quarantine(items, *, officer, device, now) -> list[QuarantinedCheckIn]:
    """Keeps every refused check under the tablet's facility (or, with no
    usable tablet, under each facility the officer works in)."""
    rejects = [i for i in items if i.errors]
    if not rejects:
        return []
    if device is not None and device.is_active:
        facility_ids = [device.facility_id]
    else:
        facility_ids = sorted(officer.facilities.values_list("pk", flat=True)) or [None]
    sender = actor_label(officer) + (f"|device:{device.pk}" if device is not None else "")
    rows = []
    for item in rejects:
        rows += quarantine_copies(
            item.raw,
            sender_key="rounds|" + sender,
            facility_ids=facility_ids,
            received_at=now,
            device=device,
            submitted_by=officer,
            item_id=item.id,
            source=QuarantineSource.ROUNDS,
            reason=item.reason,
            errors=item.errors,
        )
    QuarantinedCheckIn.objects.bulk_create(rows, ignore_conflicts=True)
    return rows


def _ledger(items, stored, quarantined, *, facility, officer, now) -> None:
    """One summary per facility and batch; its digest ties every stored check
    and observation to the hash chain."""
    actor = actor_label(officer)
    by_facility: dict[int, list[PendingEvent]] = defaultdict(list)
    if stored:
        states = Counter(state for s in stored for _b, state in s.item.observations)
        by_facility[facility.pk].append(
            PendingEvent(
                action="rounds.received",
                subject=actor,
                actor=actor,
                data={
                    "accepted": len(stored),
                    "duplicate": sum(1 for i in items if i.status == DUPLICATE),
                    "places": len({s.item.tag.location_id for s in stored}),
                    "observations": dict(states),
                    "first_scanned_at": min(s.item.scanned_at for s in stored),
                    "last_scanned_at": max(s.item.scanned_at for s in stored),
                    "digest": _digest(stored),
                },
            )
        )
    rejects = defaultdict(list)
    for row in quarantined:
        if row.facility_id is not None:
            rejects[row.facility_id].append(row)
    for facility_id, rows in rejects.items():
        by_facility[facility_id].append(
            PendingEvent(
                action="rounds.quarantined",
                subject=actor,
                actor=actor,
                data={
                    "count": len(rows),
                    "reasons": dict(Counter(r.reason for r in rows)),
                    "items": [r.item_id for r in rows][:100],
                },
            )
        )
    for facility_id in sorted(by_facility):
        owner = facility if facility and facility.pk == facility_id else None
        owner = owner or Facility.objects.get(pk=facility_id)
        ledger_append_many(facility=owner, events=by_facility[facility_id], at=now)


def _digest(stored: list[_Stored]) -> str:
    """sha256 over the accepted checks, one sorted line each (id, tag, time,
    the observations), so anyone can recompute it from the tables."""
    lines = sorted(
        "|".join(
            [
                str(s.item.uuid),
                s.item.tag.uid,
                s.item.scanned_at.astimezone(UTC).isoformat(),
                ",".join(f"{b}={st}" for b, st in sorted(s.item.observations)),
            ]
        )
        for s in stored
    )
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()
