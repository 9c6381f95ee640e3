"""What weakens surveillance of the custody record's own settings.

Each function answers, for one kind of record, the fields of a proposed
edit that weaken surveillance (``custody.services.changes``). Values arrive
encoded as stored (records by primary key, times as ``HH:MM``).
"""

import itertools

from django.db.models import Q

from custody.models import (
    DEFAULT_CHECK_INTERVAL_SECONDS,
    WATCH_RANK,
    CountKind,
    CountSchedule,
    Device,
    Facility,
    Inmate,
    Location,
    LocationKind,
    SecurityLevel,
    default_round_intervals,
)
from custody.models.records import DEFAULT_MAX_ABSENCE_SECONDS
from custody.services.access import device_update
from custody.services.changes import ChangeKind, change_kind_register
from custody.services.count_schedules import count_schedule_update
from custody.services.evidence import KIND_DEFAULT_METHODS
from custody.services.facilities import facility_update, location_update
from custody.services.inmates import inmate_update
from custody.services.rounds_schedule import effective_level

# Stricter levels are watched more often.
SECURITY_RANK = {SecurityLevel.MINIMUM: 0, SecurityLevel.MEDIUM: 1, SecurityLevel.MAXIMUM: 2}

# What a device with an empty ``methods`` list may observe. Everything, as
# far as this question goes: narrowing the list from "the defaults" to named
# methods is treated as losing methods. (The evidence rules own the real
# defaults; if theirs are narrower, point this at them.)

# Facility settings where a larger number watches less, and where a smaller one does.
LONGER_IS_WEAKER = (
    "grace_seconds",
    "identity_window_seconds",
    "internal_movement_max_seconds",
    "reception_deadline_seconds",
    "round_grace_seconds",
)
SHORTER_IS_WEAKER = ("count_freeze_seconds", "recount_sample_percent", "round_min_spread_percent")
MINUTES_PER_DAY = 24 * 60


def number(value) -> float | None:
    """A number, or None for anything that is not one (booleans included)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def longer(before, after) -> bool:
    """``after`` allows more time than ``before``; an unreadable value counts
    as longer (the validation of values is not this module's; doubt waits)."""
    old, new = number(before), number(after)
    if new is None:
        return True
    return old is not None and new > old


def shorter(before, after) -> bool:
    old, new = number(before), number(after)
    if new is None:
        return True
    return old is not None and new < old


def any_longer(before: dict, after, defaults: dict) -> bool:
    """A per-key limit (defaults for missing keys) lets any key last longer."""
    if not isinstance(after, dict):
        return True
    old = {**defaults, **(before or {})}
    new = {**defaults, **after}
    return any(longer(old.get(key), new.get(key)) for key in set(old) | set(new))


# --- Facilities ------------------------------------------------------------------


def facility_weakens(*, target: Facility, before: dict, after: dict) -> list[str]:
    weakened = [
        name for name in LONGER_IS_WEAKER if name in after and longer(before[name], after[name])
    ]
    weakened += [
        name for name in SHORTER_IS_WEAKER if name in after and shorter(before[name], after[name])
    ]
    defaults = {
        "check_interval_seconds": {str(k): v for k, v in DEFAULT_CHECK_INTERVAL_SECONDS.items()},
        "max_absence_seconds": DEFAULT_MAX_ABSENCE_SECONDS,
    }
    weakened += [
        name
        for name, default in defaults.items()
        if name in after and any_longer(before[name], after[name], default)
    ]
    rounds = "round_intervals"
    if rounds in after and rounds_loosened(before[rounds], after[rounds]):
        weakened.append(rounds)
    return sorted(weakened)


def rounds_loosened(before, after) -> bool:
    """Any level allows a longer wait, or a narrower spread between its
    shortest and longest wait, relative to the longest (rounds easier to
    predict)."""
    if not isinstance(after, dict):
        return True
    old = {**default_round_intervals(), **(before or {})}
    for level, bounds in old.items():
        new = after.get(level, bounds)
        if not isinstance(new, list | tuple) or len(new) != 2:
            return True
        low, high = number(new[0]), number(new[1])
        if low is None or high is None:
            return True
        # Spread as a share of the longest wait: [900, 1800] is as unpredictable
        # as [1800, 3600]; [840, 900] is nearly a fixed time.
        if high > bounds[1] or high <= 0:
            return True
        if (high - low) / high < (bounds[1] - bounds[0]) / bounds[1]:
            return True
    return False


def _facility_apply(*, target, fields, by):
    return facility_update(facility=target, by=by, **fields)


# --- Inmates --------------------------------------------------------------------


def inmate_weakens(*, target: Inmate, before: dict, after: dict) -> list[str]:
    weakened = []
    if "security_level" in after:
        old = SECURITY_RANK.get(before["security_level"], 0)
        if SECURITY_RANK.get(after["security_level"], 0) < old:
            weakened.append("security_level")
    if "watch_level" in after:
        # Compared as watched: the person's own level, else the cell's.
        cell = target.cell.watch_level if target.cell_id else ""
        old = WATCH_RANK.get(effective_level(before["watch_level"] or "", cell), 0)
        if WATCH_RANK.get(effective_level(after["watch_level"] or "", cell), 0) < old:
            weakened.append("watch_level")
    return weakened


def _inmate_apply(*, target, fields, by):
    return inmate_update(inmate=target, by=by, **fields)


# --- Locations ------------------------------------------------------------------


def location_weakens(*, target: Location, before: dict, after: dict) -> list[str]:
    """A cell (or a place holding cells) moved under another parent leaves
    its unit's counts, its pager and its readers' reach at once. A higher
    certified capacity, or an operational capacity raised above the
    certified one, lets people be crowded in (custody.services.capacity)."""
    weakened = []
    if "watch_level" in after and WATCH_RANK.get(after["watch_level"], 0) < WATCH_RANK.get(
        before["watch_level"], 0
    ):
        weakened.append("watch_level")
    if "parent" in after and (target.kind == LocationKind.CELL or target.children.exists()):
        weakened.append("parent")
    weakened += capacity_weakens(target=target, after=after)
    return weakened


def capacity_weakens(*, target: Location, after: dict) -> list[str]:
    old_certified = target.capacity
    certified = after.get("capacity", old_certified)
    weakened = []
    if "capacity" in after and longer(old_certified, certified):
        weakened.append("capacity")
    if "operational_capacity" in after or "capacity" in after:
        old_usable = target.usable_capacity
        proposed = after.get("operational_capacity", target.operational_capacity)
        usable = proposed if proposed is not None else certified
        over = number(usable) is not None and number(certified) is not None and usable > certified
        if "operational_capacity" in after and longer(old_usable, usable) and over:
            weakened.append("operational_capacity")
    return weakened


def _location_apply(*, target, fields, by):
    return location_update(location=target, by=by, **fields)


# --- Devices --------------------------------------------------------------------


def effective_methods(kind: str, methods) -> frozenset:
    # The evidence rules' defaults: narrowing from them to a list is losing methods.
    if not methods:
        return KIND_DEFAULT_METHODS.get(kind, frozenset())
    return frozenset(m for m in methods if isinstance(m, str))


def device_weakens(*, target: Device, before: dict, after: dict) -> list[str]:
    weakened = []
    if target.is_active and "is_active" in after and after["is_active"] is not True:
        weakened.append("is_active")
    if "methods" in after:
        kind = after.get("kind", before.get("kind", target.kind))
        if not effective_methods(target.kind, before["methods"]) <= effective_methods(
            kind, after["methods"]
        ):
            weakened.append("methods")
    return weakened


def _device_apply(*, target, fields, by):
    return device_update(device=target, by=by, **fields)


# --- Count schedules -------------------------------------------------------------


def _minutes(hhmm: str) -> int:
    hours, minutes = str(hhmm).split(":")[:2]
    return int(hours) * 60 + int(minutes)


def longest_gap(minutes: list[int]) -> int:
    """The longest stretch of the day, in minutes, between two counts (around
    midnight too); a day with one count or none is one long stretch."""
    times = sorted(set(minutes))
    if len(times) < 2:
        return MINUTES_PER_DAY
    gaps = [b - a for a, b in itertools.pairwise(times)]
    return max([*gaps, times[0] + MINUTES_PER_DAY - times[-1]])


def _unit_count_times(schedule: CountSchedule) -> list[int]:
    """The times of the other active counts that cover the same unit: its own
    and the facility's "every unit" ones."""
    others = (
        CountSchedule.objects.filter(facility_id=schedule.facility_id, is_active=True)
        .filter(Q(location_id=schedule.location_id) | Q(location__isnull=True))
        .exclude(pk=schedule.pk)
    )
    return [t.hour * 60 + t.minute for t in others.values_list("time_of_day", flat=True)]


def count_schedule_weakens(*, target: CountSchedule, before: dict, after: dict) -> list[str]:
    """Thinning a unit's counts: retiring one (fewer slots); a later time (the
    new time falls within the 12 hours after the old one) or any move that
    lengthens the longest stretch of the day without a count of that unit;
    a longer grace; a formal count made informal (no second officer checks it)."""
    weakened = []
    active = target.is_active
    if active and "is_active" in after and after["is_active"] is not True:
        weakened.append("is_active")
    if "grace_minutes" in after and longer(before["grace_minutes"], after["grace_minutes"]):
        weakened.append("grace_minutes")
    if target.kind == CountKind.FORMAL and "kind" in after and after["kind"] != CountKind.FORMAL:
        weakened.append("kind")
    if "time_of_day" in after and after.get("is_active", active):
        old, new = _minutes(before["time_of_day"]), _minutes(after["time_of_day"])
        later = 0 < (new - old) % MINUTES_PER_DAY <= MINUTES_PER_DAY // 2
        others = _unit_count_times(target) if active else None
        wider = others is not None and longest_gap([*others, new]) > longest_gap([*others, old])
        if later or wider:
            weakened.append("time_of_day")
    return weakened


def _count_schedule_apply(*, target, fields, by):
    return count_schedule_update(schedule=target, by=by, **fields)


def register() -> None:
    """The custody record's kinds (``CustodyConfig.ready``)."""
    for kind in (
        ChangeKind(
            "facility",
            Facility,
            facility_weakens,
            _facility_apply,
            facility_of=lambda facility: facility,
            label=lambda facility: facility.code,
        ),
        ChangeKind(
            "inmate", Inmate, inmate_weakens, _inmate_apply, label=lambda i: i.booking_number
        ),
        ChangeKind("location", Location, location_weakens, _location_apply),
        ChangeKind("device", Device, device_weakens, _device_apply),
        ChangeKind(
            "count_schedule",
            CountSchedule,
            count_schedule_weakens,
            _count_schedule_apply,
            label=lambda s: (
                f"{s.facility.code}/{s.location.code if s.location_id else '*'} "
                f"{s.time_of_day:%H:%M}"
            ),
        ),
    ):
        change_kind_register(kind)
