"""identity_unverified: a person in custody with no fingerprint, face or iris
observation within the facility's ``identity_window_seconds``.

Visual checks and wristband reads keep ``next_due_at`` moving, so without
this rule a count kept by eyes alone meets every deadline while nobody
proves who is in the cell (Fraijanes II, 8 October: 256 people counted,
none verified). Only the next biometric observation closes it: a
supervisor's word is no proof, and a hand-resolved alert opens again after
the re-alert time while the person stays unproven.
"""

from datetime import timedelta

from django.utils.translation import gettext_lazy as _

from alerts.models import AlertKind
from alerts.rules import Clearance, Finding, PassContext, _checkin_observation
from custody.models import InmateStatus
from custody.selectors import due, watch


class IdentityUnverified:
    kind = AlertKind.IDENTITY_UNVERIFIED

    def find(self, ctx: PassContext) -> list[Finding]:
        window = timedelta(seconds=ctx.facility.identity_window_seconds)
        proven_before = ctx.now - window
        if ctx.identity_watch_since and ctx.identity_watch_since > proven_before:
            return []  # the rule was deployed less than a window ago: nobody is late yet
        return [
            Finding(
                kind=self.kind,
                subject=f"inmate:{inmate_id}",
                due_at=(verified_at or admitted_at) + window,
                inmate_id=inmate_id,
                location_id=cell_id,
                details={
                    "identity_verified_at": verified_at.isoformat() if verified_at else None,
                    "window_seconds": ctx.facility.identity_window_seconds,
                },
            )
            for inmate_id, cell_id, verified_at, admitted_at in watch.inmates_identity_due(
                facility=ctx.facility, proven_before=proven_before
            )
        ]

    def cleared(self, ctx: PassContext, alerts: list) -> dict[int, Clearance]:
        if not alerts:
            return {}
        # A proof inside today's window; a buffered scan older than that
        # proves nothing about now.
        proven_since = ctx.now - timedelta(seconds=ctx.facility.identity_window_seconds)
        people = due.inmates_by_id(a.inmate_id for a in alerts)
        proven = {
            a.pk: people[a.inmate_id]
            for a in alerts
            if people[a.inmate_id].identity_verified_at
            and people[a.inmate_id].identity_verified_at >= proven_since
        }
        scans = due.checkins_at([(p.pk, p.identity_verified_at) for p in proven.values()])
        result = {}
        for alert_id, person in proven.items():
            row = scans.get((person.pk, person.identity_verified_at))
            observation = (
                _checkin_observation(row)
                if row
                else {"observed_at": person.identity_verified_at.isoformat()}
            )
            result[alert_id] = Clearance(_("Identity verified by biometrics."), observation)
        for alert in alerts:
            person = people[alert.inmate_id]
            if alert.pk not in result and person.status != InmateStatus.IN_CUSTODY:
                # Out of this count; back in custody unproven, it fires again.
                result[alert.pk] = Clearance(
                    _("No longer in custody here."), {"status": person.status}
                )
        return result
