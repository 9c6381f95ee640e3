"""When counts are owed: daily schedules per unit and emergency calls.

Every change is a ledger event: a schedule quietly retired is exactly how a
count stops being done, so who did it, and when, stays in the record.
"""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from custody.models import CountCall, CountKind, CountSchedule, Facility, Location
from custody.services.ledger import ledger_append
from custody.services.rollcalls import require_supervisor


def _schedule_data(schedule: CountSchedule) -> dict:
    return {
        "schedule": schedule.pk,
        "location": schedule.location.code if schedule.location_id else None,
        "time_of_day": schedule.time_of_day.strftime("%H:%M"),
        "kind": schedule.kind,
        "grace_minutes": schedule.grace_minutes,
        "is_active": schedule.is_active,
    }


def _check(facility: Facility, location: Location | None, kind: str) -> None:
    if location is not None and location.facility_id != facility.pk:
        raise ValidationError({"location": _("The unit must be in the schedule's facility.")})
    if kind == CountKind.EMERGENCY:
        raise ValidationError(
            {"kind": _("Emergency counts are called, not scheduled: call one instead.")}
        )


def _save(schedule: CountSchedule) -> None:
    # Asked first for the plain case; between two racing writers the unique
    # index decides (the IntegrityError below).
    taken = (
        CountSchedule.objects.filter(
            facility=schedule.facility,
            location=schedule.location,
            time_of_day=schedule.time_of_day,
            is_active=True,
        )
        .exclude(pk=schedule.pk)
        .exists()
    )
    if schedule.is_active and taken:
        raise ValidationError(
            {"time_of_day": _("This unit already has a count scheduled at that time.")}
        )
    try:
        with transaction.atomic():
            schedule.full_clean(exclude=["facility", "location", "created_by"])
            schedule.save()
    except IntegrityError:
        raise ValidationError(
            {"time_of_day": _("This unit already has a count scheduled at that time.")}
        ) from None


@transaction.atomic
def count_schedule_create(
    *, facility: Facility, location: Location | None, time_of_day, kind: str, grace_minutes: int, by
) -> CountSchedule:
    require_supervisor(by, facility)
    _check(facility, location, kind)
    schedule = CountSchedule(
        facility=facility,
        location=location,
        time_of_day=time_of_day.replace(second=0, microsecond=0),
        kind=kind,
        grace_minutes=grace_minutes,
        created_by=by,
    )
    _save(schedule)
    ledger_append(
        facility=facility,
        actor=by,
        action="count_schedule.created",
        subject=f"count_schedule:{schedule.pk}",
        data=_schedule_data(schedule),
    )
    return schedule


@transaction.atomic
def count_schedule_update(*, schedule: CountSchedule, by, **changes) -> CountSchedule:
    """Changes time, kind, grace or active; the ledger keeps before and after."""
    require_supervisor(by, schedule.facility)
    schedule = CountSchedule.objects.select_for_update().get(pk=schedule.pk)
    before = _schedule_data(schedule)
    for name, value in changes.items():
        if name == "time_of_day":
            value = value.replace(second=0, microsecond=0)
        setattr(schedule, name, value)
    _check(schedule.facility, schedule.location, schedule.kind)
    _save(schedule)
    after = _schedule_data(schedule)
    if after != before:
        ledger_append(
            facility=schedule.facility,
            actor=by,
            action="count_schedule.changed",
            subject=f"count_schedule:{schedule.pk}",
            data={"before": before, "after": after},
        )
    return schedule


@transaction.atomic
def count_call_create(*, facility: Facility, by, reason: str, grace_minutes: int = 15, now=None):
    """Calls an emergency count: every unit's count is due within the grace."""
    require_supervisor(by, facility)
    reason = (reason or "").strip()
    if len(reason) < 5:
        raise ValidationError({"reason": _("Say why the count is called.")})
    call = CountCall(
        facility=facility,
        called_at=now or timezone.now(),
        called_by=by,
        grace_minutes=grace_minutes,
        reason=reason,
    )
    call.full_clean(exclude=["facility", "called_by"])
    call.save()
    ledger_append(
        facility=facility,
        actor=by,
        action="count.called",
        subject=f"count_call:{call.pk}",
        data={"grace_minutes": grace_minutes, "reason": reason},
        at=call.called_at,
    )
    return call
