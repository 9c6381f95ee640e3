"""The compliance of a facility's observation rounds over a period, graded
against a written standard (custody/round_standards.py).

Set-based: each figure is one SQL pass of window functions over the period's
round checks (``lag``/``lead`` per cell and per officer), never a Python loop
per check, so a facility-month reads in well under the 5 s budget
(tests/bench/rounds_compliance.py).

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

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection
from django.utils import timezone

from custody.models import Facility
from custody.round_standards import (
    IMPLAUSIBLE_SECONDS,
    REGULARITY_MIN_INTERVALS,
    SHIFT_FIRST_HOUR,
    SHIFT_HOURS,
    STANDARDS,
    RoundStandard,
)

# The check before the period that measures its first gap is looked for this
# far back; a cell unchecked for longer starts the period ungraded.
LOOKBACK = timedelta(days=1)

# Every round check of the facility in the window, with its cell's previous
# and next check and its officer's previous check. ``%(...)s`` are query
# parameters; the table and column names are the core's (custody/models).
CHECKS_SQL = """
WITH checks AS (
  SELECT c.id, c.location_id AS cell_id, cell.parent_id AS unit_id, c.officer_id,
         c.scanned_at AS observed_at, c.watch_level,
         lag(c.scanned_at) OVER cell_order AS prev_at,
         lead(c.scanned_at) OVER cell_order AS next_at,
         lag(c.scanned_at) OVER officer_order AS officer_prev_at,
         lag(c.location_id) OVER officer_order AS officer_prev_cell
  FROM custody_roundcheck c
  JOIN custody_location cell ON cell.id = c.location_id
  WHERE c.facility_id = %(facility)s
    AND c.scanned_at >= %(lookback)s AND c.scanned_at < %(until)s
  WINDOW cell_order AS (PARTITION BY c.location_id ORDER BY c.scanned_at, c.id),
         officer_order AS (PARTITION BY c.officer_id ORDER BY c.scanned_at, c.id)
),
in_period AS (
  SELECT ch.*,
         EXTRACT(EPOCH FROM ch.observed_at - ch.prev_at) AS gap_s,
         CASE WHEN ch.next_at IS NULL
              THEN EXTRACT(EPOCH FROM %(end)s - ch.observed_at) END AS open_s,
         (ch.officer_prev_cell <> ch.cell_id
          AND ch.observed_at - ch.officer_prev_at < %(implausible)s) AS implausible
  FROM checks ch
  WHERE ch.observed_at >= %(since)s
)
"""

# The standards' limits as rows: (standard, watch level, seconds).
LIMITS_SQL = """
limits AS (
  SELECT * FROM unnest(%(std_keys)s::text[], %(std_levels)s::text[], %(std_limits)s::int[])
    AS l (standard, level, limit_s)
),
graded AS (
  SELECT l.standard, p.unit_id, p.officer_id, p.gap_s, p.open_s, p.implausible, l.limit_s,
         (p.gap_s IS NOT NULL AND p.gap_s <= l.limit_s) AS on_time,
         CASE WHEN p.gap_s > l.limit_s THEN CEIL(p.gap_s / l.limit_s) - 1 ELSE 0 END
         + CASE WHEN p.open_s > l.limit_s THEN FLOOR(p.open_s / l.limit_s) ELSE 0 END
           AS missed
  FROM in_period p JOIN limits l ON l.level = p.watch_level
)
"""

TOTALS_SQL = (
    CHECKS_SQL
    + ","
    + LIMITS_SQL
    + """
SELECT standard, unit_id, officer_id,
       GROUPING(unit_id) AS all_units, GROUPING(officer_id) AS all_officers,
       COUNT(*) AS checks,
       COUNT(*) FILTER (WHERE on_time) AS on_time,
       COUNT(*) FILTER (WHERE gap_s IS NOT NULL) AS measured,
       COALESCE(SUM(missed), 0)::bigint AS missed,
       COALESCE(MAX(GREATEST(gap_s, open_s)), 0) AS longest_s,
       COUNT(*) FILTER (WHERE implausible) AS implausible
FROM graded
GROUP BY GROUPING SETS ((standard), (standard, unit_id), (standard, officer_id))
"""
)

# Shifts of SHIFT_HOURS from SHIFT_FIRST_HOUR, facility time: the shift's
# number since the epoch, and its start. (Constant text joined, no input: S608.)
REGULAR_SQL = (
    CHECKS_SQL  # noqa: S608
    + """,
shifts AS (
  SELECT p.*, FLOOR(
           EXTRACT(EPOCH FROM (p.observed_at AT TIME ZONE %(tz)s) - %(shift_offset)s)
           / %(shift_s)s) AS shift_no
  FROM in_period p
  WHERE p.gap_s IS NOT NULL
)
SELECT s.cell_id, cell.code, cell.parent_id, s.shift_no,
       COUNT(*) AS intervals, STDDEV_POP(s.gap_s) AS spread_s, AVG(s.gap_s) AS mean_s,
       MODE() WITHIN GROUP (ORDER BY s.officer_id) AS officer_id,
       MIN(s.observed_at), MAX(s.observed_at)
FROM shifts s JOIN custody_location cell ON cell.id = s.cell_id
GROUP BY s.cell_id, cell.code, cell.parent_id, s.shift_no
HAVING COUNT(*) >= %(min_intervals)s
   AND STDDEV_POP(s.gap_s) < AVG(s.gap_s) * %(max_spread)s
ORDER BY MIN(s.observed_at), cell.code
"""
)

# Gaps by the hour of the day (facility time) their closing check was made.
HOURS_SQL = (
    CHECKS_SQL
    + """
SELECT EXTRACT(HOUR FROM p.observed_at AT TIME ZONE %(tz)s)::int AS hour,
       COUNT(*) AS gaps,
       PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY p.gap_s) AS median_s,
       MAX(p.gap_s) AS longest_s
FROM in_period p
WHERE p.gap_s IS NOT NULL
GROUP BY 1
ORDER BY 1
"""
)


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
    median: timedelta
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
    ``standard`` (a key of ``STANDARDS``); three queries."""
    chosen = STANDARDS[standard]
    params = _params(facility, since, until, now or timezone.now())
    keys, levels, limits = [], [], []
    for key, one in STANDARDS.items():
        for level, seconds in one.limits.items():
            keys.append(key)
            levels.append(level)
            limits.append(seconds)
    params.update(std_keys=keys, std_levels=levels, std_limits=limits)
    by_standard = {key: Figures() for key in STANDARDS}
    by_unit: dict[int, Figures] = {}
    by_officer: dict[int, Figures] = {}
    with connection.cursor() as cursor:
        cursor.execute(TOTALS_SQL, params)
        for key, unit_id, officer_id, all_units, all_officers, *numbers in cursor.fetchall():
            figures = _figures(*numbers)
            if all_units and all_officers:
                by_standard[key] = figures
            elif key != chosen.key:
                continue
            elif not all_units:
                by_unit[unit_id] = figures
            else:
                by_officer[officer_id] = figures
        cursor.execute(REGULAR_SQL, params)
        regular = [_regular(row, facility) for row in cursor.fetchall()]
        cursor.execute(HOURS_SQL, params)
        hours = [
            HourGaps(hour, gaps, _seconds(median), _seconds(longest))
            for hour, gaps, median, longest in cursor.fetchall()
        ]
    total = by_standard[chosen.key]
    for shift in regular:
        total.too_regular += 1
        for figures in (by_unit.get(shift.unit_id), by_officer.get(shift.officer_id)):
            if figures is not None:
                figures.too_regular += 1
    for key, figures in by_standard.items():
        if key != chosen.key:
            figures.too_regular = total.too_regular
    return ComplianceReport(
        facility=facility,
        since=since,
        until=until,
        standard=chosen,
        total=total,
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


def _figures(checks, on_time, measured, missed, longest_s, implausible) -> Figures:
    return Figures(
        checks=checks,
        on_time=on_time,
        measured=measured,
        missed=int(missed),
        longest=_seconds(longest_s),
        implausible=implausible,
    )


def _regular(row, facility) -> RegularShift:
    cell_id, code, unit_id, shift_no, intervals, spread, mean, officer_id, _first, _last = row
    # The shift's start: its number of SHIFT_HOURS blocks after the epoch,
    # plus the first shift's hour, as a wall-clock time of the facility.
    wall = datetime(1970, 1, 1) + timedelta(hours=int(shift_no) * SHIFT_HOURS + SHIFT_FIRST_HOUR)
    return RegularShift(
        cell_id=cell_id,
        cell_code=code,
        unit_id=unit_id,
        shift_start=timezone.make_aware(wall, facility.tzinfo),
        intervals=intervals,
        spread=_seconds(spread),
        mean=_seconds(mean),
        officer_id=officer_id,
    )


def _seconds(value) -> timedelta:
    return timedelta(seconds=round(float(value or 0)))
