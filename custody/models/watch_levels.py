"""Watch levels: how often a place or a person must be looked at.

Kept apart from ``rounds`` so that facilities, locations and people
(``records``) can carry a level without importing the rounds record.
"""

import itertools

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _


class WatchLevel(models.TextChoices):
    # Title 15 §1027.5 hourly; §1055 / federal SHU every 30 minutes; NCCHC
    # suicide watch at most every 15 minutes, at irregular times.
    STANDARD = "standard", _("Standard")
    SPECIAL = "special", _("Special")
    CLOSE = "close", _("Close watch")


# Stricter levels are watched more often (lowering one is a weakening change).
WATCH_RANK = {WatchLevel.STANDARD: 0, WatchLevel.SPECIAL: 1, WatchLevel.CLOSE: 2}

# [shortest, longest] seconds between two checks. The next check is drawn at
# random in between, so nobody can tell when it comes; the longest is the
# standard's limit (missed_round past it, plus the grace).
DEFAULT_ROUND_INTERVALS = {
    WatchLevel.STANDARD: (1800, 3600),
    WatchLevel.SPECIAL: (900, 1800),
    WatchLevel.CLOSE: (300, 900),
}
MIN_ROUND_SECONDS, MAX_ROUND_SECONDS = 60, 4 * 3600
MAX_ROUND_GRACE_SECONDS = 1800


def default_round_intervals() -> dict[str, list[int]]:
    return {str(level): list(bounds) for level, bounds in DEFAULT_ROUND_INTERVALS.items()}


def validate_round_intervals(value) -> None:
    if not isinstance(value, dict):
        raise ValidationError(_("Give an object with one interval per watch level."))
    expected = set(WatchLevel.values)
    if set(value) != expected:
        raise ValidationError(
            _("Give exactly these watch levels: %(levels)s."),
            params={"levels": ", ".join(sorted(expected))},
        )
    for level, bounds in value.items():
        ok = (
            isinstance(bounds, list | tuple)
            and len(bounds) == 2
            and all(isinstance(b, int) and not isinstance(b, bool) for b in bounds)
            and MIN_ROUND_SECONDS <= bounds[0] < bounds[1] <= MAX_ROUND_SECONDS
        )
        if not ok:
            raise ValidationError(
                _(
                    "%(level)s: give [shortest, longest] whole seconds, the shortest below "
                    "the longest, between %(low)s and %(high)s."
                ),
                params={"level": level, "low": MIN_ROUND_SECONDS, "high": MAX_ROUND_SECONDS},
            )
    ranked = sorted(WatchLevel.values, key=lambda lvl: WATCH_RANK[lvl])
    longest = [value[lvl][1] for lvl in ranked]
    if any(b > a for a, b in itertools.pairwise(longest)):
        raise ValidationError(_("A stricter watch level cannot allow a longer wait."))
