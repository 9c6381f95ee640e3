"""What the evidence rules ask of the custody record: whose identity is
overdue for biometric proof, and whether a unit's readers and people are
heard at all.

Unscoped like ``custody.selectors.due`` (the reconciler runs for the system,
one facility at a time) and index-backed: the index each query relies on is
named beside it.
"""

from datetime import datetime

from django.db.models import Count, Max, QuerySet
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


def places_observed_since(*, location_ids, since: datetime, now: datetime) -> dict[int, datetime]:
    """Of ``location_ids``, those where anyone was observed (any method) after
    ``since``, with the latest time (``checkin_location_time``; the bounds
    on ``observed_at`` also prune the check-in partitions)."""
    ids = list(location_ids)
    if not ids:
        return {}
    return dict(places_observed_query(location_ids=ids, since=since, now=now))


def places_observed_query(*, location_ids: list[int], since: datetime, now: datetime) -> QuerySet:
    return (
        CheckIn.objects.filter(
            location_id__in=location_ids, observed_at__gt=since, observed_at__lte=now + CLOCK_SKEW
        )
        .order_by()
        .values("location_id")
        .annotate(latest=Max("observed_at"))
        .values_list("location_id", "latest")
    )


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


def units_of(facility: Facility) -> dict[int, str]:
    """Unit id → code, for the facility's housing units."""
    return dict(
        Location.objects.filter(facility=facility, kind=LocationKind.UNIT).values_list("id", "code")
    )
