"""Today's count board of a facility: each scheduled slot per unit (due,
in progress, counted, missed, late) and each unit's answer to the latest
emergency call. Judged as ``missed_rollcall`` judges it (a count answers the
slot whose window it started in), in a fixed number of queries."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy

from custody.models import CountCall, CountSchedule, Facility, RollCallStatus
from custody.selectors.due import counts_started_since, next_opening

RECENT_CALLS = 10
# Older calls are history: their units' states are not worth a scan of counts.
CALL_BOARD_WINDOW = timedelta(hours=24)

UPCOMING, DUE, IN_PROGRESS, CLEARED, DISCREPANCY, MISSED, NOT_OWED, NOT_YET = (
    "upcoming",
    "due",
    "in_progress",
    "cleared",
    "discrepancy",
    "missed",
    "not_owed",
    "not_yet",
)
STATE_LABELS = {
    UPCOMING: gettext_lazy("Later today"),
    DUE: gettext_lazy("Due now"),
    IN_PROGRESS: gettext_lazy("In progress"),
    CLEARED: gettext_lazy("Counted, cleared"),
    DISCREPANCY: gettext_lazy("Counted, discrepancy"),
    MISSED: gettext_lazy("Missed"),
    NOT_OWED: gettext_lazy("From tomorrow"),
    NOT_YET: gettext_lazy("Not yet"),
}


@dataclass(frozen=True)
class UnitAnswer:
    """What a unit's counts since a moment say: counted (cleared or not), in
    progress, or nothing yet (``state`` None)."""

    state: str | None
    first_submitted_at: datetime | None = None


def _unit_answer(counts: list[dict], since: datetime, until: datetime | None = None) -> UnitAnswer:
    """As ``missed_rollcall`` judges it: a count of the unit started since the
    slot opened answers it once submitted (``until``: the next slot's opening,
    whose count is not this one's); the latest result says whether the unit is
    clear now (a clean recount clears a discrepancy)."""
    answering = [
        c for c in counts if c["started_at"] >= since and (until is None or c["started_at"] < until)
    ]
    submitted = [c for c in answering if c["submitted_at"]]
    if submitted:
        latest = max(submitted, key=lambda c: c["submitted_at"])
        state = CLEARED if latest["unaccounted_count"] == 0 else DISCREPANCY
        return UnitAnswer(state, min(c["submitted_at"] for c in submitted))
    if any(c["status"] == RollCallStatus.IN_PROGRESS for c in answering):
        return UnitAnswer(IN_PROGRESS)
    return UnitAnswer(None)


@dataclass(frozen=True)
class Slot:
    schedule: CountSchedule
    at: datetime
    deadline: datetime
    state: str
    late: bool = False

    @property
    def label(self):
        return STATE_LABELS[self.state]


def _opens(schedule: CountSchedule, at: datetime) -> datetime:
    return at - timedelta(minutes=schedule.grace_minutes)


def _owed_today(schedule: CountSchedule, at: datetime) -> bool:
    # Added after today's time: first owed tomorrow (as the reconciler sees it).
    return at >= schedule.created_at


def _slot(schedule, at: datetime, counts: list[dict], now: datetime, until=None) -> Slot:
    opens, deadline = _opens(schedule, at), at + timedelta(minutes=schedule.grace_minutes)
    if not _owed_today(schedule, at):
        return Slot(schedule, at, deadline, NOT_OWED)
    answer = _unit_answer(counts, opens, until)
    if answer.first_submitted_at:
        return Slot(schedule, at, deadline, answer.state, answer.first_submitted_at > deadline)
    if now >= deadline:
        return Slot(schedule, at, deadline, MISSED)
    if answer.state == IN_PROGRESS:
        return Slot(schedule, at, deadline, IN_PROGRESS)
    return Slot(schedule, at, deadline, UPCOMING if now < opens else DUE)


@dataclass
class Board:
    """Today's counts: a row per time, a column per unit, slots in the cells."""

    units: list
    rows: list  # [(time_of_day, [[Slot, ...] per unit])]

    @property
    def times(self) -> list:
        return [time_of_day for time_of_day, _cells in self.rows]

    @property
    def by_unit(self) -> list:
        """The same slots a row per unit, a column per time: units grow in
        number, a day's times stay few, so the page stays narrow."""
        return [
            (unit, [cells[index] for _time, cells in self.rows])
            for index, unit in enumerate(self.units)
        ]

    @property
    def any_not_owed(self) -> bool:
        return any(
            slot.state == NOT_OWED
            for _time, cells in self.rows
            for slots in cells
            for slot in slots
        )


def _today_slots_at(facility: Facility, schedules: list, now: datetime) -> dict[int, datetime]:
    today = timezone.localdate(now, timezone=facility.tzinfo)
    return {s.pk: datetime.combine(today, s.time_of_day, tzinfo=facility.tzinfo) for s in schedules}


def _board(
    facility: Facility, schedules: list, units: list, slot_at: dict, counts_by_unit: dict, now
) -> Board:
    # A schedule may name a location that holds no cells: it still gets a column.
    columns = list(units)
    known = {unit.pk for unit in units}
    for schedule in schedules:
        if schedule.location_id and schedule.location_id not in known:
            known.add(schedule.location_id)
            columns.append(schedule.location)
    owed: dict[int, list[CountSchedule]] = {}
    for schedule in schedules:
        targets = [schedule.location_id] if schedule.location_id else [u.pk for u in units]
        for location_id in targets:
            owed.setdefault(location_id, []).append(schedule)
    cells: dict = {}
    for location_id, owed_here in owed.items():
        counts = counts_by_unit.get(location_id, [])
        for schedule in owed_here:
            at = slot_at[schedule.pk]
            # A count from the unit's next slot on is that slot's (as the reconciler judges).
            closes = next_opening(owed_here, location_id, at, facility)
            slot = _slot(schedule, at, counts, now, closes)
            cells.setdefault(schedule.time_of_day, {}).setdefault(location_id, []).append(slot)
    rows = [
        (time_of_day, [row.get(column.pk, []) for column in columns])
        for time_of_day, row in sorted(cells.items())
    ]
    return Board(units=columns, rows=rows)


@dataclass(frozen=True)
class CallUnit:
    unit: object
    state: str
    overdue: bool
    late: bool

    @property
    def label(self):
        return STATE_LABELS[self.state]


def _call_board(call: CountCall, units: list, counts_by_unit: dict, now) -> list[CallUnit]:
    """Each unit's answer to an emergency call: counts started after it."""
    deadline = call.called_at + timedelta(minutes=call.grace_minutes)
    rows = []
    for unit in units:
        answer = _unit_answer(counts_by_unit.get(unit.pk, []), call.called_at)
        state = answer.state or NOT_YET
        done = answer.first_submitted_at is not None
        rows.append(
            CallUnit(
                unit=unit,
                state=state,
                overdue=not done and now > deadline,
                late=done and answer.first_submitted_at > deadline,
            )
        )
    return rows


def _counts_by_unit(facility: Facility, since: datetime | None) -> dict[int, list[dict]]:
    """The facility's counts started since ``since``, cancelled ones aside, by unit."""
    by_unit: dict[int, list[dict]] = {}
    if since is None:
        return by_unit
    for row in sorted(counts_started_since(facility=facility, since=since), key=_started):
        by_unit.setdefault(row["location_id"], []).append(row)
    return by_unit


def _started(row: dict) -> datetime:
    return row["started_at"]


def facility_schedules(facility: Facility) -> list[CountSchedule]:
    # "Every unit" first at each time, then the units by code.
    return list(
        CountSchedule.objects.filter(facility=facility)
        .select_related("location", "created_by")
        .order_by("time_of_day", F("location__code").asc(nulls_first=True), "id")
    )


def recent_calls(facility: Facility) -> list[CountCall]:
    calls = list(
        CountCall.objects.filter(facility=facility)
        .select_related("called_by")
        .order_by("-called_at", "-id")[:RECENT_CALLS]
    )
    for call in calls:
        call.deadline = call.called_at + timedelta(minutes=call.grace_minutes)
    return calls


@dataclass
class DayBoard:
    schedules: Board
    latest_call: CountCall | None
    latest_call_units: list[CallUnit]


def day_board(facility: Facility, active: list, units: list, calls: list, now) -> DayBoard:
    """Today's slots of the ``active`` schedules and the latest of ``calls``
    (if recent), from one read of the counts both need."""
    slot_at = _today_slots_at(facility, active, now)
    latest = calls[0] if calls and now - calls[0].called_at <= CALL_BOARD_WINDOW else None
    starts = [slot_at[s.pk] - timedelta(minutes=s.grace_minutes) for s in active]
    if latest is not None:
        starts.append(latest.called_at)
    counts_by_unit = _counts_by_unit(facility, min(starts, default=None))
    return DayBoard(
        schedules=_board(facility, active, units, slot_at, counts_by_unit, now),
        latest_call=latest,
        latest_call_units=_call_board(latest, units, counts_by_unit, now) if latest else [],
    )
