"""``unpaired_movement``: a person sent inside the walls (yard, workshop,
infirmary, visit, interview) was not seen back in their cell by the
expected return plus the facility's grace. Kept apart from ``alerts.rules``
so that it reads on its own; listed in ``alerts.rules.RULES``.

Set-based: one query on the ``movement_internal_due`` partial index per pass
for what fires (O(what is due)), one for what cleared. One alert per
movement; it closes by itself when the movement is paired.
"""

from django.utils.translation import gettext_lazy as _

from alerts.models import AlertKind
from custody.models import MovementStatus
from custody.selectors import due


class UnpairedMovement:
    kind = AlertKind.UNPAIRED_MOVEMENT

    def find(self, ctx) -> list:
        from alerts.rules import Finding  # the rules module lists this rule

        rows = due.internal_movements_unpaired(facility=ctx.facility, before=ctx.now - ctx.grace)
        return [
            Finding(
                kind=self.kind,
                subject=f"movement:{row['id']}",
                due_at=row["expected_back_at"],
                inmate_id=row["inmate_id"],
                location_id=row["from_location_id"],
                movement_id=row["id"],
                details={
                    "to_location": row["to_location__code"],
                    "departed_at": row["departed_at"].isoformat(),
                    "departed_by": row["departed_by__username"],
                    "session": row["session_id"],
                },
            )
            for row in rows
        ]

    def cleared(self, ctx, alerts: list) -> dict:
        from alerts.rules import Clearance

        if not alerts:
            return {}
        movements = due.movements_by_id(a.movement_id for a in alerts)
        result = {}
        for alert in alerts:
            movement = movements[alert.movement_id]
            if movement.status == MovementStatus.COMPLETED:
                result[alert.pk] = Clearance(
                    _("Seen back in the cell."),
                    {
                        "movement": movement.pk,
                        "completed_at": movement.completed_at.isoformat(),
                        **(movement.paired_observation or {}),
                    },
                )
        return result
