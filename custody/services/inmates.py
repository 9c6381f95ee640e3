"""Admission and the record of each person in custody."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Coalesce, Least
from django.utils import timezone
from django.utils.translation import gettext as _

from custody.exceptions import Conflict
from custody.models import (
    CellAssignment,
    Facility,
    Inmate,
    InmateStatus,
    Location,
    LocationKind,
    Movement,
    MovementKind,
    MovementStatus,
    SecurityLevel,
)
from custody.models.movements import OPEN_MOVEMENT_STATUSES
from custody.services.capacity import place_reserve, places_reserve
from custody.services.ledger import (
    PendingEvent,
    actor_label,
    ledger_append,
    ledger_append_many,
    ledger_changes,
)
from custody.services.placement import (
    assignment_close,
    assignment_open,
    inmate_subject,
    movement_event_data,
)
from custody.services.rounds_schedule import (
    draw_next_due,
    effective_level,
    rescheduled,
    stricter,
)


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
    by=None,
    watch_level: str = "",
) -> Inmate:
    """Admission puts a person in custody in a cell, or in a reception area
    until they are celled (``uncelled`` watches how long), with a first
    deadline; never past the place's operational capacity (409).

    The booking officer sees the person at admission, so the first positive
    observation is due one interval (for their security level) later. It is
    recorded as a completed ``admission`` movement by ``by`` (None: the
    system), the first cell assignment and an ``inmate.admitted`` ledger event.
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
        watch_level=watch_level,
    )
    if watch_level:
        # Seen face to face at admission: the first round is due from then.
        inmate.next_round_due_at, inmate.round_deadline_at = draw_next_due(
            facility=facility, level=watch_level, after=admitted_at
        )
    inmate.full_clean()
    place_reserve(place=cell)
    inmate.save()
    movement = _admission_movement(inmate, by=by)
    movement.save()
    assignment_open(inmate=inmate, cell=cell, at=admitted_at, movement=movement)
    ledger_append(
        facility=facility,
        actor=by,
        action="inmate.admitted",
        subject=inmate_subject(inmate),
        data=_admission_event_data(movement),
    )
    return inmate


def _completed_at_once(inmate: Inmate, *, kind: str, by, at, **fields) -> Movement:
    """A movement requested, approved and completed at once by one officer, as
    the record's own admissions and cell changes are (no second officer:
    invariant 7 names release and transfer). Unsaved."""
    return Movement(
        inmate=inmate,
        facility=inmate.facility,
        kind=kind,
        status=MovementStatus.COMPLETED,
        to_location=inmate.cell,
        requested_by=by,
        requested_at=at,
        approved_by=by,
        approved_at=at,
        completed_by=by,
        completed_at=at,
        **fields,
    )


def _admission_movement(inmate: Inmate, *, by) -> Movement:
    return _completed_at_once(inmate, kind=MovementKind.ADMISSION, by=by, at=inmate.admitted_at)


def _admission_event_data(movement: Movement) -> dict:
    return movement_event_data(movement, security_level=movement.inmate.security_level)


# Rows are validated in Python and inserted in batches of this size: one
# statement per batch instead of several queries per person.
BULK_ADMIT_BATCH_SIZE = 500


@transaction.atomic
def inmates_admit_bulk(*, facility: Facility, rows, admitted_at=None, by=None) -> int:
    """Admits many people at once under the same rule as ``inmate_admit``.

    Each row is a mapping with ``booking_number``, ``first_name``,
    ``last_name``, ``security_level``, ``cell`` (a Location of this facility)
    and optionally its own ``admitted_at`` (else the call's, else now). Every
    row is checked before anything is written, and one bad row rejects the
    whole batch. Booking numbers already in the record are skipped, not
    updated, so a seed can be re-run. Returns how many people were admitted.

    Keep in step with ``inmate_admit``: each person gets the same completed
    admission movement, first cell assignment and ledger event, written with
    a fixed number of statements per batch (no query per person). A
    concurrent admission of one of the same booking numbers makes the whole
    call fail (IntegrityError); running it again admits whoever is missing.
    """
    admitted_at = admitted_at or timezone.now()
    inmates = _bulk_admit_build(facility=facility, rows=rows, admitted_at=admitted_at)
    existing = _existing_booking_numbers([i.booking_number for i in inmates])
    new = [i for i in inmates if i.booking_number not in existing]
    places_reserve([inmate.cell for inmate in new])
    # No ignore_conflicts: the movements and assignments need the new ids, and
    # Django sets none when ON CONFLICT DO NOTHING may have skipped rows.
    Inmate.objects.bulk_create(new, batch_size=BULK_ADMIT_BATCH_SIZE)
    movements = [_admission_movement(inmate, by=by) for inmate in new]
    Movement.objects.bulk_create(movements, batch_size=BULK_ADMIT_BATCH_SIZE)
    CellAssignment.objects.bulk_create(
        [
            CellAssignment(
                inmate=m.inmate, cell=m.to_location, started_at=m.completed_at, started_by=m
            )
            for m in movements
        ],
        batch_size=BULK_ADMIT_BATCH_SIZE,
    )
    actor = actor_label(by)
    ledger_append_many(
        facility=facility,
        events=[
            PendingEvent(
                action="inmate.admitted",
                subject=inmate_subject(m.inmate),
                data=_admission_event_data(m),
                actor=actor,
            )
            for m in movements
        ],
    )
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
    # Chunked: one statement carries at most 65,535 parameters.
    found = set()
    for start in range(0, len(numbers), BULK_ADMIT_BATCH_SIZE):
        chunk = numbers[start : start + BULK_ADMIT_BATCH_SIZE]
        found.update(
            Inmate.objects.filter(booking_number__in=chunk).values_list("booking_number", flat=True)
        )
    return found


@transaction.atomic
def inmate_update(*, inmate: Inmate, by=None, **fields) -> Inmate:
    """Edits identity, cell and security level of a person in the record.

    The facility and booking number never change here (transfers and
    re-bookings are movements). A new cell is a completed ``cell_move``
    movement by ``by``, only for someone in custody with no open movement.
    A stricter security level can only bring the next deadline closer, never
    push it away. Every change is a ledger event.
    """
    inmate.refresh_from_db(from_queryset=Inmate.objects.select_for_update())
    for frozen in ("facility", "booking_number"):
        if frozen in fields and fields[frozen] != getattr(inmate, frozen):
            raise ValidationError({frozen: _("This cannot be changed once booked.")})
        fields.pop(frozen, None)
    old_cell = inmate.cell if inmate.cell_id else None
    before_level = inmate.watch_level
    plain = {name: value for name, value in fields.items() if name != "cell"}
    changes = ledger_changes({name: getattr(inmate, name) for name in plain}, plain)
    for name, value in fields.items():
        setattr(inmate, name, value)
    if inmate.status == InmateStatus.IN_CUSTODY:
        due = next_due_after(
            facility=inmate.facility,
            security_level=inmate.security_level,
            seen_at=inmate.last_seen_at or inmate.admitted_at,
        )
        inmate.next_due_at = min(inmate.next_due_at, due) if inmate.next_due_at else due
    if "watch_level" in plain:
        _watch_level_applied(inmate, before=before_level)
    inmate.full_clean()
    moved = "cell" in fields and inmate.cell_id != getattr(old_cell, "pk", None)
    if moved:
        _check_can_change_cell(inmate)
        if inmate.cell.kind != LocationKind.CELL:
            raise ValidationError(
                {"cell": _("A move goes to a cell; reception is for admissions.")}
            )
        place_reserve(place=inmate.cell, inmate_id=inmate.pk)
    inmate.save()
    events = []
    if moved:
        movement = _cell_move_completed(inmate, by=by, from_cell=old_cell)
        events.append(
            PendingEvent(
                action="movement.completed",
                subject=inmate_subject(inmate),
                data=movement_event_data(movement),
                actor=actor_label(by),
            )
        )
    if changes:
        events.append(
            PendingEvent(
                action="inmate.updated",
                subject=inmate_subject(inmate),
                data={"changes": changes},
                actor=actor_label(by),
            )
        )
    ledger_append_many(facility=inmate.facility, events=events)
    return inmate


def _watch_level_applied(inmate: Inmate, *, before: str) -> None:
    """A level of one's own is watched on the person's row from now on
    (stricter: at once, never later than before); back to the cell's
    level (empty), the person's own schedule ends."""
    if inmate.watch_level == before:
        return
    if not inmate.watch_level:
        inmate.next_round_due_at = inmate.round_deadline_at = None
        return
    cell_level = inmate.cell.watch_level if inmate.cell_id else ""
    inmate.next_round_due_at, inmate.round_deadline_at = rescheduled(
        facility=inmate.facility,
        level=inmate.watch_level,
        # Without a level of their own, their rounds were the cell's: count from now.
        last_round_at=inmate.last_round_at if before else None,
        due=inmate.next_round_due_at,
        deadline=inmate.round_deadline_at,
        now=timezone.now(),
        tighten=stricter(inmate.watch_level, effective_level(before, cell_level)),
    )


def _check_can_change_cell(inmate: Inmate) -> None:
    if inmate.status != InmateStatus.IN_CUSTODY:
        raise Conflict(
            _("%(booking)s is %(status)s: only people in custody change cells.")
            % {"booking": inmate.booking_number, "status": inmate.get_status_display().lower()}
        )
    if inmate.movements.filter(status__in=OPEN_MOVEMENT_STATUSES).exists():
        raise Conflict(
            _("%(booking)s has an open movement; finish or cancel it first.")
            % {"booking": inmate.booking_number}
        )


def _cell_move_completed(inmate: Inmate, *, by, from_cell) -> Movement:
    """A cell change made on the record: approved and done by the same officer."""
    now = timezone.now()
    movement = _completed_at_once(
        inmate, kind=MovementKind.CELL_MOVE, by=by, at=now, from_location=from_cell
    )
    movement.save()
    assignment_close(inmate=inmate, at=now, movement=movement)
    assignment_open(inmate=inmate, cell=inmate.cell, at=now, movement=movement)
    return movement
