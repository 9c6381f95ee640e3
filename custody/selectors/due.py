"""What a watcher asks of the custody record: who is overdue, which
movements are late, which scans are new, which readers are silent.

Unscoped (the reconciler runs for the system, one facility at a time) and
index-backed: each read costs O(what is due), never a scan of history. The
index each query relies on is named beside it.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import Q

from custody.models import (
    CLOCK_SKEW,
    MAX_CHECKIN_AGE,
    CheckIn,
    CountCall,
    CountSchedule,
    CountVerification,
    Device,
    Facility,
    Inmate,
    InmateStatus,
    Location,
    LocationKind,
    Movement,
    MovementKind,
    MovementStatus,
    RollCall,
    RollCallStatus,
    User,
)
from custody.selectors.rollcalls import EMERGENCY_CALL_WINDOW, counting_units

QUERY_CHUNK = 500
CHECKIN_FIELDS = ("id", "inmate_id", "observed_at", "location_id", "location__code", "method")


def inmates_overdue(*, facility: Facility, deadline_before: datetime) -> list[tuple]:
    """(id, cell_id, next_due_at, last_seen_at) of people in custody whose
    ``next_due_at`` is before ``deadline_before`` (``inmate_due_per_facility``)."""
    return list(
        Inmate.objects.filter(
            facility=facility,
            status=InmateStatus.IN_CUSTODY,
            next_due_at__lt=deadline_before,
        )
        .order_by()
        .values_list("id", "cell_id", "next_due_at", "last_seen_at")
    )


def inmates_by_id(ids) -> dict[int, Inmate]:
    return Inmate.objects.in_bulk(list(ids))


def checkins_at(pairs: list[tuple[int, datetime]]) -> dict[tuple[int, datetime], dict]:
    """The check-ins at exactly these (inmate, observed_at) pairs, one query
    per ``QUERY_CHUNK`` pairs (``checkin_inmate_time``)."""
    found = {}
    for start in range(0, len(pairs), QUERY_CHUNK):
        condition = Q()
        for inmate_id, at in pairs[start : start + QUERY_CHUNK]:
            condition |= Q(inmate_id=inmate_id, observed_at=at)
        rows = CheckIn.objects.filter(condition).values(
            *CHECKIN_FIELDS, "out_of_place", "received_at"
        )
        for row in rows:
            found[(row["inmate_id"], row["observed_at"])] = row
    return found


def checkins_received(*, facility: Facility, since: datetime, until: datetime) -> list[dict]:
    """Scans that arrived in (since, until], on the BRIN ``checkin_received_brin``.
    A scan is stored only if observed at most ``MAX_CHECKIN_AGE`` before and
    ``CLOCK_SKEW`` after its arrival, so bounding ``observed_at`` as well
    prunes the search to this month's partition (and maybe the last)."""
    return list(
        CheckIn.objects.filter(
            facility=facility,
            received_at__gt=since,
            received_at__lte=until,
            observed_at__gte=since - MAX_CHECKIN_AGE - CLOCK_SKEW,
            observed_at__lte=until + CLOCK_SKEW,
        )
        .order_by()
        .values(*CHECKIN_FIELDS, "out_of_place")
    )


NEAR_SQL = """
SELECT DISTINCT n.id, n.inmate_id, n.observed_at, n.location_id, l.code, n.method
FROM unnest(%s::bigint[], %s::timestamptz[]) AS c (inmate_id, observed_at)
JOIN custody_checkin n
  ON n.inmate_id = c.inmate_id
 AND n.observed_at > c.observed_at - %s AND n.observed_at < c.observed_at + %s
JOIN custody_location l ON l.id = n.location_id
-- Constant bounds as well, so the planner prunes to the months concerned.
WHERE n.observed_at > %s AND n.observed_at < %s
"""


def checkins_near(rows: list[dict], window: timedelta) -> dict[int, list[dict]]:
    """By inmate, every scan within ``window`` of one of ``rows`` (same
    person), on ``checkin_inmate_time``: one joined query."""
    near: dict[int, list[dict]] = {}
    if not rows:
        return near
    with connection.cursor() as cursor:
        cursor.execute(
            NEAR_SQL,
            [
                [row["inmate_id"] for row in rows],
                [row["observed_at"] for row in rows],
                window,
                window,
                min(row["observed_at"] for row in rows) - window,
                max(row["observed_at"] for row in rows) + window,
            ],
        )
        found = [dict(zip(CHECKIN_FIELDS, values, strict=True)) for values in cursor]
    for other in found:
        near.setdefault(other["inmate_id"], []).append(other)
    return near


def movements_overdue(*, facility: Facility, outings, before: datetime) -> list[dict]:
    """Departed movements past their time, in one query: outings (``outings``
    kinds) past ``expected_back_at`` (``movement_return_due``) and transfers
    past ``expected_arrival_at`` (``movement_arrival_due``)."""
    return list(
        Movement.objects.filter(facility=facility, status=MovementStatus.DEPARTED)
        .filter(
            Q(kind__in=outings, expected_back_at__lt=before)
            | Q(kind=MovementKind.TRANSFER, expected_arrival_at__lt=before)
        )
        .order_by()
        .values(
            "id",
            "inmate_id",
            "kind",
            "expected_back_at",
            "expected_arrival_at",
            "to_facility__code",
            "destination",
        )
    )


def emergency_departures_unapproved(*, facility: Facility, departed_before: datetime) -> list:
    """Emergency departures nobody else approved, out since before
    ``departed_before`` (``movement_emergency_unapproved``), one query."""
    return list(
        Movement.objects.filter(
            facility=facility,
            emergency=True,
            approved_by__isnull=True,
            departed_at__lt=departed_before,
        )
        .order_by()
        .values(
            "id",
            "inmate_id",
            "from_location_id",
            "departed_at",
            "departed_by__username",
            "requested_by__username",
            "emergency_reason",
            "destination",
        )
    )


def usernames_by_id(ids) -> dict[int, str]:
    return dict(User.objects.filter(pk__in=list(ids)).values_list("pk", "username"))


def internal_movements_unpaired(*, facility: Facility, before: datetime) -> list[dict]:
    """Internal movements still out after ``before`` (their return, not
    seen back home), one query on ``movement_internal_due``."""
    return list(internal_movements_unpaired_query(facility=facility, before=before))


def internal_movements_unpaired_query(*, facility: Facility, before: datetime):
    # The filter repeats the index's condition, so the planner matches it
    # (tests EXPLAIN this very query).
    return (
        Movement.objects.filter(
            facility=facility,
            status=MovementStatus.DEPARTED,
            kind=MovementKind.INTERNAL,
            expected_back_at__lt=before,
        )
        .order_by()
        .values(
            "id",
            "inmate_id",
            "expected_back_at",
            "departed_at",
            "from_location_id",
            "to_location__code",
            "session_id",
            "departed_by__username",
        )
    )


def movements_by_id(ids) -> dict[int, Movement]:
    return Movement.objects.in_bulk(list(ids))


def last_departures(inmate_ids) -> dict[int, dict]:
    """Each person's latest departure (id, kind, departed_at), one query."""
    latest = {}
    for row in (
        Movement.objects.filter(inmate_id__in=list(inmate_ids), departed_at__isnull=False)
        .order_by("inmate_id", "-departed_at")
        .values("id", "inmate_id", "kind", "departed_at")
    ):
        latest.setdefault(row["inmate_id"], row)
    return latest


def devices_silent(*, facility: Facility, since: datetime) -> list[tuple]:
    """(id, name, location_id, last_heartbeat_at, created_at) of active
    devices not heard from since ``since`` (never heard: created before it)."""
    return list(
        Device.objects.filter(facility=facility, is_active=True)
        .order_by()
        .filter(
            Q(last_heartbeat_at__lt=since) | Q(last_heartbeat_at__isnull=True, created_at__lt=since)
        )
        .values_list("id", "name", "location_id", "last_heartbeat_at", "created_at")
    )


def devices_by_id(ids) -> dict:
    return Device.objects.in_bulk(list(ids))


def location_zones(facility: Facility) -> dict[int, int]:
    """Location id → the unit it lies in (itself when it is in none): places
    in one zone are a few steps apart."""
    return zones_of(
        Location.objects.filter(facility=facility).values_list("id", "parent_id", "kind")
    )


def zones_of(rows) -> dict[int, int]:
    """``location_zones`` of (id, parent_id, kind) rows already read."""
    parent = {pk: (parent_id, kind) for pk, parent_id, kind in rows}
    zones = {}
    for pk in parent:
        zone, seen = pk, set()
        while parent.get(zone, (None,))[0] and parent[zone][1] != LocationKind.UNIT:
            seen.add(zone)
            zone = parent[zone][0]
            if zone in seen:  # a loop in the tree: stop rather than spin
                break
        zones[pk] = zone
    return zones


def facilities_all() -> list[Facility]:
    return list(Facility.objects.order_by("code"))


def facility_by_id(pk: int) -> Facility | None:
    return Facility.objects.filter(pk=pk).first()


@dataclass(frozen=True)
class CountSlot:
    """A count owed: of ``location_id``, at ``at``, submitted by ``deadline``;
    a count started in [``opens_at``, ``closes_at``) answers it (from then on
    a count belongs to the unit's next slot)."""

    location_id: int
    at: datetime
    opens_at: datetime
    deadline: datetime
    closes_at: datetime
    kind: str
    schedule_id: int | None = None
    call_id: int | None = None


def count_slots_due(*, facility: Facility, since: datetime, until: datetime) -> list[CountSlot]:
    """Counts whose deadline (time + grace) fell in [since, until): each day's
    scheduled counts, in the facility's zone (a schedule for no unit owes one
    per unit), and every unit's count after an emergency call."""
    schedules = list(CountSchedule.objects.filter(facility=facility, is_active=True))
    calls = list(
        CountCall.objects.filter(
            facility=facility, called_at__gt=since - MAX_CALL_GRACE, called_at__lte=until
        )
    )
    units = None
    if calls or any(s.location_id is None for s in schedules):
        units = [u.pk for u in counting_units(facility)]
    slots = []
    for schedule in schedules:
        for at in _occurrences(schedule, facility, since, until):
            grace = timedelta(minutes=schedule.grace_minutes)
            for location_id in [schedule.location_id] if schedule.location_id else units:
                slots.append(
                    CountSlot(
                        location_id,
                        at,
                        opens_at=at - grace,
                        deadline=at + grace,
                        closes_at=next_opening(schedules, location_id, at, facility),
                        kind=schedule.kind,
                        schedule_id=schedule.pk,
                    )
                )
    return slots + _call_slots(calls, since, until, units or [])


# An emergency call's grace is at most this long (MAX_COUNT_GRACE_MINUTES).
MAX_CALL_GRACE = timedelta(hours=2)


def _occurrences(schedule: CountSchedule, facility: Facility, since, until) -> list[datetime]:
    """The schedule's times, in the facility's zone, whose deadline is in [since, until)."""
    tz = facility.tzinfo
    grace = timedelta(minutes=schedule.grace_minutes)
    found = []
    day = (since - grace).astimezone(tz).date()
    while day <= until.astimezone(tz).date():
        at = datetime.combine(day, schedule.time_of_day, tzinfo=tz)
        day += timedelta(days=1)
        if since <= at + grace < until and at >= schedule.created_at:
            found.append(at)
    return found


def next_opening(schedules, location_id: int, after: datetime, facility: Facility) -> datetime:
    """When the unit's next scheduled count (after ``after``) opens."""
    tz = facility.tzinfo
    local = after.astimezone(tz)
    openings = []
    for schedule in schedules:
        if schedule.location_id not in (None, location_id):
            continue
        at = datetime.combine(local.date(), schedule.time_of_day, tzinfo=tz)
        if at <= after:
            at = datetime.combine(local.date() + timedelta(days=1), schedule.time_of_day, tzinfo=tz)
        openings.append(at - timedelta(minutes=schedule.grace_minutes))
    return min(openings, default=after + timedelta(days=1))


def _call_slots(calls: list[CountCall], since, until, units: list[int]) -> list[CountSlot]:
    slots = []
    for call in calls:
        deadline = call.called_at + timedelta(minutes=call.grace_minutes)
        if not since <= deadline < until:
            continue
        # Only counts started after the call answer it.
        slots.extend(
            CountSlot(
                pk,
                call.called_at,
                opens_at=call.called_at,
                deadline=deadline,
                closes_at=call.called_at + EMERGENCY_CALL_WINDOW,
                kind="emergency",
                call_id=call.pk,
            )
            for pk in units
        )
    return slots


def counts_started_since(*, facility: Facility, since: datetime) -> list[dict]:
    """Counts of the facility started after ``since``, cancelled ones aside
    (``rollcall_facility_started``)."""
    return list(
        RollCall.objects.filter(facility=facility, started_at__gte=since)
        .exclude(status=RollCallStatus.CANCELLED)
        .order_by()
        .values(
            "id", "location_id", "kind", "status", "started_at", "submitted_at", "unaccounted_count"
        )
    )


COUNT_RESULT_FIELDS = (
    "id",
    "location_id",
    "kind",
    "recount_of_id",
    "submitted_at",
    "submitted_by__username",
    "unaccounted_count",
    "unaccounted",
)


def counts_submitted_between(*, facility: Facility, since: datetime, until: datetime) -> list[dict]:
    """Counts submitted in (since, until] (``rollcall_facility_submitted``)."""
    return list(
        RollCall.objects.filter(facility=facility, submitted_at__gt=since, submitted_at__lte=until)
        .order_by("submitted_at")
        .values(*COUNT_RESULT_FIELDS)
    )


def recounts_failed_between(*, facility: Facility, since: datetime, until: datetime) -> list[dict]:
    """Verifications finished in (since, until] whose recount did not find
    everyone drawn (``recount_facility_finished``)."""
    return list(
        CountVerification.objects.filter(
            facility=facility, finished_at__gt=since, finished_at__lte=until
        )
        .exclude(missing=[])
        .order_by("finished_at")
        .values(
            "rollcall_id",
            "rollcall__location_id",
            "rollcall__recount_of_id",
            "rollcall__started_by__username",
            "rollcall__submitted_by__username",
            "verifier__username",
            "finished_at",
            "missing",
        )
    )


def count_chains(root_ids) -> dict[str, list[dict]]:
    """By first count: it and its recounts that were submitted, in order."""
    roots = [str(pk) for pk in root_ids]
    chains: dict[str, list[dict]] = {pk: [] for pk in roots}
    if not roots:
        return chains
    for row in (
        RollCall.objects.filter(Q(pk__in=roots) | Q(recount_of_id__in=roots))
        .filter(submitted_at__isnull=False)
        .order_by("submitted_at")
        .values(*COUNT_RESULT_FIELDS)
    ):
        chains[str(row["recount_of_id"] or row["id"])].append(row)
    return chains
