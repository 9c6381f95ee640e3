"""The establishment roll (docs/api.md "Establishment roll"): per unit and for
the facility, how many people the record puts inside the walls at a time,
and how that number came about since the facility's local midnight.

Computed from the record's history, never from a snapshot: cell
assignments (``started_at``/``ended_at``) say who held a place at any
instant, movements (``departed_at``/``completed_at``) who was away from it.
The same three set-based queries answer for now and for any past time.

At an instant ``t`` a person assigned to a place of the facility is

- **away** (off the roll) while on an outing outside the walls (court,
  medical or temporary release with no destination inside the facility);
- **out of cell inside** while on a movement to a place inside the walls (the
  infirmary, the yard, a workshop, a visit, an interview), by the kind of that
  place;
- else **in reception** (their place is a reception area), **in cell**, or
  **no cell** (a place of any other kind: impossible while the database's
  placement guard holds, shown so that a gap would be seen).

``current_roll = in_cell + out_of_cell_inside + reception + no_cell`` by
construction. ``unlock_roll`` is the same count at the start of the local
day (HMPPS: the roll when the cells are unlocked), computed on its own;
``arrived_today`` and ``out_today`` are the day's roll-changing events
(admissions, transfers in and out, releases, departures to and returns from
outings; per unit also moves from and to other units), so that
``unlock_roll = current_roll - arrived_today + out_today`` for every unit and
the facility: tests/test_roll.py proves it over a simulated day.

A person declared missing or escaped keeps their place and stays on the roll
(the facility answers for them; the headcount counts them unaccounted).
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, time

from django.db import connection
from django.utils import timezone

from custody.models import PLACEMENT_KINDS, Facility, LocationKind, MovementKind

# Movements that take someone away from their place for a while and back.
OUTING_KINDS = (MovementKind.COURT, MovementKind.MEDICAL, MovementKind.TEMPORARY_RELEASE)
# Movements inside the walls (never off the roll), whatever their destination.
INSIDE_KINDS: tuple[str, ...] = tuple(kind for kind in ("internal",) if kind in MovementKind.values)
AWAY_KINDS = (*OUTING_KINDS, *INSIDE_KINDS)


@dataclass
class RollFigures:
    """One row of the roll: a unit's, or the facility's."""

    code: str | None
    name: str
    unlock_roll: int = 0
    current_roll: int = 0
    arrived_today: int = 0
    arrived_by_kind: dict = field(default_factory=dict)
    out_today: int = 0
    out_by_kind: dict = field(default_factory=dict)
    in_cell: int = 0
    out_of_cell_inside: int = 0
    out_of_cell_by_kind: dict = field(default_factory=dict)
    reception: int = 0
    no_cell: int = 0
    # Off the roll now, on an outing outside the walls (bed kept).
    away: int = 0
    certified_capacity: int = 0
    operational_capacity: int = 0
    # Everyone holding a bed in a cell (on the roll or away), against the capacity.
    occupancy: int = 0
    overcrowded_cells: list = field(default_factory=list)

    @property
    def net_vacancies(self) -> int:
        """HMPPS: operational capacity minus the current roll (negative: crowded)."""
        return self.operational_capacity - self.current_roll

    @property
    def overcrowded(self) -> bool:
        return self.occupancy > self.operational_capacity or bool(self.overcrowded_cells)


@dataclass
class Roll:
    facility: Facility
    at: datetime
    day_start: datetime
    units: list[RollFigures]
    total: RollFigures


@dataclass(frozen=True)
class _Place:
    id: int
    code: str
    kind: str
    unit_id: int
    certified: int | None
    operational: int | None


# Who held a place of the facility at %(t)s and, if away then, on what
# (tests/bench/roll.py EXPLAINs it).
HELD_AT_SQL = """
    WITH away AS (
        SELECT DISTINCT ON (m.inmate_id) m.inmate_id, m.kind, d.kind AS dest_kind,
               COALESCE(d.facility_id = %(f)s, false) AS inside
        FROM custody_movement m
        LEFT JOIN custody_location d ON d.id = m.to_location_id
        WHERE m.facility_id = %(f)s AND m.departed_at IS NOT NULL
          AND m.departed_at <= %(t)s
          AND (m.completed_at IS NULL OR m.completed_at > %(t)s)
          AND m.kind = ANY(%(away)s)
        ORDER BY m.inmate_id, m.departed_at DESC
    )
    SELECT a.cell_id, w.kind, w.dest_kind, w.inside, count(*)
    FROM custody_cellassignment a
    JOIN custody_location c ON c.id = a.cell_id
    LEFT JOIN away w ON w.inmate_id = a.inmate_id
    WHERE c.facility_id = %(f)s AND a.started_at <= %(t)s
      AND (a.ended_at IS NULL OR a.ended_at > %(t)s)
    GROUP BY 1, 2, 3, 4
"""


def _held_at(facility_id: int, at: datetime) -> list[tuple]:
    """(place, away kind, destination kind, destination inside, people) for
    everyone assigned to a place of the facility at ``at``. The assignments
    on ``assignment_cell_ended`` (open, or ended after ``at``); the away
    movements on ``movement_completed_time``."""
    with connection.cursor() as cursor:
        cursor.execute(HELD_AT_SQL, {"f": facility_id, "t": at, "away": list(AWAY_KINDS)})
        return cursor.fetchall()


# The roll-changing events in (%(s)s, %(u)s] (tests/test_roll.py EXPLAINs it).
EVENTS_SQL = """
    SELECT 'in', a.cell_id, COALESCE(m.kind, 'other'),
           COALESCE(o.facility_id = %(f)s, false), COALESCE(o.parent_id, o.id), count(*)
    FROM custody_cellassignment a
    JOIN custody_location c ON c.id = a.cell_id
    LEFT JOIN custody_movement m ON m.id = a.started_by_id
    LEFT JOIN custody_location o ON o.id = m.from_location_id
    WHERE c.facility_id = %(f)s AND a.started_at > %(s)s AND a.started_at <= %(u)s
    GROUP BY 1, 2, 3, 4, 5
    UNION ALL
    SELECT 'out', a.cell_id, COALESCE(m.kind, 'other'),
           COALESCE(o.facility_id = %(f)s, false), COALESCE(o.parent_id, o.id), count(*)
    FROM custody_cellassignment a
    JOIN custody_location c ON c.id = a.cell_id
    LEFT JOIN custody_movement m ON m.id = a.ended_by_id
    LEFT JOIN custody_location o ON o.id = m.to_location_id
    WHERE c.facility_id = %(f)s AND a.ended_at > %(s)s AND a.ended_at <= %(u)s
    GROUP BY 1, 2, 3, 4, 5
    UNION ALL
    SELECT 'out', m.from_location_id, m.kind, false, NULL::bigint, count(*)
    FROM custody_movement m
    LEFT JOIN custody_location d ON d.id = m.to_location_id
    WHERE m.facility_id = %(f)s AND m.departed_at > %(s)s AND m.departed_at <= %(u)s
      AND m.kind = ANY(%(outings)s) AND d.facility_id IS DISTINCT FROM %(f)s
    GROUP BY 1, 2, 3, 4, 5
    UNION ALL
    SELECT 'in', m.from_location_id, m.kind, false, NULL::bigint, count(*)
    FROM custody_movement m
    LEFT JOIN custody_location d ON d.id = m.to_location_id
    WHERE m.facility_id = %(f)s AND m.departed_at IS NOT NULL
      AND m.completed_at > %(s)s AND m.completed_at <= %(u)s
      AND m.kind = ANY(%(outings)s) AND d.facility_id IS DISTINCT FROM %(f)s
    GROUP BY 1, 2, 3, 4, 5
"""


def _events_between(facility_id: int, since: datetime, until: datetime) -> list[tuple]:
    """The roll-changing events in (since, until]: (direction, place, kind,
    the other end is in this facility, the other end's unit, people).
    Assignments begun and ended (admissions, moves, transfers, releases,
    returns) on ``assignment_cell_time`` / ``assignment_cell_ended``, and
    departures to and returns from outings outside the walls on
    ``movement_departed_time`` / ``movement_completed_time``."""
    params = {"f": facility_id, "s": since, "u": until, "outings": list(OUTING_KINDS)}
    with connection.cursor() as cursor:
        cursor.execute(EVENTS_SQL, params)
        return cursor.fetchall()


def _places(facility: Facility) -> tuple[dict[int, _Place], dict[int, tuple[str, str]]]:
    """Every location of the facility (one query): the places people are
    assigned to, by id, and the code and name of each unit they answer to
    (the place's parent, or the place itself when it has none)."""
    rows = facility.locations.values_list(
        "id", "code", "name", "kind", "parent_id", "capacity", "operational_capacity"
    )
    names = {pk: (code, name) for pk, code, name, *_ in rows}
    places = {
        pk: _Place(pk, code, kind, parent or pk, certified, operational)
        for pk, code, _name, kind, parent, certified, operational in rows
    }
    return places, names


def day_start(facility: Facility, at: datetime) -> datetime:
    """The facility's local midnight of the day ``at`` falls in."""
    local = at.astimezone(facility.tzinfo)
    return datetime.combine(local.date(), time(0), tzinfo=facility.tzinfo)


def establishment_roll(*, facility: Facility, at: datetime | None = None) -> Roll:
    """The roll of ``facility`` at ``at`` (default now); see the module's
    docstring for each figure. Four queries whatever the facility's size. The
    caller scopes: pass only a facility the requester may see."""
    at = at or timezone.now()
    since = day_start(facility, at)
    places, names = _places(facility)
    unit_ids = sorted(
        {p.unit_id for p in places.values() if p.kind in PLACEMENT_KINDS},
        key=lambda pk: names[pk][0],
    )
    rows: dict[int | None, RollFigures] = {
        pk: RollFigures(code=names[pk][0], name=names[pk][1]) for pk in unit_ids
    }
    total = RollFigures(code=None, name=facility.name)

    def row_of(place_id) -> RollFigures:
        place = places.get(place_id)
        unit_id = place.unit_id if place else None
        if unit_id not in rows:
            rows[unit_id] = RollFigures(
                code=names[unit_id][0] if unit_id else None,
                name=names[unit_id][1] if unit_id else "",
            )
        return rows[unit_id]

    for place in places.values():
        if place.kind == LocationKind.CELL:
            row = row_of(place.id)
            for figures in (row, total):
                figures.certified_capacity += place.certified or 0
                figures.operational_capacity += _usable(place)

    occupied = Counter()
    for place_id, away_kind, dest_kind, inside, people in _held_at(facility.pk, at):
        row = row_of(place_id)
        occupied[place_id] += people
        in_a_cell = place_id in places and places[place_id].kind == LocationKind.CELL
        for figures in (row, total):
            figures.occupancy += people if in_a_cell else 0
            _classify(figures, places.get(place_id), away_kind, dest_kind, inside, people)
    for place_id, people in _held_at_unlock(facility.pk, since):
        for figures in (row_of(place_id), total):
            figures.unlock_roll += people
    for direction, place_id, kind, here, other_unit, people in _events_between(
        facility.pk, since, at
    ):
        row = row_of(place_id)
        unit_id = places[place_id].unit_id if place_id in places else None
        if not (here and other_unit == unit_id):
            _count_event(row, direction, kind, people)
        if not here:
            _count_event(total, direction, kind, people)
    for place_id, people in sorted(occupied.items(), key=lambda item: places[item[0]].code):
        place = places[place_id]
        if place.kind == LocationKind.CELL and people > _usable(place):
            crowded = {
                "cell": place.code,
                "occupancy": people,
                "operational_capacity": _usable(place),
            }
            row_of(place_id).overcrowded_cells.append(crowded)
            total.overcrowded_cells.append(crowded)
    units = sorted(rows.values(), key=lambda r: (r.code is None, r.code or ""))
    return Roll(facility=facility, at=at, day_start=since, units=units, total=total)


def _held_at_unlock(facility_id: int, at: datetime) -> list[tuple[int, int]]:
    """(place, people on the roll) at the start of the day."""
    on_roll = Counter()
    for place_id, away_kind, _dest, inside, people in _held_at(facility_id, at):
        if not _off_roll(away_kind, inside):
            on_roll[place_id] += people
    return list(on_roll.items())


def _usable(place: _Place) -> int:
    usable = place.operational if place.operational is not None else place.certified
    return usable or 0


def _off_roll(away_kind: str | None, inside: bool | None) -> bool:
    return away_kind in OUTING_KINDS and not inside


def _classify(figures: RollFigures, place, away_kind, dest_kind, inside, people) -> None:
    if _off_roll(away_kind, inside):
        figures.away += people
        return
    figures.current_roll += people
    if away_kind is not None:
        where = dest_kind or LocationKind.OTHER
        figures.out_of_cell_inside += people
        figures.out_of_cell_by_kind[where] = figures.out_of_cell_by_kind.get(where, 0) + people
    elif place is not None and place.kind == LocationKind.RECEPTION:
        figures.reception += people
    elif place is not None and place.kind == LocationKind.CELL:
        figures.in_cell += people
    else:
        figures.no_cell += people


def _count_event(figures: RollFigures, direction: str, kind: str, people: int) -> None:
    if direction == "in":
        figures.arrived_today += people
        figures.arrived_by_kind[kind] = figures.arrived_by_kind.get(kind, 0) + people
    else:
        figures.out_today += people
        figures.out_by_kind[kind] = figures.out_by_kind.get(kind, 0) + people


CROWDING_SQL = """
    WITH held AS (
        SELECT cell_id, count(*) AS n FROM custody_inmate
        WHERE facility_id = %(f)s AND cell_id IS NOT NULL GROUP BY cell_id
    ), cells AS (
        SELECT l.code, COALESCE(l.parent_id, l.id) AS unit_id,
               COALESCE(l.operational_capacity, l.capacity, 0) AS cap, COALESCE(h.n, 0) AS n
        FROM custody_location l LEFT JOIN held h ON h.cell_id = l.id
        WHERE l.facility_id = %(f)s AND l.kind = 'cell'
    )
    SELECT 'cells', code, n, cap FROM cells WHERE n > cap
    UNION ALL
    SELECT 'units', u.code, sum(c.n), sum(c.cap)
    FROM cells c JOIN custody_location u ON u.id = c.unit_id
    GROUP BY u.code HAVING sum(c.n) > sum(c.cap)
    ORDER BY 1, 2
"""


def crowding_now(facility: Facility) -> dict[str, list[dict]]:
    """The cells, and the units, holding more people than their operational
    capacity now, from the live record (``Inmate.cell``): the dashboard's
    warning, read every few seconds; one query (``inmate_facility_status``
    and the locations of the facility)."""
    found = {"cells": [], "units": []}
    with connection.cursor() as cursor:
        cursor.execute(CROWDING_SQL, {"f": facility.pk})
        for what, code, n, cap in cursor.fetchall():
            key = "cell" if what == "cells" else "unit"
            found[what].append({key: code, "occupancy": int(n), "operational_capacity": int(cap)})
    return found
