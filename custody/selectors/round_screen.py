"""What the tablet's rounds screen shows of a unit: its cells by urgency and
the people in each, with the watch level that applies.

Never the time a check falls due: the tablet says "within N minutes" in
coarse steps (``URGENCY_STEPS``), so the schedule drawn at random
(custody.services.rounds_schedule) stays unpredictable to anyone reading
the screen.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from custody.models import Inmate, InmateStatus, Location, LocationKind, WatchLevel
from custody.models.watch_levels import WATCH_RANK

# The steps a due time is rounded up to, in minutes; past the last, "later".
URGENCY_STEPS = (5, 15, 30, 60)
OVERDUE, LATER, UNSCHEDULED = -1, 10_000, 20_000


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
    urgency: int  # OVERDUE, a step of URGENCY_STEPS, LATER or UNSCHEDULED
    people: list[ScreenPerson] = field(default_factory=list)

    @property
    def close(self) -> bool:
        return self.level == WatchLevel.CLOSE


def urgency_of(due: datetime | None, now: datetime) -> int:
    if due is None:
        return UNSCHEDULED
    if due <= now:
        return OVERDUE
    left = due - now
    for step in URGENCY_STEPS:
        if left <= timedelta(minutes=step):
            return step
    return LATER


def round_screen(*, unit: Location, now: datetime) -> list[ScreenCell]:
    """The unit's cells, most urgent first (then by code); two queries."""
    cells = {
        cell.pk: (cell, cell.next_round_due_at)
        for cell in Location.objects.filter(parent=unit, kind=LocationKind.CELL).only(
            "pk", "code", "name", "watch_level", "next_round_due_at"
        )
    }
    people: dict[int, list] = {}
    due = {pk: at for pk, (_cell, at) in cells.items()}
    for person in (
        Inmate.objects.filter(cell_id__in=cells, status=InmateStatus.IN_CUSTODY)
        .order_by("last_name", "first_name", "booking_number")
        .values(
            "booking_number",
            "first_name",
            "last_name",
            "cell_id",
            "watch_level",
            "next_round_due_at",
        )
    ):
        people.setdefault(person["cell_id"], []).append(person)
        own = person["next_round_due_at"] if person["watch_level"] else None
        if own is not None and (due[person["cell_id"]] is None or own < due[person["cell_id"]]):
            due[person["cell_id"]] = own  # someone on close watch makes the cell urgent
    screen = []
    for pk, (cell, _at) in cells.items():
        line = ScreenCell(
            pk=pk,
            code=cell.code,
            name=cell.name,
            level=cell.watch_level,
            urgency=urgency_of(due[pk], now),
        )
        for person in people.get(pk, []):
            level = person["watch_level"] or cell.watch_level
            line.people.append(
                ScreenPerson(
                    booking_number=person["booking_number"],
                    name=f"{person['first_name']} {person['last_name']}",
                    level=level,
                    own_level=bool(person["watch_level"]),
                )
            )
            if WATCH_RANK[level] > WATCH_RANK[line.level]:
                line.level = level
        screen.append(line)
    return sorted(screen, key=lambda c: (c.urgency, -WATCH_RANK[c.level], c.code))
