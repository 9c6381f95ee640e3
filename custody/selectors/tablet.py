"""Reads for the tablet count pages (/counts/): the board of units to count
and the people a tile shows. Scoped by the caller's facilities."""

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from custody.models import CountCall, Facility, Inmate, Location, RollCall
from custody.selectors.records import facilities_visible_to
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
    progress, its last count and whether that one cleared; five queries each."""
    now = now or timezone.now()
    return [
        _facility_board(facility, now) for facility in facilities_visible_to(user).order_by("code")
    ]


def _facility_board(facility: Facility, now) -> FacilityBoard:
    units = counting_units(facility)
    running = counts_in_progress(facility)
    last = last_counts_by_unit(facility)
    people = people_per_unit(facility)
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
            )
        )
    return FacilityBoard(
        facility=facility, units=lines, emergency_call=open_emergency_call(facility, now)
    )


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
