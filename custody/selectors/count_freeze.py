"""The movement freeze before a formal count (DESIGN invariant 7, API.md
"Movements"): from ``Facility.count_freeze_seconds`` before a unit's
scheduled formal count until that count is submitted or its slot is missed
(time + grace), nobody moves into, out of or inside the unit, so the list a
count is taken against cannot shift under the guards' feet (and a person
cannot be "moved" out of a count that would have missed them).

A count answers its slot as ``missed_rollcall`` judges it: a count of the
unit, not cancelled, started from the slot's opening (time - grace). Three
queries whatever the size of the facility (schedules, units when a schedule
covers every unit, counts).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q

from custody.models import (
    CountKind,
    CountSchedule,
    Facility,
    Location,
    RollCall,
    RollCallStatus,
)
from custody.selectors.rollcalls import counting_units


@dataclass(frozen=True)
class CountFreeze:
    unit_id: int
    unit_code: str
    unit_name: str
    schedule_id: int
    slot_at: datetime  # in the facility's zone
    frozen_from: datetime
    deadline: datetime  # the slot is missed from here: the freeze ends

    def as_data(self) -> dict:
        """What a refusal names: the count the movement waits for."""
        return {
            "schedule": self.schedule_id,
            "slot_at": self.slot_at.isoformat(),
            "unit": self.unit_code,
            "frozen_until": self.deadline.isoformat(),
        }


def count_freezes(
    *, facility: Facility, now: datetime, cell_ids: list[int] | None = None
) -> list[CountFreeze]:
    """The units of ``facility`` frozen at ``now`` (only those holding one of
    ``cell_ids`` when given), earliest count first."""
    schedules = list(
        CountSchedule.objects.filter(
            facility=facility, is_active=True, kind=CountKind.FORMAL
        ).select_related("location")
    )
    if not schedules or (cell_ids is not None and not cell_ids):
        return []
    freeze = timedelta(seconds=facility.count_freeze_seconds)
    slots = [(s, at) for s in schedules for at in _slots_near(s, facility, now, freeze)]
    if not slots:
        return []
    covering = _covering_units(cell_ids) if cell_ids is not None else None
    every_unit = None
    if any(s.location_id is None for s, _ in slots):
        every_unit = counting_units(facility)
    wanted = []
    for schedule, at in slots:
        units = [schedule.location] if schedule.location_id else every_unit
        for unit in units:
            if covering is None or unit.pk in covering:
                wanted.append((schedule, at, unit))
    if not wanted:
        return []
    answered = _answered(facility, wanted, now)
    freezes = [
        CountFreeze(
            unit_id=unit.pk,
            unit_code=unit.code,
            unit_name=unit.name,
            schedule_id=schedule.pk,
            slot_at=at,
            frozen_from=at - freeze,
            deadline=at + timedelta(minutes=schedule.grace_minutes),
        )
        for schedule, at, unit in wanted
        if (schedule.pk, at, unit.pk) not in answered
    ]
    return sorted(freezes, key=lambda f: (f.slot_at, f.unit_code))


def _slots_near(schedule: CountSchedule, facility: Facility, now: datetime, freeze) -> list:
    """The schedule's times whose freeze covers ``now`` (yesterday's late
    count, today's, or tomorrow's early one across midnight)."""
    tz = facility.tzinfo
    grace = timedelta(minutes=schedule.grace_minutes)
    today = now.astimezone(tz).date()
    found = []
    for offset in (-1, 0, 1):
        at = datetime.combine(today + timedelta(days=offset), schedule.time_of_day, tzinfo=tz)
        # A schedule added after today's time is first owed tomorrow (as the reconciler sees it).
        if at - freeze <= now < at + grace and at >= schedule.created_at:
            found.append(at)
    return found


def _covering_units(cell_ids: list[int]) -> set[int]:
    """Every location whose count includes one of the cells: the cell, its
    wing or unit, and the unit above a wing (as ``cells_within`` counts)."""
    covering = set()
    for row in Location.objects.filter(pk__in=cell_ids).values_list(
        "pk", "parent_id", "parent__parent_id"
    ):
        covering.update(pk for pk in row if pk)
    return covering


def _answered(facility: Facility, wanted: list, now: datetime) -> set:
    """(schedule, slot, unit) already answered by a submitted count."""
    opens = {(s.pk, at, unit.pk): at - timedelta(minutes=s.grace_minutes) for s, at, unit in wanted}
    counts = list(
        RollCall.objects.filter(
            facility=facility,
            location_id__in={unit.pk for _, _, unit in wanted},
            started_at__gte=min(opens.values()),
            submitted_at__isnull=False,
            submitted_at__lte=now,
        )
        .filter(~Q(status=RollCallStatus.CANCELLED))
        .values_list("location_id", "started_at")
    )
    return {
        key
        for key, opened in opens.items()
        if any(loc == key[2] and started >= opened for loc, started in counts)
    }
