"""What every integrity signal is made of, and the scope they all read.

A signal is a finding an auditor can act on: what it means and where its
threshold lies (``explanation``), whether it fired, and a table of rows, each
with the records behind it (``links``). A row's values are plain: text,
numbers, ``None``, or times already in the facility's zone.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property

from django.conf import settings

from alerts.audit.period import Period
from custody.models import Facility, Location, LocationKind

TEXT, NUMBER, TIME = "text", "number", "time"


def threshold(name: str, default):
    """A named limit: ``settings.INTEGRITY_SIGNALS[name]`` when set, else the
    module's constant. Read at call time, never at import."""
    return getattr(settings, "INTEGRITY_SIGNALS", {}).get(name, default)


@dataclass(frozen=True)
class Link:
    label: str
    url: str


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: str = TEXT  # text, number or time: how pages align and exports write it


@dataclass
class Row:
    values: list
    links: list[Link] = field(default_factory=list)


@dataclass
class Signal:
    key: str  # a stable slug, e.g. "visual_share"
    title: str
    explanation: str
    fired: bool
    columns: list[Column]
    rows: list[Row]
    thresholds: dict = field(default_factory=dict)


@dataclass
class IntegrityReport:
    facility: Facility
    period: Period
    signals: list[Signal]

    @property
    def fired(self) -> list[Signal]:
        return [signal for signal in self.signals if signal.fired]

    def signal(self, key: str) -> Signal:
        return next(signal for signal in self.signals if signal.key == key)


@dataclass(frozen=True)
class Place:
    id: int
    code: str
    kind: str
    parent_id: int | None


# Units hold wings hold cells (custody.selectors.rollcalls.cells_within).
MAX_DEPTH = 3


@dataclass
class Scope:
    """One facility and period, and what several signals need of it, read once."""

    facility: Facility
    period: Period

    @property
    def since(self) -> datetime:
        return self.period.since

    @property
    def until(self) -> datetime:
        return self.period.until

    @property
    def code(self) -> str:
        return self.facility.code

    def until_and(self, window: timedelta) -> datetime:
        """The period's end plus ``window`` (what happened just after it),
        no further than the calendar goes."""
        try:
            return self.until + window
        except OverflowError:
            return self.until

    def local(self, moment: datetime | None) -> datetime | None:
        return moment.astimezone(self.facility.tzinfo) if moment is not None else None

    def iso(self, moment: datetime, *, up: bool = False) -> str:
        """A time for a link's query string (API filters), with the facility's
        offset, to the second; ``up`` rounds an end up, so a range never
        loses its edge."""
        if up and moment.microsecond:
            moment += timedelta(seconds=1)
        return moment.astimezone(self.facility.tzinfo).replace(microsecond=0).isoformat()

    @cached_property
    def places(self) -> dict[int, Place]:
        return {
            pk: Place(pk, code, kind, parent_id)
            for pk, code, kind, parent_id in Location.objects.filter(
                facility=self.facility
            ).values_list("pk", "code", "kind", "parent_id")
        }

    def unit_of(self, location_id: int) -> Place:
        """The unit a place lies in: itself if a unit, else the nearest unit
        above it; a place with no unit above is its own (a lone cell, a yard)."""
        place = self.places.get(location_id)
        if place is None:  # never by the services: a check-in's place is its facility's
            return Place(location_id, f"#{location_id}", "", None)
        for _level in range(MAX_DEPTH):
            if place.kind == LocationKind.UNIT or place.parent_id not in self.places:
                return place
            place = self.places[place.parent_id]
        return place
