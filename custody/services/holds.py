"""Legal holds: placing one, and lifting it with two officers.

- A supervisor or administrator of the facility places a hold (a period, a
  reason, optionally a person or a place); ``hold.placed`` goes in the
  facility's ledger.
- Lifting takes two officers (supervisors or administrators of the
  facility): one asks, with a reason (``hold.lift_requested``); another
  approves (``hold.lifted``). Never the one who asked, and never an account
  that officer created or reset in the last 30 days (as for pending
  changes). The database refuses the rest (migration 0028): no delete, no
  change of what is held, each lifting column filled once, by another.
- While active, a hold keeps every month its period touches in its facility
  out of the archive (``custody.services.retention``).
"""

from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from custody.exceptions import Conflict
from custody.models import Facility, Inmate, LegalHold, Location
from custody.roles import SUPERVISING_ROLES
from custody.selectors.records import visible_facility_ids
from custody.services.account_record import account_made_by
from custody.services.changes import ACCOUNT_COOLING, MIN_REASON_LENGTH
from custody.services.ledger import ledger_append

MAX_REASON_LENGTH = 2000


def _require_officer(by, facility: Facility) -> None:
    if facility.pk not in visible_facility_ids(by):
        raise PermissionDenied(_("You are not assigned to this facility."))
    if by.role not in SUPERVISING_ROLES:
        raise PermissionDenied(
            _("Only a supervisor or an administrator may place or lift a legal hold.")
        )


def _reason(value, field: str) -> str:
    reason = (value or "").strip() if isinstance(value, str) else ""
    if len(reason) < MIN_REASON_LENGTH:
        raise ValidationError({field: _("Give the reason (at least 5 characters).")})
    if len(reason) > MAX_REASON_LENGTH:
        raise ValidationError({field: _("At most 2000 characters.")})
    return reason


def hold_subject(hold: LegalHold) -> str:
    return f"hold:{hold.pk}"


def hold_label(hold: LegalHold) -> str:
    """How the archive names a hold that refuses a month."""
    end = hold.period_end.date().isoformat() if hold.period_end else "…"
    return f"legal hold #{hold.pk} ({hold.period_start.date().isoformat()} – {end}): {hold.reason}"


def _shown(hold: LegalHold) -> dict:
    return {
        "inmate": hold.inmate.booking_number if hold.inmate_id else None,
        "location": hold.location.code if hold.location_id else None,
        "period_start": hold.period_start.isoformat(),
        "period_end": hold.period_end.isoformat() if hold.period_end else None,
        "reason": hold.reason,
    }


@transaction.atomic
def hold_place(
    *,
    facility: Facility,
    by,
    period_start: datetime,
    reason: str,
    period_end: datetime | None = None,
    inmate: Inmate | None = None,
    location: Location | None = None,
    now=None,
) -> LegalHold:
    _require_officer(by, facility)
    reason = _reason(reason, "reason")
    if not isinstance(period_start, datetime) or timezone.is_naive(period_start):
        raise ValidationError({"period_start": _("A date and time with its time zone.")})
    if period_end is not None:
        if not isinstance(period_end, datetime) or timezone.is_naive(period_end):
            raise ValidationError({"period_end": _("A date and time with its time zone.")})
        if period_end <= period_start:
            raise ValidationError({"period_end": _("The period must end after it starts.")})
    if location is not None and location.facility_id != facility.pk:
        raise ValidationError({"location": _("This place is not in the hold's facility.")})
    now = now or timezone.now()
    hold = LegalHold.objects.create(
        facility=facility,
        inmate=inmate,
        location=location,
        period_start=period_start,
        period_end=period_end,
        reason=reason,
        placed_by=by,
        placed_at=now,
    )
    ledger_append(
        facility=facility,
        actor=by,
        action="hold.placed",
        subject=hold_subject(hold),
        data=_shown(hold),
        at=now,
    )
    return hold


def _lock(hold: LegalHold) -> LegalHold:
    hold = (
        LegalHold.objects.select_for_update(of=("self",))
        .select_related("facility", "inmate", "location", "lift_requested_by")
        .get(pk=hold.pk)
    )
    if hold.lifted_at is not None:
        raise Conflict(_("This legal hold is lifted already."))
    return hold


@transaction.atomic
def hold_lift_request(*, hold: LegalHold, by, reason: str, now=None) -> LegalHold:
    """The first officer asks for the hold to be lifted; it still holds."""
    reason = _reason(reason, "reason")
    hold = _lock(hold)
    _require_officer(by, hold.facility)
    if hold.lift_requested_at is not None:
        raise Conflict(
            _("Lifting this hold was already asked for by %(user)s: another officer approves it.")
            % {"user": hold.lift_requested_by.username}
        )
    now = now or timezone.now()
    hold.lift_requested_by, hold.lift_requested_at, hold.lift_reason = by, now, reason
    hold.save(update_fields=["lift_requested_by", "lift_requested_at", "lift_reason"])
    ledger_append(
        facility=hold.facility,
        actor=by,
        action="hold.lift_requested",
        subject=hold_subject(hold),
        data={**_shown(hold), "lift_reason": reason},
        at=now,
    )
    return hold


@transaction.atomic
def hold_lift_approve(*, hold: LegalHold, by, now=None) -> LegalHold:
    """A second officer lifts the hold that another asked to lift."""
    hold = _lock(hold)
    _require_officer(by, hold.facility)
    if hold.lift_requested_at is None:
        raise Conflict(_("Nobody has asked to lift this hold yet."))
    if hold.lift_requested_by_id == by.pk:
        raise PermissionDenied(
            _("Lifting a legal hold needs a second officer: not the one who asked.")
        )
    now = now or timezone.now()
    if account_made_by(author=hold.lift_requested_by, account=by, since=now - ACCOUNT_COOLING):
        raise PermissionDenied(
            _(
                "Your account was created or reset by the officer who asked in the last "
                "30 days: another officer must approve it."
            )
        )
    hold.lifted_by, hold.lifted_at = by, now
    hold.save(update_fields=["lifted_by", "lifted_at"])
    ledger_append(
        facility=hold.facility,
        actor=by,
        action="hold.lifted",
        subject=hold_subject(hold),
        data={
            **_shown(hold),
            "lift_reason": hold.lift_reason,
            "requested_by": hold.lift_requested_by.username,
        },
        at=now,
    )
    return hold
