"""``unapproved_departure``: an emergency medical departure left on one
officer's word (invariant 7's only exception) and no second officer approved
it within ``EMERGENCY_APPROVAL_WITHIN``. Kept apart from ``alerts.rules`` so
that the rule reads on its own; it is listed in ``alerts.rules.RULES``.

Set-based: one indexed query per pass for what fires, one for what cleared.
One alert per movement (the dedup key), whatever the number of passes.
"""

from django.utils.translation import gettext_lazy as _

from alerts.models import AlertKind
from custody.models import EMERGENCY_APPROVAL_WITHIN
from custody.selectors import due


class UnapprovedDeparture:
    kind = AlertKind.UNAPPROVED_DEPARTURE

    def find(self, ctx) -> list:
        from alerts.rules import Finding  # the rules module lists this rule

        rows = due.emergency_departures_unapproved(
            facility=ctx.facility, departed_before=ctx.now - EMERGENCY_APPROVAL_WITHIN
        )
        return [
            Finding(
                kind=self.kind,
                subject=f"movement:{row['id']}",
                due_at=row["departed_at"] + EMERGENCY_APPROVAL_WITHIN,
                inmate_id=row["inmate_id"],
                location_id=row["from_location_id"],
                movement_id=row["id"],
                details={
                    "departed_at": row["departed_at"].isoformat(),
                    "departed_by": row["departed_by__username"],
                    "requested_by": row["requested_by__username"],
                    "emergency_reason": row["emergency_reason"],
                    "destination": row["destination"],
                    "approve_within_seconds": int(EMERGENCY_APPROVAL_WITHIN.total_seconds()),
                },
            )
            for row in rows
        ]

    def cleared(self, ctx, alerts: list) -> dict:
        from alerts.rules import Clearance

        if not alerts:
            return {}
        movements = due.movements_by_id(a.movement_id for a in alerts)
        approvers = due.usernames_by_id(
            m.approved_by_id for m in movements.values() if m.approved_by_id
        )
        result = {}
        for alert in alerts:
            movement = movements[alert.movement_id]
            if movement.approved_by_id:
                result[alert.pk] = Clearance(
                    _("Approved by a second officer."),
                    {
                        "movement": movement.pk,
                        "approved_by": approvers.get(movement.approved_by_id),
                        "approved_at": movement.approved_at.isoformat(),
                    },
                )
        return result
