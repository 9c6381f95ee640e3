"""When the next round check of a place or a person is due.

After each check the next is drawn at random between the level's shortest
and longest wait, from the operating system's generator (``secrets``), so
neither an officer nor anyone watching the tablet can tell when it comes;
the longest wait is the standard's limit (``round_deadline_at``).
"""

import secrets
from datetime import datetime, timedelta

from custody.models import WATCH_RANK, Facility, WatchLevel

_random = secrets.SystemRandom()


def draw_next_due(*, facility: Facility, level: str, after: datetime) -> tuple[datetime, datetime]:
    """(next_due_at, deadline) for a check at ``after`` on ``level``: the
    next check drawn uniformly, to the second, in [shortest, longest]."""
    shortest, longest = facility.round_bounds(level or WatchLevel.STANDARD)
    low, high = int(shortest.total_seconds()), int(longest.total_seconds())
    return after + timedelta(seconds=_random.randint(low, high)), after + longest


def effective_level(own: str, cell_level: str) -> str:
    """A person's own level overrides the cell's (suicide watch moves with
    the person); empty inherits it."""
    return own or cell_level or WatchLevel.STANDARD


def stricter(a: str, b: str) -> bool:
    return WATCH_RANK.get(a, 0) > WATCH_RANK.get(b, 0)


def rescheduled(
    *, facility: Facility, level: str, last_round_at, due, deadline, now: datetime, tighten: bool
) -> tuple[datetime, datetime]:
    """A place's or person's (next_due_at, deadline) after its level changed:
    counted from the last check (or now, if never checked). A stricter level
    takes effect at once and only ever brings the times closer; a weaker one
    (approved by a second officer) counts from the last check."""
    base = last_round_at or now
    new_due, new_deadline = draw_next_due(facility=facility, level=level, after=base)
    # Already late under the new level: due now, not in the past.
    new_due = max(new_due, min(now, new_deadline))
    if tighten and deadline is not None:
        return min(due or new_due, new_due), min(deadline, new_deadline)
    return new_due, new_deadline
