"""The compliance of a facility's observation rounds over a period, graded
against a written standard (custody/round_standards.py).

Set-based: each figure is one SQL pass of window functions over the period's
round checks (``lag``/``lead`` per cell and per officer), never a Python loop
per check, so a facility-month reads in well under the 5 s budget
(tests/bench/rounds_compliance.py): one statement, whose window pass is
materialised once and read by its three aggregates.

What is counted, per unit, per officer and per standard:
- a *gap* is the time between two consecutive checks of one cell; the first
  check of the period is measured from the cell's check before it (up to a day
  back), and the last from the end of the period (or now) — an open gap;
- a check is *on time* when its gap is within the standard's limit for the
  watch level it was made at;
- *missed* checks: the checks a late gap skipped (``ceil(gap / limit) - 1``),
  and those an open gap skipped (``floor(gap / limit)``); a gap's missed checks
  are put to the officer who closed it (or who made the last check);
- the *on-time share* is on-time checks over every check the standard asked
  for (checks measured plus missed);
- *too regular*: a cell checked at least ``REGULARITY_MIN_INTERVALS`` times in
  one shift at intervals whose spread (standard deviation over mean) is under
  the facility's ``round_min_spread_percent``: every standard asks for varied
  intervals, and a log filled in afterwards, or by rote, looks like this;
- *implausible*: a check by an officer less than ``IMPLAUSIBLE_SECONDS`` after
  their previous check at another cell: nobody walks, looks at everyone and
  scans that fast.
"""

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from custody.models import Facility, Location, LocationKind, LocationTag, RoundCheck
from custody.round_standards import (
    IMPLAUSIBLE_SECONDS,
    REGULARITY_MIN_INTERVALS,
    SHIFT_FIRST_HOUR,
    SHIFT_HOURS,
    STANDARDS,
    WATCH_LEVELS,
    RoundStandard,
)

# The check before the period that measures its first gap is looked for this
# far back; a cell unchecked for longer starts the period ungraded.
LOOKBACK = timedelta(days=1)

# One statement: the window pass (each check with its cell's previous and
# next check and its officer's previous one) is made once, materialised, and
# read by the three aggregates, which come back as JSON. ``%(...)s`` are
# query parameters; ``{graded}`` is built from ``STANDARDS`` (code, not
# input). Grading against every standard at once is a pair of conditional
# aggregates per standard on one pass, not a join that multiplies the rows.
REPORT_SQL = """
WITH checks AS (
  SELECT c.location_id AS cell_id, cell.parent_id AS unit_id, c.officer_id,
         c.scanned_at AS observed_at, c.watch_level,
         lag(c.scanned_at) OVER cell_order AS prev_at,
         lead(c.scanned_at) OVER cell_order AS next_at,
         lag(c.scanned_at) OVER officer_order AS officer_prev_at,
         lag(c.location_id) OVER officer_order AS officer_prev_cell
  FROM custody_roundcheck c
  JOIN custody_location cell ON cell.id = c.location_id
  WHERE c.facility_id = %(facility)s
    AND c.scanned_at >= %(lookback)s AND c.scanned_at < %(until)s
  WINDOW cell_order AS (PARTITION BY c.location_id ORDER BY c.scanned_at),
         officer_order AS (PARTITION BY c.officer_id ORDER BY c.scanned_at)
),
p AS MATERIALIZED (
  SELECT ch.cell_id, ch.unit_id, ch.officer_id, ch.observed_at, ch.watch_level,
         EXTRACT(EPOCH FROM ch.observed_at - ch.prev_at)::float8 AS gap_s,
         CASE WHEN ch.next_at IS NULL
              THEN EXTRACT(EPOCH FROM %(end)s - ch.observed_at)::float8 END AS open_s,
         COALESCE(ch.officer_prev_cell <> ch.cell_id
                  AND ch.observed_at - ch.officer_prev_at < %(implausible)s, false)
           AS implausible
  FROM checks ch
  WHERE ch.observed_at >= %(since)s
),
totals AS (
  -- By unit and officer together (hashed, a few rows); the code adds them
  -- up by unit, by officer and in all (every figure is a sum or a maximum).
  SELECT COALESCE(json_agg(t), '[]') AS rows FROM (
    SELECT unit_id, officer_id,
           COUNT(*) AS checks, COUNT(gap_s) AS measured,
           COALESCE(MAX(GREATEST(gap_s, open_s)), 0) AS longest_s,
           COUNT(*) FILTER (WHERE implausible) AS implausible
           {graded}
    FROM p
    GROUP BY unit_id, officer_id
  ) t
),
regular AS (
  SELECT COALESCE(json_agg(r ORDER BY r.first_at, r.code), '[]') AS rows FROM (
    SELECT g.*, cell.code, cell.parent_id AS unit_id,
           CASE WHEN g.first_officer = g.last_officer THEN g.first_officer END AS officer_id
    FROM (
      -- Hashed, no sort: plain aggregates only (the officer when one made
      -- every check of the cell in the shift).
      SELECT s.cell_id, s.shift_no, COUNT(*) AS intervals,
             STDDEV_POP(s.gap_s) AS spread_s, AVG(s.gap_s) AS mean_s,
             MIN(s.officer_id) AS first_officer, MAX(s.officer_id) AS last_officer,
             MIN(s.observed_at) AS first_at
      FROM (
        SELECT p.cell_id, p.officer_id, p.observed_at, p.gap_s, FLOOR(
                 EXTRACT(EPOCH FROM (p.observed_at AT TIME ZONE %(tz)s) - %(shift_offset)s)
                 / %(shift_s)s) AS shift_no
        FROM p WHERE p.gap_s IS NOT NULL
      ) s
      GROUP BY s.cell_id, s.shift_no
      HAVING COUNT(*) >= %(min_intervals)s
         AND STDDEV_POP(s.gap_s) < AVG(s.gap_s) * %(max_spread)s
    ) g JOIN custody_location cell ON cell.id = g.cell_id
  ) r
),
hours AS (
  SELECT COALESCE(json_agg(h ORDER BY h.hour), '[]') AS rows FROM (
    SELECT EXTRACT(HOUR FROM p.observed_at AT TIME ZONE %(tz)s)::int AS hour,
           COUNT(*) AS gaps, AVG(p.gap_s) AS mean_s, MAX(p.gap_s) AS longest_s
    FROM p WHERE p.gap_s IS NOT NULL
    GROUP BY 1
  ) h
)
SELECT (SELECT rows FROM totals), (SELECT rows FROM regular), (SELECT rows FROM hours)
"""

# Per standard (its position ``n`` in ``STANDARDS``): the limit of the
# check's watch level, then on-time checks and missed ones under it.
LIMIT_SQL = (
    "(CASE p.watch_level WHEN 'special' THEN %(lim_{n}_special)s "
    "WHEN 'close' THEN %(lim_{n}_close)s ELSE %(lim_{n}_standard)s END)"
)
GRADED_SQL = """,
           COUNT(*) FILTER (WHERE gap_s <= {limit}) AS on_time_{n},
           COALESCE(SUM(
             CASE WHEN gap_s > {limit} THEN CEIL(gap_s / {limit}) - 1 ELSE 0 END
             + CASE WHEN open_s > {limit} THEN FLOOR(open_s / {limit}) ELSE 0 END
           ), 0) AS missed_{n}"""
# Sorting a month of checks in memory rather than on disk (this statement only).
WORK_MEM = "64MB"


def _report_sql() -> str:
    graded = "".join(
        GRADED_SQL.format(limit=LIMIT_SQL.format(n=n), n=n) for n in range(len(STANDARDS))
    )
    return REPORT_SQL.replace("{graded}", graded)


@dataclass
class Figures:
    """One line of the report: a unit, an officer, a standard or everything."""

    checks: int = 0
    on_time: int = 0
    measured: int = 0
    missed: int = 0
    longest: timedelta = timedelta(0)
    implausible: int = 0
    too_regular: int = 0  # cell-shifts flagged

    def add(self, other: "Figures") -> None:
        self.checks += other.checks
        self.on_time += other.on_time
        self.measured += other.measured
        self.missed += other.missed
        self.longest = max(self.longest, other.longest)
        self.implausible += other.implausible
        self.too_regular += other.too_regular

    @property
    def expected(self) -> int:
        return self.measured + self.missed

    @property
    def on_time_share(self) -> float | None:
        """On-time checks over every check asked for; None when none was."""
        return self.on_time / self.expected if self.expected else None


@dataclass(frozen=True)
class RegularShift:
    cell_id: int
    cell_code: str
    unit_id: int | None
    shift_start: datetime
    intervals: int
    spread: timedelta
    mean: timedelta
    officer_id: int | None


@dataclass(frozen=True)
class HourGaps:
    hour: int
    gaps: int
    mean: timedelta
    longest: timedelta


@dataclass
class ComplianceReport:
    facility: Facility
    since: datetime
    until: datetime
    standard: RoundStandard
    total: Figures
    by_standard: dict[str, Figures]
    by_unit: dict[int, Figures]
    by_officer: dict[int, Figures]
    regular: list[RegularShift] = field(default_factory=list)
    hours: list[HourGaps] = field(default_factory=list)


def round_compliance(
    *, facility: Facility, since: datetime, until: datetime, standard: str, now=None
) -> ComplianceReport:
    """The report of ``facility``'s rounds in ``[since, until)`` graded by
    ``standard`` (a key of ``STANDARDS``), and the total under every standard:
    one statement."""
    chosen = STANDARDS[standard]
    params = _params(facility, since, until, now or timezone.now())
    keys = list(STANDARDS)
    for n, key in enumerate(keys):
        for level in WATCH_LEVELS:
            params[f"lim_{n}_{level}"] = STANDARDS[key].limit(level)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('work_mem', %s, true)", [WORK_MEM])
        cursor.execute(_report_sql(), params)
        totals, regular_rows, hour_rows = (_json(value) for value in cursor.fetchone())
    chosen_n = keys.index(chosen.key)
    by_standard = {key: Figures() for key in keys}
    by_unit: dict[int, Figures] = {}
    by_officer: dict[int, Figures] = {}
    for row in totals:
        for n, key in enumerate(keys):
            by_standard[key].add(_figures(row, n))
        for found, pk in ((by_unit, row["unit_id"]), (by_officer, row["officer_id"])):
            found.setdefault(pk, Figures()).add(_figures(row, chosen_n))
    regular = [_regular(row, facility) for row in regular_rows]
    hours = [
        HourGaps(row["hour"], row["gaps"], _seconds(row["mean_s"]), _seconds(row["longest_s"]))
        for row in hour_rows
    ]
    for shift in regular:
        for figures in (
            *by_standard.values(),
            by_unit.get(shift.unit_id),
            by_officer.get(shift.officer_id),
        ):
            if figures is not None:
                figures.too_regular += 1
    return ComplianceReport(
        facility=facility,
        since=since,
        until=until,
        standard=chosen,
        total=by_standard[chosen.key],
        by_standard=by_standard,
        by_unit=by_unit,
        by_officer=by_officer,
        regular=regular,
        hours=hours,
    )


def _params(facility, since, until, now) -> dict:
    return {
        "facility": facility.pk,
        "since": since,
        "until": until,
        "lookback": since - LOOKBACK,
        # An open gap runs to the end of the period, or to now if sooner.
        "end": min(until, max(now, since)),
        "implausible": timedelta(seconds=IMPLAUSIBLE_SECONDS),
        "tz": facility.timezone,
        "shift_offset": timedelta(hours=SHIFT_FIRST_HOUR),
        "shift_s": SHIFT_HOURS * 3600,
        "min_intervals": REGULARITY_MIN_INTERVALS,
        # The facility's own threshold, the one the tablet's schedule and
        # the core's regularity selector use (spread over mean).
        "max_spread": facility.round_min_spread_percent / 100,
    }


def _json(value):
    # psycopg decodes json; a driver that does not hands over text.
    return json.loads(value) if isinstance(value, str) else value


def _figures(row: dict, n: int) -> Figures:
    return Figures(
        checks=row["checks"],
        on_time=row[f"on_time_{n}"],
        measured=row["measured"],
        missed=int(row[f"missed_{n}"]),
        longest=_seconds(row["longest_s"]),
        implausible=row["implausible"],
    )


def _regular(row: dict, facility) -> RegularShift:
    # The shift's start: its number of SHIFT_HOURS blocks after the epoch,
    # plus the first shift's hour, as a wall-clock time of the facility.
    wall = datetime(1970, 1, 1) + timedelta(
        hours=int(row["shift_no"]) * SHIFT_HOURS + SHIFT_FIRST_HOUR
    )
    return RegularShift(
        cell_id=row["cell_id"],
        cell_code=row["code"],
        unit_id=row["unit_id"],
        shift_start=timezone.make_aware(wall, facility.tzinfo),
        intervals=row["intervals"],
        spread=_seconds(row["spread_s"]),
        mean=_seconds(row["mean_s"]),
        officer_id=row["officer_id"],
    )


def _seconds(value) -> timedelta:
    return timedelta(seconds=round(float(value or 0)))


def cells_unchecked(*, facility: Facility, since: datetime, until: datetime) -> list[tuple]:
    """(id, code) of cells with a tag registered before ``until`` that no
    round check reached in [since, until): the gaps the figures above cannot
    show, since they are measured between checks (``round_location_time``)."""
    tagged = LocationTag.objects.filter(location_id=OuterRef("pk"), registered_at__lt=until)
    checked = RoundCheck.objects.filter(
        location_id=OuterRef("pk"), scanned_at__gte=since, scanned_at__lt=until
    )
    return list(
        Location.objects.filter(facility=facility, kind=LocationKind.CELL)
        .filter(Exists(tagged))
        .exclude(Exists(checked))
        .order_by("code")
        .values_list("id", "code")
    )
