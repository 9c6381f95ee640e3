"""What people do with an alert: acknowledge it (its owner then has the
rung's resolve time before it climbs anyway), resolve it with a written
reason (invariant 6). Nobody acts on an alert about their own count, scan or
movement."""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from alerts.models import UNRESOLVED, Alert, AlertStatus
from alerts.selectors import own_work
from alerts.services.escalation import acknowledged_clock
from alerts.services.notify import notify_resolved
from alerts.services.policy import escalation_ladder
from alerts.services.recording import alert_event_data, alert_subject, record_alert_events
from custody.exceptions import Conflict
from custody.models import InmateStatus
from custody.roles import SUPERVISING_ROLES
from custody.selectors import visible_facility_ids
from custody.services import inmate_declare_absent, ledger_append

MIN_RESOLUTION_LENGTH = 10
# What the API and the page announce; the service holds the line for both.
MAX_RESOLUTION_LENGTH = 4000


class NotAllowed(Exception):
    """The person may read the alert but not act on it."""


class InvalidResolution(ValueError):
    pass


def _lock(alert: Alert, user) -> Alert:
    in_facility = alert.facility_id in visible_facility_ids(user)
    if not user.is_superuser and (user.role not in SUPERVISING_ROLES or not in_facility):
        raise NotAllowed(_("Only a supervisor of this facility can act on its alerts."))
    alert = (
        Alert.objects.select_for_update(of=("self",))
        .select_related("facility", "inmate", "location", "acknowledged_by")
        .get(pk=alert.pk)
    )
    # Everyone, superusers too: the officer whose work an alert is about is
    # the one person who must not close it.
    reason = own_work(user=user, alerts=[alert]).get(alert.pk)
    if reason:
        raise NotAllowed(reason)
    return alert


@transaction.atomic
def alert_acknowledge(*, alert: Alert, by) -> Alert:
    """``by`` owns the alert from now: it stops climbing for want of an owner,
    and the rung's resolve time starts (``alerts.services.escalation``)."""
    alert = _lock(alert, by)
    if alert.status != AlertStatus.OPEN:
        who = alert.acknowledged_by.username if alert.acknowledged_by_id else None
        raise Conflict(
            _("This alert is already %(status)s%(who)s.")
            % {
                "status": alert.get_status_display().lower(),
                "who": _(" by %(name)s") % {"name": who} if who else "",
            }
        )
    now = timezone.now()
    alert.status = AlertStatus.ACKNOWLEDGED
    alert.acknowledged_at = now
    alert.acknowledged_by = by
    alert.acknowledged_level = alert.escalation_level
    acknowledged_clock(alert=alert, ladder=escalation_ladder(alert.facility), now=now)
    alert.save(
        update_fields=[
            "status",
            "acknowledged_at",
            "acknowledged_by",
            "acknowledged_level",
            "resolve_by",
            "next_escalation_at",
        ]
    )
    ledger_append(
        facility=alert.facility,
        actor=by,
        action="alert.acknowledged",
        subject=alert_subject(alert),
        data=alert_event_data(alert, resolve_by=alert.resolve_by),
        at=now,
    )
    return alert


# Outcomes of a resolution that change the custody record too.
DECLARATIONS = (InmateStatus.MISSING, InmateStatus.ESCAPED)


@transaction.atomic
def alert_resolve(*, alert: Alert, by, resolution: str, declare: str | None = None) -> Alert:
    """Closes the alert with ``by``'s written reason; whoever heard of it
    hears it is over. ``declare`` ("missing" or "escaped") also records the
    person as gone, in the same transaction: they leave the observation
    schedule and stay unaccounted until a return movement."""
    resolution = (resolution or "").strip()
    if len(resolution) < MIN_RESOLUTION_LENGTH:
        raise InvalidResolution(
            _("Write what happened, in at least %(n)s characters.") % {"n": MIN_RESOLUTION_LENGTH}
        )
    if len(resolution) > MAX_RESOLUTION_LENGTH:
        raise InvalidResolution(
            _("Keep the resolution to at most %(n)s characters.") % {"n": MAX_RESOLUTION_LENGTH}
        )
    alert = _lock(alert, by)
    if alert.status not in UNRESOLVED:
        raise Conflict(_("This alert is already resolved."))
    if declare:
        if declare not in DECLARATIONS or alert.inmate_id is None:
            raise InvalidResolution(_("Only a person can be declared missing or escaped."))
        inmate_declare_absent(inmate=alert.inmate, status=declare, by=by, reason=resolution)
    now = timezone.now()
    alert.status = AlertStatus.RESOLVED
    alert.resolved_at = now
    alert.resolved_by = by
    alert.resolution = resolution
    alert.next_escalation_at = None
    if alert.acknowledged_at is None:  # resolving owns it too
        alert.acknowledged_at, alert.acknowledged_by = now, by
    alert.save(
        update_fields=[
            "status",
            "resolved_at",
            "resolved_by",
            "resolution",
            "next_escalation_at",
            "acknowledged_at",
            "acknowledged_by",
        ]
    )
    record_alert_events(facility=alert.facility, resolved=[alert], actor=by)
    notify_resolved(alerts=[alert], now=now)
    return alert
