"""The written standards a facility's observation rounds are graded against.

Each standard gives the longest a cell may go unchecked at each watch level
(``standard``, ``special``, ``close``). The compliance report
(custody/selectors/round_compliance.py) grades every check of the period
against one of them, and shows the facility's figure under each, so an
auditor can say "on time by Title 15, late by the NCCHC".

Sources (defaults, facts as written):
- California Title 15 §1027.5: safety checks at least hourly, at random or
  varied intervals; §1055: special-use cells twice every 30 minutes (so one
  every 15 minutes on average).
- US federal special housing units: every 30 minutes.
- Texas: 60 minutes, 30 minutes for people at risk.
- NCCHC suicide watch: at most every 15 minutes, at unpredictable intervals
  (exactly every 15 minutes is not compliant).

Every one of them asks for varied intervals, so the regularity flag (a cell
checked at nearly the same interval all shift) applies whatever the standard.
"""

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

STANDARD, SPECIAL, CLOSE = "standard", "special", "close"
WATCH_LEVELS = (STANDARD, SPECIAL, CLOSE)
MINUTE = 60


@dataclass(frozen=True)
class RoundStandard:
    key: str
    label: str
    limits: dict  # watch level -> longest allowed gap, in seconds

    def limit(self, level: str) -> int:
        return self.limits.get(level, self.limits[STANDARD])


STANDARDS = {
    standard.key: standard
    for standard in (
        RoundStandard(
            "ca_title15",
            _("California Title 15 (§1027.5, §1055)"),
            {STANDARD: 60 * MINUTE, SPECIAL: 15 * MINUTE, CLOSE: 15 * MINUTE},
        ),
        RoundStandard(
            "us_federal",
            _("US federal (special housing units every 30 minutes)"),
            {STANDARD: 60 * MINUTE, SPECIAL: 30 * MINUTE, CLOSE: 15 * MINUTE},
        ),
        RoundStandard(
            "texas",
            _("Texas (60 and 30 minutes)"),
            {STANDARD: 60 * MINUTE, SPECIAL: 30 * MINUTE, CLOSE: 30 * MINUTE},
        ),
        RoundStandard(
            "ncchc",
            _("NCCHC (suicide watch at most every 15 minutes, unpredictable)"),
            {STANDARD: 60 * MINUTE, SPECIAL: 30 * MINUTE, CLOSE: 15 * MINUTE},
        ),
    )
}
DEFAULT_STANDARD = "ca_title15"

# A cell checked this many times in a shift at intervals whose spread
# (standard deviation over mean) is under the facility's
# ``round_min_spread_percent`` was checked "by the clock": what a falsified
# log or an unvaried walk looks like. A guard who really walks a wing varies.
REGULARITY_MIN_INTERVALS = 4
# Two checks by one officer at two different cells closer than this cannot
# both have looked at everyone inside (walk, look, scan).
IMPLAUSIBLE_SECONDS = 10
# Shifts for the regularity flag: eight hours from 06:00 facility time
# (06–14, 14–22, 22–06), the usual three watches.
SHIFT_HOURS = 8
SHIFT_FIRST_HOUR = 6


def standard_choices() -> list[tuple[str, str]]:
    return [(key, str(standard.label)) for key, standard in STANDARDS.items()]
