"""What the evidence rules ask of the custody record: whose identity is
overdue for biometric proof, and whether a unit's readers and people are
heard at all.

Unscoped like ``custody.selectors.due`` (the reconciler runs for the system,
one facility at a time) and index-backed: the index each query relies on is
named beside it.
"""

from datetime import datetime

from django.db import connection
from django.db.models import BigIntegerField, Count, QuerySet, Value
from django.db.models.functions import Coalesce

from custody.models import (
    CLOCK_SKEW,
    CheckIn,
    Device,
    Facility,
    Inmate,
    InmateStatus,
    Location,
    LocationKind,
)
from custody.selectors import due


def inmates_identity_due(*, facility: Facility, proven_before: datetime) -> list[tuple]:
    """(id, cell_id, identity_verified_at, admitted_at) of people in custody
    whose last biometric proof (their admission, if none yet) is before
    ``proven_before``."""
    return list(inmates_identity_due_query(facility=facility, proven_before=proven_before))


def inmates_identity_due_query(*, facility: Facility, proven_before: datetime) -> QuerySet:
    # ``inmate_identity_due``: the filter repeats the index's expression and
    # condition, so the planner matches it (tests EXPLAIN this very query).
    return (
        Inmate.objects.annotate(proven_from=Coalesce("identity_verified_at", "admitted_at"))
        .filter(facility=facility, status=InmateStatus.IN_CUSTODY, proven_from__lt=proven_before)
        .order_by()
        .values_list("id", "cell_id", "identity_verified_at", "admitted_at")
    )


def readers_placed(facility: Facility) -> list[tuple]:
    """(id, name, location_id, last_heartbeat_at, created_at) of the
    facility's active devices mounted somewhere: a handful per unit."""
    return list(
        Device.objects.filter(facility=facility, is_active=True, location__isnull=False)
        .order_by()
        .values_list("id", "name", "location_id", "last_heartbeat_at", "created_at")
    )


def units_heard_since(*, units: dict[int, tuple[list[int], datetime]], now: datetime) -> dict:
    """Of ``units`` (unit id → its places and a time), those where anyone was
    observed (any method) at one of its places after that time, each with
    one such observation's time; a unit missing from the answer had none."""
    queries = units_heard_queries(units=units, now=now)
    if not queries:
        return {}
    if connection.features.supports_slicing_ordering_in_compound:
        return dict(queries[0].union(*queries[1:], all=True) if len(queries) > 1 else queries[0])
    # The embedded SQLite demo cannot LIMIT inside a UNION: one read of every
    # place since the earliest time, judged per unit here.
    since = min(at for _places, at in units.values())
    rows = CheckIn.objects.filter(
        location_id__in=[p for places, _at in units.values() for p in places],
        observed_at__gt=since,
        observed_at__lte=now + CLOCK_SKEW,
    ).values_list("location_id", "observed_at")
    heard = {}
    for location_id, observed_at in rows:
        for unit_id, (places, at) in units.items():
            if location_id in places and observed_at > at:
                heard[unit_id] = max(observed_at, heard.get(unit_id, observed_at))
    return heard


def units_heard_queries(*, units: dict[int, tuple[list[int], datetime]], now: datetime) -> list:
    """One query per unit, each a walk of ``checkin_location_time`` over the
    unit's places that stops at the first row after the unit's time (a
    healthy unit answers after a few index pages); sent as one UNION ALL.
    The bounds on ``observed_at`` also prune the check-in partitions."""
    return [
        CheckIn.objects.filter(
            location_id__in=places, observed_at__gt=since, observed_at__lte=now + CLOCK_SKEW
        )
        .annotate(unit=Value(unit_id, output_field=BigIntegerField()))
        .order_by()
        .values_list("unit", "observed_at")[:1]
        for unit_id, (places, since) in sorted(units.items())
        if places
    ]


def people_in_cells(cell_ids) -> dict[int, int]:
    """Cell id → people in custody assigned to it, for the cells given
    (the foreign key's own index on ``cell_id``)."""
    ids = list(cell_ids)
    if not ids:
        return {}
    return dict(
        Inmate.objects.filter(cell_id__in=ids, status=InmateStatus.IN_CUSTODY)
        .order_by()
        .values("cell_id")
        .annotate(people=Count("id"))
        .values_list("cell_id", "people")
    )


def unit_places(facility: Facility) -> tuple[dict[int, str], dict[int, int]]:
    """The facility's housing units (id → code) and every location's zone
    (``due.location_zones``: its unit, or itself when in none), one query."""
    rows = list(
        Location.objects.filter(facility=facility).values_list("id", "parent_id", "kind", "code")
    )
    units = {pk: code for pk, _parent, kind, code in rows if kind == LocationKind.UNIT}
    return units, due.zones_of((pk, parent, kind) for pk, parent, kind, _code in rows)
