"""Invariant 1 (docs/architecture.md), checked over the whole record (tests only)."""

from custody.models import (
    PLACEMENT_KINDS,
    CellAssignment,
    Inmate,
    InmateStatus,
    Movement,
    MovementStatus,
)
from custody.services.movements import OUT_KINDS


def custody_invariant_problems() -> list[str]:
    """Every person in custody: one cell (or reception area) and one open
    assignment matching it, and no departed movement but, at most, one
    internal one (out of the cell, inside the walls).
    Out, authorised: one departed outing. In transit: one departed transfer,
    no cell. Released: no cell, no open assignment."""
    problems = []
    open_cells = {}
    for inmate_id, cell_id in CellAssignment.objects.filter(ended_at__isnull=True).values_list(
        "inmate_id", "cell_id"
    ):
        open_cells.setdefault(inmate_id, []).append(cell_id)
    departed = {}
    for inmate_id, kind in Movement.objects.filter(status=MovementStatus.DEPARTED).values_list(
        "inmate_id", "kind"
    ):
        departed.setdefault(inmate_id, []).append(kind)
    for inmate in Inmate.objects.select_related("cell"):
        cells, out = open_cells.get(inmate.pk, []), departed.get(inmate.pk, [])
        name = f"{inmate.booking_number} ({inmate.status})"
        if inmate.status == InmateStatus.IN_CUSTODY:
            if inmate.cell_id is None or cells != [inmate.cell_id]:
                problems.append(f"{name}: cell {inmate.cell_id}, open assignments {cells}")
            elif inmate.cell.kind not in PLACEMENT_KINDS:
                problems.append(f"{name}: placed in a {inmate.cell.kind}")
            # Inside the walls (yard, workshop...): at most one internal movement.
            if out and out != ["internal"]:
                problems.append(f"{name}: in custody but departed on {out}")
            if inmate.next_due_at is None:
                problems.append(f"{name}: no deadline")
        elif inmate.status == InmateStatus.OUT_AUTHORIZED:
            if len(out) != 1 or out[0] not in OUT_KINDS:
                problems.append(f"{name}: departed movements {out}")
            if inmate.cell_id is None or cells != [inmate.cell_id]:
                problems.append(f"{name}: kept cell {inmate.cell_id}, open {cells}")
        elif inmate.status == InmateStatus.IN_TRANSIT:
            if out != ["transfer"]:
                problems.append(f"{name}: departed movements {out}")
            if inmate.cell_id is not None or cells:
                problems.append(f"{name}: in transit with cell {inmate.cell_id}, open {cells}")
        elif inmate.status == InmateStatus.RELEASED and (inmate.cell_id or cells or out):
            problems.append(f"{name}: cell {inmate.cell_id}, open {cells}, departed {out}")
    return problems
