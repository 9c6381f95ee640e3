"""Admission and the record of each person in custody."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Coalesce, Least
from django.utils import timezone
from django.utils.translation import gettext as _

from custody.models import Facility, Inmate, InmateStatus, Location, SecurityLevel


def next_due_after(*, facility: Facility, security_level: str, seen_at):
    """When the next positive observation is due after someone was seen.

    Admission counts as being seen: the booking officer has the person in
    front of them, so the first deadline is one interval after admission.
    """
    return seen_at + facility.check_interval(security_level)


def inmates_tighten_deadlines(*, facility: Facility) -> int:
    """After a facility shortens its check intervals, nobody keeps an old,
    later deadline: each person is due one new interval after they were last
    seen (or admitted), if that is sooner. Longer intervals never push a
    deadline away; the next observation applies them. One UPDATE per level."""
    changed = 0
    for level in SecurityLevel.values:
        changed += Inmate.objects.filter(
            facility=facility, status=InmateStatus.IN_CUSTODY, security_level=level
        ).update(
            next_due_at=Least(
                F("next_due_at"),
                Coalesce(F("last_seen_at"), F("admitted_at")) + facility.check_interval(level),
            )
        )
    return changed


@transaction.atomic
def inmate_admit(
    *,
    facility: Facility,
    booking_number: str,
    first_name: str,
    last_name: str,
    security_level: str,
    cell: Location,
    admitted_at=None,
) -> Inmate:
    """Admission puts a person in custody in a cell with a first deadline.

    The booking officer sees the person at admission, so the first positive
    observation is due one interval (for their security level) later.
    """
    admitted_at = admitted_at or timezone.now()
    inmate = Inmate(
        facility=facility,
        booking_number=booking_number,
        first_name=first_name,
        last_name=last_name,
        security_level=security_level,
        cell=cell,
        status=InmateStatus.IN_CUSTODY,
        admitted_at=admitted_at,
        next_due_at=next_due_after(
            facility=facility, security_level=security_level, seen_at=admitted_at
        ),
    )
    inmate.full_clean()
    inmate.save()
    return inmate


# Rows are validated in Python and inserted in batches of this size: one
# statement per batch instead of several queries per person.
BULK_ADMIT_BATCH_SIZE = 500


@transaction.atomic
def inmates_admit_bulk(*, facility: Facility, rows, admitted_at=None) -> int:
    """Admits many people at once under the same rule as ``inmate_admit``.

    Each row is a mapping with ``booking_number``, ``first_name``,
    ``last_name``, ``security_level``, ``cell`` (a Location of this facility)
    and optionally its own ``admitted_at`` (else the call's, else now). Every
    row is checked before anything is written, and one bad row rejects the
    whole batch. Booking numbers already in the record are skipped, not
    updated, so a seed can be re-run. Returns how many people were admitted.

    Keep in step with ``inmate_admit``: whatever admission records besides
    the inmate row must be written here too.
    """
    admitted_at = admitted_at or timezone.now()
    inmates = _bulk_admit_build(facility=facility, rows=rows, admitted_at=admitted_at)
    existing = _existing_booking_numbers([i.booking_number for i in inmates])
    new = [i for i in inmates if i.booking_number not in existing]
    # ignore_conflicts covers a concurrent admission of the same booking
    # number between the lookup above and the insert. (SQLite's INSERT OR
    # IGNORE would also skip a row failing a CHECK; the row checks rule that out.)
    Inmate.objects.bulk_create(new, batch_size=BULK_ADMIT_BATCH_SIZE, ignore_conflicts=True)
    return len(new)


def _bulk_admit_build(*, facility: Facility, rows, admitted_at) -> list[Inmate]:
    """Unsaved inmates for ``rows``; every row's errors at once, keyed by row index."""
    inmates, errors, seen = [], {}, set()
    for index, row in enumerate(rows):
        row_admitted_at = row.get("admitted_at") or admitted_at
        # Named fields only: a row cannot bring its own status or deadline.
        inmate = Inmate(
            facility=facility,
            booking_number=row.get("booking_number", ""),
            first_name=row.get("first_name", ""),
            last_name=row.get("last_name", ""),
            security_level=row.get("security_level", ""),
            cell=row.get("cell"),
            status=InmateStatus.IN_CUSTODY,
            admitted_at=row_admitted_at,
        )
        try:
            # Field checks only: the FK, unique and constraint checks would
            # each cost a query per row; the cell check above and the insert
            # cover them.
            inmate.full_clean(
                exclude=["facility", "cell"], validate_unique=False, validate_constraints=False
            )
            if inmate.booking_number in seen:
                raise ValidationError({"booking_number": _("Repeated in this batch.")})
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                errors[f"rows[{index}].{field}"] = messages
            continue
        seen.add(inmate.booking_number)
        inmate.next_due_at = next_due_after(
            facility=facility, security_level=inmate.security_level, seen_at=row_admitted_at
        )
        inmates.append(inmate)
    if errors:
        raise ValidationError(errors)
    return inmates


def _existing_booking_numbers(numbers: list[str]) -> set[str]:
    # Chunked: SQLite caps the number of parameters in one statement.
    found = set()
    for start in range(0, len(numbers), BULK_ADMIT_BATCH_SIZE):
        chunk = numbers[start : start + BULK_ADMIT_BATCH_SIZE]
        found.update(
            Inmate.objects.filter(booking_number__in=chunk).values_list("booking_number", flat=True)
        )
    return found


@transaction.atomic
def inmate_update(*, inmate: Inmate, **fields) -> Inmate:
    """Edits identity, cell and security level of a person in the record.

    The facility and booking number never change here (transfers and
    re-bookings are movements). A stricter security level can only bring the
    next deadline closer, never push it away.
    """
    for frozen in ("facility", "booking_number"):
        if frozen in fields and fields[frozen] != getattr(inmate, frozen):
            raise ValidationError({frozen: _("This cannot be changed once booked.")})
        fields.pop(frozen, None)
    for name, value in fields.items():
        setattr(inmate, name, value)
    if inmate.status == InmateStatus.IN_CUSTODY:
        due = next_due_after(
            facility=inmate.facility,
            security_level=inmate.security_level,
            seen_at=inmate.last_seen_at or inmate.admitted_at,
        )
        inmate.next_due_at = min(inmate.next_due_at, due) if inmate.next_due_at else due
    inmate.full_clean()
    inmate.save()
    return inmate
