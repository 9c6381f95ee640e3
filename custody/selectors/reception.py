"""Who waits in reception for a cell, and since when (``uncelled``).

Unscoped like ``custody.selectors.due``: the reconciler reads for the
system, one facility at a time.
"""

from datetime import datetime

from custody.models import CellAssignment, Inmate, InmateStatus, Location, LocationKind


def inmates_uncelled(*, facility, placed_before: datetime) -> list[tuple]:
    """(inmate id, reception place id, placed at) of people in custody
    placed in a reception area of ``facility`` before ``placed_before`` and
    still there. Reception holds few people: the open assignments of the
    facility's reception areas, on ``assignment_cell_ended``; most
    facilities have none, which one look at their places says."""
    receptions = Location.objects.filter(facility=facility, kind=LocationKind.RECEPTION)
    if not receptions.exists():
        return []
    return list(
        CellAssignment.objects.filter(
            cell__facility=facility,
            cell__kind=LocationKind.RECEPTION,
            ended_at__isnull=True,
            started_at__lt=placed_before,
            inmate__status=InmateStatus.IN_CUSTODY,
        )
        .order_by("started_at")
        .values_list("inmate_id", "cell_id", "started_at")
    )


def celled_or_gone(inmate_ids) -> dict[int, tuple[str, str | None, str]]:
    """For each person: (status, place code, place kind) now."""
    return {
        pk: (status, code, kind)
        for pk, status, code, kind in Inmate.objects.filter(pk__in=list(inmate_ids)).values_list(
            "pk", "status", "cell__code", "cell__kind"
        )
    }
