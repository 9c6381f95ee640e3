"""Cell assignments and the ledger wording of movements, shared by admission
(``inmates``) and the movement state machine (``movements``).

Callers hold the inmate's row lock; these helpers never lock anything.
"""

from custody.models import CellAssignment, Inmate, Location, Movement


def inmate_subject(inmate: Inmate) -> str:
    return f"inmate:{inmate.booking_number}"


def _code(location: Location | None) -> str | None:
    return location.code if location is not None else None


def movement_event_data(movement: Movement, **extra) -> dict:
    """What the ledger keeps of a movement: enough to rebuild who went where, when."""
    data = {
        "movement": movement.pk,
        "kind": movement.kind,
        "status": movement.status,
        "facility": movement.facility.code,
        "from_location": _code(movement.from_location),
        "to_location": _code(movement.to_location),
        "to_facility": movement.to_facility.code if movement.to_facility_id else None,
    }
    for field in (
        "destination",
        "expected_back_at",
        "expected_arrival_at",
        "requested_at",
        "approved_at",
        "departed_at",
        "completed_at",
        "cancelled_at",
    ):
        value = getattr(movement, field)
        if value:
            data[field] = value
    if movement.emergency:
        data["emergency"] = True
        data["emergency_reason"] = movement.emergency_reason
    data.update(extra)
    return data


def assignment_close(*, inmate: Inmate, at, movement: Movement) -> int:
    """Ends the person's open cell assignment (if any) at ``at``."""
    return CellAssignment.objects.filter(inmate=inmate, ended_at__isnull=True).update(
        ended_at=at, ended_by=movement
    )


def assignment_open(*, inmate: Inmate, cell: Location, at, movement: Movement) -> CellAssignment:
    """Starts the assignment that matches ``inmate.cell`` (invariant 1); the
    partial unique index refuses a second open one."""
    return CellAssignment.objects.create(
        inmate=inmate, cell=cell, started_at=at, started_by=movement
    )
