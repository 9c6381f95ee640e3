"""Movements and cell history, scoped to the caller's facilities."""

from django.db.models import Q, QuerySet

from custody.models import CellAssignment, Movement
from custody.selectors.records import visible_facility_ids


def movement_list(*, user) -> QuerySet[Movement]:
    """Movements from or to the caller's facilities: both ends of a transfer
    see it, the destination so it can receive the person."""
    ids = visible_facility_ids(user)
    return (
        Movement.objects.filter(Q(facility_id__in=ids) | Q(to_facility_id__in=ids))
        .select_related(
            "inmate",
            "facility",
            "to_facility",
            "from_location",
            "to_location",
            "requested_by",
            "approved_by",
            "departed_by",
            "completed_by",
            "cancelled_by",
        )
        .prefetch_related("extensions__requested_by", "extensions__decided_by")
    )


def cell_assignment_list(*, user) -> QuerySet[CellAssignment]:
    """Who was in which cell, for cells in the caller's facilities."""
    return CellAssignment.objects.filter(
        cell__facility_id__in=visible_facility_ids(user)
    ).select_related("inmate", "cell__facility")
