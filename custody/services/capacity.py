"""No placement past a place's operational capacity.

Every placement into a cell or reception area (admission, a cell move, a
return, a transfer's arrival) first locks the place's row and counts who
holds it: two officers filling the last bed at once are serialised on that
lock, and the second one sees the first one's person. Past the operational
capacity the placement is a ``Conflict`` (HTTP 409) naming the place, its
occupancy and capacity.

The only way past it is a higher ``operational_capacity``, and above the
certified ``capacity`` that is a change weakening surveillance
(``custody.services.change_kinds.location_weakens``): a second officer
approves it, with the reason, on the ledger. One officer alone cannot
overfill a place.

A bed is held by whoever is assigned there: people out at court or in the
infirmary keep theirs (they come back to it).
"""

from collections import Counter

from django.utils.translation import gettext as _

from custody.exceptions import Conflict
from custody.models import Inmate, Location


def place_locked(place: Location) -> Location:
    """The place's row, locked until the transaction ends."""
    return Location.objects.select_for_update().get(pk=place.pk)


def place_occupancy(place_id: int, *, excluding: int | None = None) -> int:
    """People assigned to the place (in custody or away on an outing)."""
    held = Inmate.objects.filter(cell_id=place_id)
    if excluding is not None:
        held = held.exclude(pk=excluding)
    return held.count()


def capacity_refusal(place: Location, occupancy: int, arriving: int = 1) -> Conflict | None:
    limit = place.usable_capacity
    if limit is None or occupancy + arriving <= limit:
        return None
    return Conflict(
        _(
            "%(code)s holds %(occupancy)s of its operational capacity of %(capacity)s: "
            "placing more people needs a higher operational capacity, which above the "
            "certified capacity a second officer must approve."
        )
        % {"code": place.code, "occupancy": occupancy, "capacity": limit},
        location=place.code,
        occupancy=occupancy,
        arriving=arriving,
        operational_capacity=limit,
        certified_capacity=place.capacity,
    )


def place_reserve(*, place: Location, inmate_id: int | None = None) -> None:
    """Locks ``place`` and refuses one more person past its operational
    capacity (``inmate_id``: someone already counted there, e.g. re-placed)."""
    locked = place_locked(place)
    refusal = capacity_refusal(locked, place_occupancy(locked.pk, excluding=inmate_id))
    if refusal is not None:
        raise refusal


def places_reserve(places: list[Location]) -> None:
    """The same for a batch (bulk admission): one entry per person; places
    locked in id order so two batches cannot deadlock."""
    wanted = Counter(place.pk for place in places)
    locked = Location.objects.select_for_update().filter(pk__in=wanted).order_by("pk")
    held = Counter(
        Inmate.objects.filter(cell_id__in=list(wanted)).values_list("cell_id", flat=True)
    )
    for place in locked:
        refusal = capacity_refusal(place, held[place.pk], wanted[place.pk])
        if refusal is not None:
            raise refusal
