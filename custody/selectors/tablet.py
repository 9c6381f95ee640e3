"""Reads for the tablet count pages (/counts/): the board of units to count
and the people a tile shows. Scoped by the caller's facilities."""

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from custody.models import CountCall, CountSchedule, Facility, Inmate, Location, RollCall
from custody.selectors.records import facilities_visible_to, visible_facility_ids
from custody.selectors.rollcalls import (
    ROSTER_STATUSES,
    counting_units,
    counts_in_progress,
    last_counts_by_unit,
    open_emergency_call,
)


@dataclass(frozen=True)
class UnitLine:
    unit: Location
    people: int  # on the roster a count started now would freeze
    in_progress: RollCall | None
    last_at: datetime | None  # when its last count was submitted
    last_cleared: bool | None  # None: never counted
    next_due_at: datetime | None = None  # the next scheduled count not yet past its deadline

    @property
    def never_counted(self) -> bool:
        return self.last_at is None


@dataclass(frozen=True)
class FacilityBoard:
    facility: Facility
    units: list[UnitLine]
    emergency_call: CountCall | None


def count_board(*, user, now=None) -> list[FacilityBoard]:
    """Per visible facility (by code): every counting unit with its count in
    progress, its last count and whether that one cleared, and its next
    scheduled count; six queries each."""
    now = now or timezone.now()
    return [
        _facility_board(facility, now) for facility in facilities_visible_to(user).order_by("code")
    ]


def _facility_board(facility: Facility, now) -> FacilityBoard:
    units = counting_units(facility)
    running = counts_in_progress(facility)
    last = last_counts_by_unit(facility)
    people = people_per_unit(facility)
    schedules = list(CountSchedule.objects.filter(facility=facility, is_active=True))
    lines = []
    for unit in units:
        counted = last.get(unit.code, {})
        last_at = counted.get("last_at")
        lines.append(
            UnitLine(
                unit=unit,
                people=people[unit.pk],
                in_progress=running.get(unit.pk),
                last_at=last_at,
                last_cleared=None if last_at is None else counted["last_cleared_at"] == last_at,
                next_due_at=next_scheduled_count(schedules, unit, facility, now),
            )
        )
    return FacilityBoard(
        facility=facility, units=lines, emergency_call=open_emergency_call(facility, now)
    )


def next_scheduled_count(schedules, unit: Location, facility: Facility, now) -> datetime | None:
    """The time of the unit's next scheduled count whose deadline (time +
    grace) is still ahead: today's or tomorrow's, in the facility's zone. A
    schedule added after today's time is first owed tomorrow (as the
    reconciler and the schedules board see it)."""
    today = timezone.localdate(now, timezone=facility.tzinfo)
    candidates = []
    for schedule in schedules:
        if schedule.location_id not in (None, unit.pk):
            continue
        for day in (today, today + timedelta(days=1)):
            at = datetime.combine(day, schedule.time_of_day, tzinfo=facility.tzinfo)
            deadline = at + timedelta(minutes=schedule.grace_minutes)
            if deadline > now and at >= schedule.created_at:
                candidates.append(at)
                break
    return min(candidates, default=None)


def people_per_unit(facility: Facility) -> Counter:
    """How many people a count of each location would expect: those whose
    cell is the location or lies in it, two levels down (as
    ``cells_within``); one query for the whole facility."""
    counts: Counter = Counter()
    rows = Inmate.objects.filter(
        facility=facility, status__in=ROSTER_STATUSES, cell__isnull=False
    ).values_list("cell_id", "cell__parent_id", "cell__parent__parent_id")
    for cell, parent, grandparent in rows:
        for location_id in {cell, parent, grandparent} - {None}:
            counts[location_id] += 1
    return counts


@dataclass(frozen=True)
class Whereabouts:
    booking_number: str
    name: str
    facility: str
    unit: str | None
    cell: str | None


def where_someone_belongs(*, user, booking_number: str) -> Whereabouts | None:
    """Where the record places a person scanned on the wrong count: their
    unit and cell. Only within the caller's facilities (None for anyone
    else, as for nobody); wristbands print the number in any case."""
    row = (
        Inmate.objects.filter(
            facility_id__in=visible_facility_ids(user),
            booking_number__iexact=booking_number.strip(),
        )
        .values_list(
            "booking_number",
            "first_name",
            "last_name",
            "facility__code",
            "cell__parent__code",
            "cell__code",
        )
        .first()
    )
    if row is None:
        return None
    booking, first, last, facility, unit, cell = row
    return Whereabouts(booking, f"{first} {last}", facility, unit or cell, cell)
