"""What the tablet's rounds screen shows of a unit: the core's list of what
is due (``custody.selectors.rounds.rounds_due``, most urgent first) as cells
with their people and the watch level that applies to each.

Never the time a check falls due: "within N minutes" in the core's coarse
buckets (``due_within_minutes``), so the schedule drawn at random stays
unpredictable to anyone reading the screen.
"""

from dataclasses import dataclass, field
from datetime import datetime

from custody.models import Location, WatchLevel
from custody.models.watch_levels import WATCH_RANK
from custody.selectors.rounds import due_within_minutes, rounds_due


@dataclass
class ScreenPerson:
    booking_number: str
    name: str
    level: str  # the level that applies to them: their own, else the cell's
    own_level: bool


@dataclass
class ScreenCell:
    pk: int
    code: str
    name: str
    level: str  # the strictest of the cell and its people
    due_within: int | None  # minutes (0: now); None: not under the rounds watch (no tag)
    overdue: bool
    checkable: bool
    people: list[ScreenPerson] = field(default_factory=list)

    @property
    def close(self) -> bool:
        return self.level == WatchLevel.CLOSE


def round_screen(*, unit: Location, now: datetime) -> list[ScreenCell]:
    screen = []
    for row in rounds_due(facility=unit.facility, unit=unit, now=now):
        cell = ScreenCell(
            pk=row["id"],
            code=row["code"],
            name=row["name"],
            level=row["watch_level"],
            due_within=due_within_minutes(row["due_at"], now=now),
            overdue=row["overdue"],
            checkable=row["tagged"],
        )
        for person in row["people"]:
            level = person["watch_level"] or row["watch_level"]
            cell.people.append(
                ScreenPerson(
                    booking_number=person["booking_number"],
                    name=f"{person['first_name']} {person['last_name']}",
                    level=level,
                    own_level=bool(person["watch_level"]),
                )
            )
            if WATCH_RANK[level] > WATCH_RANK[cell.level]:
                cell.level = level
        screen.append(cell)
    return screen
