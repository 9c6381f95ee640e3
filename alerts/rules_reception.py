"""``uncelled``: a person admitted to reception and not in a cell within the
facility's ``reception_deadline_seconds`` (default four hours).

Reception is a real place (invariant 1: a cell or a reception area), so a
person can wait there without breaking the record; this rule makes sure
nobody waits there forgotten. It closes by itself once the person is moved
to a cell (or leaves custody). One open alert per person (the dedup key).
"""

from datetime import timedelta

from django.utils.translation import gettext_lazy as _

from alerts.models import AlertKind
from alerts.rules import Clearance, Finding, PassContext
from custody.models import InmateStatus, LocationKind
from custody.selectors import reception


class Uncelled:
    kind = AlertKind.UNCELLED

    def find(self, ctx: PassContext) -> list[Finding]:
        deadline = timedelta(seconds=ctx.facility.reception_deadline_seconds)
        return [
            Finding(
                kind=self.kind,
                subject=f"inmate:{inmate_id}",
                due_at=placed_at + deadline,
                inmate_id=inmate_id,
                location_id=place_id,
                details={
                    "placed_at": placed_at.isoformat(),
                    "deadline_seconds": ctx.facility.reception_deadline_seconds,
                },
            )
            for inmate_id, place_id, placed_at in reception.inmates_uncelled(
                facility=ctx.facility, placed_before=ctx.now - deadline
            )
        ]

    def cleared(self, ctx: PassContext, alerts: list) -> dict[int, Clearance]:
        if not alerts:
            return {}
        now = reception.celled_or_gone(a.inmate_id for a in alerts)
        result = {}
        for alert in alerts:
            status, code, kind = now.get(alert.inmate_id, (None, None, None))
            if status != InmateStatus.IN_CUSTODY:
                result[alert.pk] = Clearance(_("No longer in custody here."), {"status": status})
            elif kind != LocationKind.RECEPTION:
                result[alert.pk] = Clearance(_("Placed in a cell."), {"cell": code})
        return result
