"""The rules a departure meets beyond the state machine
(``custody.services.movements``): how long an outing may last, what makes an
emergency, and the freeze before a unit's formal count."""

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from custody.exceptions import Conflict
from custody.models import Facility, MovementKind
from custody.selectors.count_freeze import CountFreeze, count_freezes

EMERGENCY_REASON_MIN = 5


def absence_limit_problem(*, facility: Facility, kind: str, since, until) -> str | None:
    """Why ``until`` is too late for an outing of ``kind`` starting at
    ``since`` (the facility's ``max_absence_seconds``), or None."""
    limit = timedelta(seconds=facility.max_absence_seconds[kind])
    if until - since <= limit:
        return None
    return _(
        "At most %(hours)s hours after now for a %(kind)s outing at %(facility)s "
        "(max_absence_seconds: %(seconds)s); a later return needs an extension "
        "approved by a second officer."
    ) % {
        "hours": round(limit.total_seconds() / 3600, 1),
        "kind": MovementKind(kind).label.lower(),
        "facility": facility.code,
        "seconds": int(limit.total_seconds()),
    }


def emergency_reason_checked(kind: str, emergency, emergency_reason) -> str:
    """Only a medical movement is an emergency, and an emergency says what it
    is; answers the reason, trimmed."""
    reason = (emergency_reason or "").strip()
    if emergency and kind != MovementKind.MEDICAL:
        raise ValidationError(
            {"emergency": _("Only a medical movement can leave as an emergency.")}
        )
    if emergency and len(reason) < EMERGENCY_REASON_MIN:
        raise ValidationError(
            {"emergency_reason": _("Say what the emergency is (at least 5 characters).")}
        )
    if not emergency and reason:
        raise ValidationError(
            {"emergency_reason": _("Only an emergency has an emergency reason; leave it out.")}
        )
    return reason


def unit_freezes(facility: Facility, cell_ids: list, now) -> list[CountFreeze]:
    """The freezes on the units holding ``cell_ids`` at ``now``."""
    return count_freezes(facility=facility, now=now, cell_ids=[pk for pk in cell_ids if pk])


def refuse_frozen(freeze: CountFreeze, facility: Facility) -> None:
    """A 409 naming the count the movement waits for."""
    local = freeze.slot_at.astimezone(facility.tzinfo)
    raise Conflict(
        _(
            "Movements into, out of or inside %(unit)s are frozen until its %(time)s "
            "formal count of %(date)s is submitted (count schedule %(schedule)s)."
        )
        % {
            "unit": freeze.unit_name or freeze.unit_code,
            "time": local.strftime("%H:%M"),
            "date": local.strftime("%Y-%m-%d"),
            "schedule": freeze.schedule_id,
        },
        count=freeze.as_data(),
    )
