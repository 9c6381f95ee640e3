"""What the rounds record says (docs/api.md "Rounds"): what is due, what is
overdue, which scans are new, and how regular a place's checks were.

The due queries run on partial indexes (``location_round_due``,
``inmate_round_due``) and cost O(what is due); the regularity selectors read
one place's (or one facility's) checks of one period through
``round_location_time``.
"""

import itertools
import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Exists, OuterRef

from custody.models import (
    Facility,
    Inmate,
    InmateStatus,
    Location,
    LocationKind,
    LocationTag,
    ObservationState,
    RoundCheck,
    RoundObservation,
)
from custody.selectors.due import zones_of

# The tablet is told "due within N minutes" in these steps, never the time.
DUE_BUCKETS_MINUTES = (5, 15, 30, 60)
# Fewer intervals than this in a period say nothing about regularity.
MIN_INTERVALS = 4


def _occupied():
    return Exists(Inmate.objects.filter(cell_id=OuterRef("pk"), status=InmateStatus.IN_CUSTODY))


def locations_round_overdue_query(*, facility: Facility, deadline_before: datetime):
    """The query of ``locations_round_overdue`` (its EXPLAIN is tested)."""
    return (
        Location.objects.filter(facility=facility, round_deadline_at__lt=deadline_before)
        .filter(_occupied())
        .order_by()
        .values_list("id", "code", "watch_level", "round_deadline_at", "last_round_at")
    )


def locations_round_overdue(*, facility: Facility, deadline_before: datetime) -> list[tuple]:
    """(id, code, watch_level, round_deadline_at, last_round_at) of the
    facility's occupied places whose round deadline is before
    ``deadline_before`` (``location_round_due``; missed_round)."""
    return list(locations_round_overdue_query(facility=facility, deadline_before=deadline_before))


def inmates_round_overdue_query(*, facility: Facility, deadline_before: datetime):
    """The query of ``inmates_round_overdue`` (its EXPLAIN is tested)."""
    return (
        Inmate.objects.filter(
            facility=facility,
            status=InmateStatus.IN_CUSTODY,
            round_deadline_at__isnull=False,
            round_deadline_at__lt=deadline_before,
        )
        .order_by()
        .values_list("id", "cell_id", "watch_level", "round_deadline_at", "last_round_at")
    )


def inmates_round_overdue(*, facility: Facility, deadline_before: datetime) -> list[tuple]:
    """(id, cell_id, watch_level, round_deadline_at, last_round_at) of people
    in custody on a level of their own past their round deadline
    (``inmate_round_due``; missed_round)."""
    return list(inmates_round_overdue_query(facility=facility, deadline_before=deadline_before))


def round_times(*, location_ids=(), inmate_ids=()) -> tuple[dict, dict]:
    """The current (last_round_at, round_deadline_at) of these places and
    people, to tell which missed_round alerts a check has closed."""
    places = {
        pk: (last, deadline)
        for pk, last, deadline in Location.objects.filter(pk__in=list(location_ids)).values_list(
            "pk", "last_round_at", "round_deadline_at"
        )
    }
    people = {
        pk: (last, deadline, status, level)
        for pk, last, deadline, status, level in Inmate.objects.filter(
            pk__in=list(inmate_ids)
        ).values_list("pk", "last_round_at", "round_deadline_at", "status", "watch_level")
    }
    return places, people


def round_checks_received(*, facility: Facility, since: datetime, until: datetime) -> list[dict]:
    """Checks received in (since, until] (``round_facility_received``)."""
    return list(
        RoundCheck.objects.filter(
            facility=facility, received_at__gt=since, received_at__lte=until
        ).values("id", "officer_id", "location_id", "scanned_at", "received_at")
    )


def officer_scans_around(*, officer_ids, since: datetime, until: datetime) -> list[dict]:
    """Every scan of these officers scanned in [since, until], in time order
    (``round_officer_time``): the walk between two of them (implausible_round)."""
    return list(
        RoundCheck.objects.filter(
            officer_id__in=list(officer_ids), scanned_at__gte=since, scanned_at__lte=until
        )
        .order_by("officer_id", "scanned_at", "id")
        .values(
            "id", "officer_id", "officer__username", "location_id", "location__code", "scanned_at"
        )
    )


ATTENTION_FIELDS = (
    "id",
    "inmate_id",
    "state",
    "observed_at",
    "round_check_id",
    "round_check__location_id",
    "round_check__location__code",
    "round_check__officer__username",
)


def round_attention_received(*, facility: Facility, since: datetime, until: datetime) -> list:
    """Observations other than "seen alive" of the checks received in
    (since, until]: someone needs the unit's supervisor (round_attention)."""
    return list(
        RoundObservation.objects.filter(
            facility=facility,
            round_check__facility=facility,
            round_check__received_at__gt=since,
            round_check__received_at__lte=until,
        )
        .exclude(state=ObservationState.SEEN_ALIVE)
        .order_by("observed_at", "id")
        .values(*ATTENTION_FIELDS)
    )


def round_attention_by_id(*, facility: Facility, observation_ids) -> list[dict]:
    """These observations, if they are of ``facility`` and not "seen alive"."""
    return list(
        RoundObservation.objects.filter(facility=facility, pk__in=list(observation_ids))
        .exclude(state=ObservationState.SEEN_ALIVE)
        .order_by("observed_at", "id")
        .values(*ATTENTION_FIELDS)
    )


def unoccupied(*, location_ids) -> list[int]:
    """Those of these places where nobody is in custody now."""
    return list(
        Location.objects.filter(pk__in=list(location_ids))
        .exclude(_occupied())
        .values_list("pk", flat=True)
    )


def location_zones_of(facility: Facility) -> dict[int, int]:
    """Location id → its unit (itself when in none), one query."""
    return zones_of(
        Location.objects.filter(facility=facility).values_list("id", "parent_id", "kind")
    )


# --- The tablet's list ------------------------------------------------------------------


def due_within_minutes(due_at: datetime | None, *, now: datetime) -> int | None:
    """The bucket a due time falls in: 0 (now), 5, 15, 30 or 60 minutes, or
    the whole hours beyond; never the time itself."""
    if due_at is None:
        return None
    left = (due_at - now).total_seconds() / 60
    if left <= 0:
        return 0
    for bucket in DUE_BUCKETS_MINUTES:
        if left <= bucket:
            return bucket
    return int(-(-left // 60) * 60)


def rounds_due(*, facility: Facility, unit: Location | None, now: datetime) -> list[dict]:
    """The cells of ``unit`` (every cell of the facility when None), most
    urgent first, each with its people and whether it can be checked at all
    (an active tag). Two queries. Each cell's ``due_at`` is the earliest of
    its own and its people's (a person on close watch makes the cell due);
    the API turns it into a bucket."""
    cells = Location.objects.filter(facility=facility, kind=LocationKind.CELL)
    rows = list(
        cells.annotate(
            tagged=Exists(
                LocationTag.objects.filter(location_id=OuterRef("pk"), retired_at__isnull=True)
            )
        ).values(
            "id",
            "code",
            "name",
            "parent_id",
            "watch_level",
            "next_round_due_at",
            "round_deadline_at",
            "last_round_at",
            "tagged",
        )
    )
    if unit is not None:
        zones = location_zones_of(facility)
        rows = [r for r in rows if zones.get(r["id"]) == unit.pk]
    people = defaultdict(list)
    for person in (
        Inmate.objects.filter(cell_id__in=[r["id"] for r in rows], status=InmateStatus.IN_CUSTODY)
        .order_by("booking_number")
        .values(
            "cell_id",
            "booking_number",
            "first_name",
            "last_name",
            "watch_level",
            "next_round_due_at",
            "round_deadline_at",
        )
    ):
        people[person["cell_id"]].append(person)
    result = []
    for row in rows:
        here = people.get(row["id"], [])
        dues = [row["next_round_due_at"]] + [p["next_round_due_at"] for p in here]
        deadlines = [row["round_deadline_at"]] + [p["round_deadline_at"] for p in here]
        dues = [d for d in dues if d is not None]
        deadlines = [d for d in deadlines if d is not None]
        result.append(
            {
                **row,
                "people": here,
                "due_at": min(dues) if dues else None,
                "overdue": bool(deadlines) and min(deadlines) < now,
            }
        )
    far = now + timedelta(days=3650)
    result.sort(key=lambda r: (not r["people"], r["due_at"] or far, r["code"]))
    return result


def cells_without_tag(*, facility: Facility) -> list[tuple]:
    """(id, code) of occupied cells with no active tag: nobody can prove a
    round there, so missed_round cannot watch them (compliance report)."""
    active = LocationTag.objects.filter(location_id=OuterRef("pk"), retired_at__isnull=True)
    return list(
        Location.objects.filter(facility=facility, kind=LocationKind.CELL)
        .filter(_occupied())
        .exclude(Exists(active))
        .order_by("code")
        .values_list("id", "code")
    )


# --- Regularity -------------------------------------------------------------------------


@dataclass(frozen=True)
class Regularity:
    """How a place's checks were spaced in a period.

    ``spread`` is the coefficient of variation of the intervals (standard
    deviation over mean): 0 for a metronome; a uniform draw over [30, 60]
    minutes gives about 0.19, over [5, 15] about 0.29. ``too_regular`` when
    there are enough intervals to tell and the spread is below the
    facility's ``round_min_spread_percent``.
    """

    location_id: int
    checks: int
    intervals: int
    mean_seconds: float | None
    stdev_seconds: float | None
    spread: float | None
    longest_seconds: int | None
    too_regular: bool


def _regularity(location_id: int, times: list[datetime], threshold: float) -> Regularity:
    times = sorted(times)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    gaps = [g for g in gaps if g > 0]
    if len(gaps) < 2:
        return Regularity(location_id, len(times), len(gaps), None, None, None, None, False)
    mean = statistics.fmean(gaps)
    stdev = statistics.pstdev(gaps)
    spread = stdev / mean if mean else 0.0
    return Regularity(
        location_id=location_id,
        checks=len(times),
        intervals=len(gaps),
        mean_seconds=mean,
        stdev_seconds=stdev,
        spread=spread,
        longest_seconds=int(max(gaps)),
        too_regular=len(gaps) >= MIN_INTERVALS and spread < threshold,
    )


def round_regularity(*, location: Location, since: datetime, until: datetime) -> Regularity:
    """The spread of ``location``'s check intervals scanned in [since, until)
    (a shift), against its facility's threshold (``round_location_time``)."""
    times = list(
        RoundCheck.objects.filter(
            location=location, scanned_at__gte=since, scanned_at__lt=until
        ).values_list("scanned_at", flat=True)
    )
    threshold = location.facility.round_min_spread_percent / 100
    return _regularity(location.pk, times, threshold)


def rounds_regularity(
    *, facility: Facility, since: datetime, until: datetime, location_ids=None
) -> dict[int, Regularity]:
    """``round_regularity`` of every place of ``facility`` checked in
    [since, until) (or of ``location_ids``), one query: the compliance
    report's column and its "too regular" flag."""
    checks = RoundCheck.objects.filter(
        facility=facility, scanned_at__gte=since, scanned_at__lt=until
    )
    if location_ids is not None:
        checks = checks.filter(location_id__in=list(location_ids))
    times = defaultdict(list)
    for location_id, at in checks.values_list("location_id", "scanned_at"):
        times[location_id].append(at)
    threshold = facility.round_min_spread_percent / 100
    return {pk: _regularity(pk, ts, threshold) for pk, ts in times.items()}


def location_round_checks(*, location: Location, since: datetime, until: datetime):
    """``location``'s checks scanned in [since, until), oldest first, with the
    officer, the tag and the observations (compliance report, history)."""
    return (
        RoundCheck.objects.filter(location=location, scanned_at__gte=since, scanned_at__lt=until)
        .select_related("officer", "tag", "device")
        .prefetch_related("observations__inmate")
        .order_by("scanned_at", "id")
    )
