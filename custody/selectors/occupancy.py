"""Who was in a place between two times: who the record put there (cell
assignments) and who was seen there (check-ins).

The two need not agree, and where they do not is what an auditor looks for: a
person seen in a cell nobody assigned them to, or assigned to one where no
reader ever saw them. A unit answers for the places inside it, as counts and
check-ins see it (``cells_within``: two levels down).
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, Max, Min, Q

from custody.models import PLACEMENT_KINDS, CellAssignment, CheckIn, Inmate, Location


@dataclass(frozen=True)
class Stay:
    """One cell assignment overlapping the period (``ended_at`` None: still there)."""

    inmate_id: int
    booking_number: str
    name: str
    cell_id: int
    cell: str
    started_at: datetime
    ended_at: datetime | None
    started_by: int | None  # the movement that put them there
    started_by_kind: str | None
    ended_by: int | None
    ended_by_kind: str | None


@dataclass
class Sighting:
    """One person's check-ins in the place during the period."""

    inmate_id: int
    booking_number: str
    name: str
    first_seen_at: datetime
    last_seen_at: datetime
    checkins: int = 0
    methods: dict[str, int] = field(default_factory=dict)
    places: list[str] = field(default_factory=list)
    # No assignment to any cell here overlapped the period: seen where the
    # record does not put them.
    assigned: bool = False


@dataclass
class Occupancy:
    location: Location
    since: datetime
    until: datetime
    cells: list[Location]
    stays: list[Stay]
    sightings: list[Sighting]


def places_within(location: Location) -> list[Location]:
    """The location and what lies inside it, two levels down (unit → wing →
    cell), ordered by code; cells are what ``rollcalls.cells_within`` names."""
    return list(
        Location.objects.filter(
            Q(pk=location.pk) | Q(parent=location) | Q(parent__parent=location)
        ).order_by("code")
    )


def location_occupancy(*, location: Location, since: datetime, until: datetime) -> Occupancy:
    """Who was assigned to the location's cells in [since, until), from when
    to when and by which movement, and who was seen there, per person: first
    and last seen, how many check-ins, by which methods. Four queries,
    whatever the period. The caller scopes ``location`` to its facilities."""
    places = places_within(location)
    cells = [place for place in places if place.kind in PLACEMENT_KINDS]
    stays = _stays([cell.pk for cell in cells], since, until)
    assigned = {stay.inmate_id for stay in stays}
    sightings = _sightings({place.pk: place.code for place in places}, since, until)
    for sighting in sightings:
        sighting.assigned = sighting.inmate_id in assigned
    return Occupancy(
        location=location, since=since, until=until, cells=cells, stays=stays, sightings=sightings
    )


def _stays(cell_ids: list[int], since: datetime, until: datetime) -> list[Stay]:
    # Overlap of [started_at, ended_at) with [since, until): on
    # ``assignment_cell_time`` (cell, started_at).
    rows = (
        CellAssignment.objects.filter(cell_id__in=cell_ids, started_at__lt=until)
        .filter(Q(ended_at__isnull=True) | Q(ended_at__gt=since))
        .order_by("started_at", "id")
        .values_list(
            "inmate_id",
            "inmate__booking_number",
            "inmate__first_name",
            "inmate__last_name",
            "cell_id",
            "cell__code",
            "started_at",
            "ended_at",
            "started_by_id",
            "started_by__kind",
            "ended_by_id",
            "ended_by__kind",
        )
    )
    return [
        Stay(
            inmate_id=inmate_id,
            booking_number=booking,
            name=f"{first} {last}",
            cell_id=cell_id,
            cell=cell,
            started_at=started_at,
            ended_at=ended_at,
            started_by=started_by,
            started_by_kind=started_kind,
            ended_by=ended_by,
            ended_by_kind=ended_kind,
        )
        for (
            inmate_id,
            booking,
            first,
            last,
            cell_id,
            cell,
            started_at,
            ended_at,
            started_by,
            started_kind,
            ended_by,
            ended_kind,
        ) in rows
    ]


def _sightings(places: dict[int, str], since: datetime, until: datetime) -> list[Sighting]:
    # One aggregate per person, method and place (on ``checkin_location_time``),
    # grouped by small columns only; the names come after, for those found.
    rows = list(
        CheckIn.objects.filter(
            location_id__in=list(places), observed_at__gte=since, observed_at__lt=until
        )
        .values("inmate_id", "method", "location_id")
        .annotate(n=Count("id"), first=Min("observed_at"), last=Max("observed_at"))
        .order_by()
    )
    names = {
        pk: (booking, f"{first} {last}")
        for pk, booking, first, last in Inmate.objects.filter(
            pk__in={row["inmate_id"] for row in rows}
        ).values_list("pk", "booking_number", "first_name", "last_name")
    }
    people: dict[int, Sighting] = {}
    seen_at: dict[int, set[str]] = defaultdict(set)
    for row in rows:
        person = people.get(row["inmate_id"])
        if person is None:
            booking, name = names[row["inmate_id"]]
            person = people[row["inmate_id"]] = Sighting(
                inmate_id=row["inmate_id"],
                booking_number=booking,
                name=name,
                first_seen_at=row["first"],
                last_seen_at=row["last"],
            )
        person.first_seen_at = min(person.first_seen_at, row["first"])
        person.last_seen_at = max(person.last_seen_at, row["last"])
        person.checkins += row["n"]
        person.methods[row["method"]] = person.methods.get(row["method"], 0) + row["n"]
        seen_at[row["inmate_id"]].add(places[row["location_id"]])
    for inmate_id, person in people.items():
        person.places = sorted(seen_at[inmate_id])
        person.methods = dict(sorted(person.methods.items()))
    return sorted(people.values(), key=lambda p: (p.first_seen_at, p.booking_number))
