"""Movements and cell history, scoped to the caller's facilities."""

from django.contrib.postgres.aggregates import ArrayAgg
from django.db.models import BooleanField, Case, Count, Q, QuerySet, Value, When

from custody.models import CellAssignment, Movement, MovementKind, MovementSession, MovementStatus
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


def movement_session_list(*, user) -> QuerySet[MovementSession]:
    """Unit sessions of the caller's facilities, with who is still out and
    how many came back (one query, the aggregates over its movements)."""
    return (
        MovementSession.objects.filter(facility_id__in=visible_facility_ids(user))
        .select_related("facility", "unit", "to_location", "started_by", "ended_by")
        .annotate(
            returned_count=Count("movements", filter=Q(movements__status=MovementStatus.COMPLETED)),
            out_bookings=ArrayAgg(
                "movements__inmate__booking_number",
                filter=Q(movements__status=MovementStatus.DEPARTED),
                order_by="movements__inmate__booking_number",
                default=Value([]),
            ),
        )
        .order_by("-started_at", "-id")
    )


def internal_unpaired(*, facilities, now, overdue_only: bool = False) -> QuerySet[Movement]:
    """The pairing report: internal movements not yet paired with an
    observation back in the cell, in ``facilities`` (the caller's, scoped by
    the caller), with whether their return has passed; most overdue first."""
    qs = Movement.objects.filter(
        facility__in=facilities, kind=MovementKind.INTERNAL, status=MovementStatus.DEPARTED
    )
    if overdue_only:
        qs = qs.filter(expected_back_at__lt=now)
    return (
        qs.select_related("inmate", "facility", "from_location", "to_location", "departed_by")
        .annotate(
            overdue=Case(
                When(expected_back_at__lt=now, then=Value(True)),
                default=Value(False),
                output_field=BooleanField(),
            )
        )
        .order_by("expected_back_at", "id")
    )
