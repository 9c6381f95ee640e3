"""Authorised movements: request, approve, depart, arrive, cancel.

Each step is one transaction that locks the inmate's row, then the
movement's, then (last, in ``ledger_append``) the facility's ledger head, so
two officers acting on the same person are serialised and the second one sees
the first one's result. Any step the movement's kind and status do not allow
is a ``Conflict`` (HTTP 409) naming the status and the step.

After every step invariant 1 holds: in custody = one cell and one open
matching cell assignment; out_authorized = one departed court, medical or
temporary-release movement; in_transit = one departed transfer.

Invariant 7: every departure (court, medical, temporary release, release,
transfer) is approved by a second officer before the person leaves; only an
emergency medical departure leaves first, and a second officer approves it
after (``unapproved_departure`` fires if nobody does within 30 minutes). The
database holds the same rule (``custody.migrations._departure_guards``).

An outing's ``expected_back_at`` is at most the facility's
``max_absence_seconds`` for the kind after the request (the earliest moment
the person can leave); a later return is an extension
(``custody.services.movement_extensions``). Departures and arrivals are
refused while a unit they touch is frozen before its formal count
(``custody.selectors.count_freeze``), except an emergency medical departure.
"""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from custody import selectors
from custody.exceptions import Conflict
from custody.models import (
    DEPARTURE_KINDS,
    Facility,
    Inmate,
    InmateStatus,
    Location,
    LocationKind,
    Movement,
    MovementKind,
    MovementStatus,
)
from custody.models.movements import OPEN_MOVEMENT_STATUSES
from custody.models.records import PLACEMENT_KINDS
from custody.roles import SUPERVISING_ROLES
from custody.services.capacity import place_reserve
from custody.services.departure_rules import (
    absence_limit_problem,
    emergency_reason_checked,
    refuse_frozen,
    unit_freezes,
)
from custody.services.inmates import next_due_after
from custody.services.ledger import ledger_append
from custody.services.placement import (
    assignment_close,
    assignment_open,
    inmate_subject,
    movement_event_data,
)

K, S = MovementKind, MovementStatus

# Out for a while, back to the same cell.
OUT_KINDS = frozenset({K.COURT, K.MEDICAL, K.TEMPORARY_RELEASE})
# Only someone in custody may be moved, sent out or released.
FROM_CUSTODY_KINDS = frozenset({K.CELL_MOVE, K.TRANSFER, K.RELEASE, *OUT_KINDS})
# Who may be brought (back) into custody by each kind.
INTO_CUSTODY_FROM = {
    K.ADMISSION: frozenset({InmateStatus.RELEASED}),
    K.RETURN: frozenset({InmateStatus.MISSING, InmateStatus.ESCAPED}),
}
# Invariant 7: the approver is never the requester.
MAKER_CHECKER_KINDS = frozenset(DEPARTURE_KINDS)
# Kinds whose to_location (a cell) is fixed at request.
TO_CELL_KINDS = frozenset({K.CELL_MOVE, K.ADMISSION, K.RETURN})

# The status each step starts from, per kind; a missing entry: no such step.
STEP_FROM = {
    "approve": {kind: (S.REQUESTED,) for kind in K.values},
    "cancel": {kind: (S.REQUESTED, S.APPROVED) for kind in K.values},
    "depart": {kind: (S.APPROVED,) for kind in (*OUT_KINDS, K.TRANSFER, K.RELEASE)},
    "arrive": {
        **{kind: (S.DEPARTED,) for kind in (*OUT_KINDS, K.TRANSFER)},
        **{kind: (S.APPROVED,) for kind in TO_CELL_KINDS},
    },
}
# An emergency medical movement may leave before its approval, and be
# approved after it left (or came back).
EMERGENCY_STEP_FROM = {
    **STEP_FROM,
    "approve": {K.MEDICAL: (S.REQUESTED, S.DEPARTED, S.COMPLETED)},
    "depart": {K.MEDICAL: (S.REQUESTED, S.APPROVED)},
}
STEP_LABELS = {
    "approve": gettext_lazy("approval"),
    "cancel": gettext_lazy("cancellation"),
    "depart": gettext_lazy("departure"),
    "arrive": gettext_lazy("arrival"),
}


# --- Request -----------------------------------------------------------------


@transaction.atomic
def movement_request(
    *,
    inmate: Inmate,
    kind: str,
    by,
    to_location: Location | str | None = None,
    to_facility: Facility | str | None = None,
    destination: str = "",
    reason: str = "",
    expected_back_at=None,
    expected_arrival_at=None,
    emergency: bool = False,
    emergency_reason: str = "",
) -> Movement:
    """Opens a movement for ``inmate``: one open movement per person at a time.

    Moves, transfers, outings and releases are for people in custody;
    ``admission`` re-admits someone released, ``return`` brings back someone
    missing or escaped. Outings need ``expected_back_at``; a transfer needs
    another facility and ``expected_arrival_at``; a cell move, admission or
    return needs the cell (``to_location``) in the person's facility.

    A transfer's destination may be given as codes (the API does): they are
    looked up last, once every other check has passed, so that whether
    another facility's code or cell exists is learnt only by a request that is
    recorded, never by a refusal that leaves no trace.

    ``emergency`` (medical only, with ``emergency_reason``) lets the person
    leave before a second officer approves.
    """
    _lock_inmate(inmate)
    require_movement_officer(by, inmate.facility)
    now = timezone.now()
    if kind == K.INTERNAL:
        raise ValidationError(
            {
                "kind": _(
                    "An internal movement is sent, not requested: use "
                    "/api/v1/internal-movements/ or a unit session."
                )
            }
        )
    open_movement = inmate.movements.filter(status__in=OPEN_MOVEMENT_STATUSES).first()
    if open_movement is not None and emergency and _is_internal_out(open_movement):
        # An emergency from the yard or the infirmary does not wait for the
        # person to be seen back in their cell: the outing takes over.
        open_movement = _internal_superseded(open_movement, by=by, inmate=inmate, now=now)
    if open_movement is not None:
        raise Conflict(
            _("%(booking)s already has an open movement (%(kind)s, %(status)s).")
            % {
                "booking": inmate.booking_number,
                "kind": open_movement.get_kind_display().lower(),
                "status": open_movement.get_status_display().lower(),
            }
        )
    _check_inmate_can_start(inmate, kind)
    fields = {
        "inmate": inmate,
        "kind": kind,
        "now": now,
        "expected_back_at": expected_back_at,
        "expected_arrival_at": expected_arrival_at,
    }
    _check_request_fields(to_location=to_location, to_facility=to_facility, **fields)
    emergency_reason = emergency_reason_checked(kind, emergency, emergency_reason)
    if isinstance(to_facility, str) or isinstance(to_location, str):
        to_facility, to_location = _destination(to_facility, to_location)
        _check_request_fields(to_location=to_location, to_facility=to_facility, **fields)
    movement = Movement.objects.create(
        inmate=inmate,
        facility=inmate.facility,
        kind=kind,
        status=S.REQUESTED,
        from_location=inmate.cell,
        to_location=to_location,
        to_facility=to_facility,
        destination=destination,
        reason=reason,
        expected_back_at=expected_back_at,
        expected_arrival_at=expected_arrival_at,
        requested_by=by,
        requested_at=now,
        emergency=emergency,
        emergency_reason=emergency_reason,
    )
    _record(movement, by=by, reason=reason)
    return movement


def _is_internal_out(movement: Movement) -> bool:
    return movement.kind == K.INTERNAL and movement.status == S.DEPARTED


def _internal_superseded(movement: Movement, *, by, inmate: Inmate, now) -> None:
    """Completes an internal movement an emergency takes over (the inmate's
    row is locked); recorded, with who and why."""
    Movement.objects.filter(pk=movement.pk).select_for_update().get()
    movement.status = S.COMPLETED
    movement.completed_by, movement.completed_at = by, now
    movement.paired_observation = {"superseded_by": "emergency"}
    movement.save(update_fields=["status", "completed_by", "completed_at", "paired_observation"])
    _record(movement, by=by, inmate=inmate, superseded_by="emergency")
    return None


def _check_inmate_can_start(inmate: Inmate, kind: str) -> None:
    if kind in FROM_CUSTODY_KINDS:
        allowed = {InmateStatus.IN_CUSTODY}
    elif kind in INTO_CUSTODY_FROM:
        allowed = INTO_CUSTODY_FROM[kind]
    else:
        raise ValidationError({"kind": _("Unknown movement kind.")})
    if inmate.status not in allowed:
        raise Conflict(
            _("%(booking)s is %(status)s: a %(kind)s movement is not possible.")
            % {
                "booking": inmate.booking_number,
                "status": inmate.get_status_display().lower(),
                "kind": MovementKind(kind).label.lower(),
            }
        )


def _check_request_fields(
    *, inmate, kind, now, to_location, to_facility, expected_back_at, expected_arrival_at
) -> None:
    """Each kind takes exactly the fields it uses: a stray field is a mistake
    the requester should hear about, not data silently kept."""
    errors = {}
    required = {
        "to_location": kind in TO_CELL_KINDS,
        "to_facility": kind == K.TRANSFER,
        "expected_back_at": kind in OUT_KINDS,
        "expected_arrival_at": kind == K.TRANSFER,
    }
    given = {
        "to_location": to_location,
        "to_facility": to_facility,
        "expected_back_at": expected_back_at,
        "expected_arrival_at": expected_arrival_at,
    }
    # A transfer may name the destination cell in advance; an outing may name
    # a place inside the walls (the infirmary), where being seen is expected.
    optional = {"to_location"} if kind == K.TRANSFER or kind in OUT_KINDS else set()
    for field, needed in required.items():
        if needed and given[field] is None:
            errors[field] = _("Required for this kind of movement.")
        elif not needed and field not in optional and given[field] is not None:
            errors[field] = _("Not used by this kind of movement; leave it out.")
    for field in ("expected_back_at", "expected_arrival_at"):
        if given[field] is not None and field not in errors and given[field] <= now:
            errors[field] = _("Give a time in the future.")
    if kind in OUT_KINDS and "expected_back_at" not in errors:
        problem = absence_limit_problem(
            facility=inmate.facility, kind=kind, since=now, until=expected_back_at
        )
        if problem:
            errors["expected_back_at"] = problem
    if not isinstance(to_location, Location) or isinstance(to_facility, str):
        to_location = None  # a destination still in codes is checked once looked up
    if isinstance(to_facility, Facility) and to_facility.pk == inmate.facility_id:
        errors.setdefault("to_facility", _("A transfer goes to another facility."))
    if to_location is not None and "to_location" not in errors and kind in OUT_KINDS:
        if to_location.facility_id != inmate.facility_id:
            errors["to_location"] = _("The place must be in the person's facility.")
    elif to_location is not None and "to_location" not in errors:
        where = to_facility if kind == K.TRANSFER and to_facility else inmate.facility
        problem = _cell_problem(to_location, where)
        if problem is None and kind == K.CELL_MOVE and to_location.pk == inmate.cell_id:
            problem = _("The person is already in this cell.")
        if problem is None and kind == K.CELL_MOVE and to_location.kind != LocationKind.CELL:
            problem = _("A move goes to a cell; reception is for admissions.")
        if problem:
            errors["to_location"] = problem
    if errors:
        raise ValidationError(errors)


def _destination(to_facility, to_location) -> tuple[Facility, Location | None]:
    """A transfer's destination codes as records (only other checks passed)."""
    if isinstance(to_facility, str):
        found = Facility.objects.filter(code=to_facility).first()
        if found is None:
            raise ValidationError(
                {"to_facility": _("No facility with code %(code)s.") % {"code": to_facility}}
            )
        to_facility = found
    if isinstance(to_location, str):
        cell = Location.objects.filter(
            facility=to_facility, code=to_location, kind__in=PLACEMENT_KINDS
        ).first()
        if cell is None:
            raise ValidationError(
                {
                    "to_location": _("No cell with code %(code)s in facility %(facility)s.")
                    % {"code": to_location, "facility": to_facility.code}
                }
            )
        to_location = cell
    return to_facility, to_location


# --- Approve, cancel -----------------------------------------------------------


@transaction.atomic
def movement_approve(*, movement: Movement, by) -> Movement:
    """A supervisor or administrator of the facility approves a requested
    movement; for every departure (court, medical, temporary release,
    release, transfer) it must be someone other than the requester
    (invariant 7, backed by the database). An emergency medical movement
    that already left is approved afterwards, by someone who neither asked
    for it nor let the person out; its status stays as it is."""
    inmate = _lock(movement, "approve")
    require_movement_officer(by, movement.facility)
    if movement.kind in MAKER_CHECKER_KINDS and movement.requested_by_id == by.pk:
        raise PermissionDenied(
            _("A departure needs a second officer: the person who requested it cannot approve it.")
        )
    after_leaving = movement.status != S.REQUESTED
    if after_leaving and movement.approved_by_id is not None:
        raise Conflict(
            _("Movement %(id)s is already approved (by %(user)s).")
            % {"id": movement.pk, "user": movement.approved_by.username}
        )
    if after_leaving and movement.departed_by_id == by.pk:
        raise PermissionDenied(
            _(
                "An emergency departure needs a second officer: the person who let them "
                "out cannot approve it."
            )
        )
    movement.approved_by, movement.approved_at = by, timezone.now()
    if after_leaving:
        movement.save(update_fields=["approved_by", "approved_at"])
        late = movement.approved_at - movement.departed_at
        _record(
            movement,
            by=by,
            inmate=inmate,
            action="movement.emergency_approved",
            approved_after_seconds=int(late.total_seconds()),
        )
        return movement
    movement.status = S.APPROVED
    movement.save(update_fields=["status", "approved_by", "approved_at"])
    _record(movement, by=by, inmate=inmate)
    return movement


@transaction.atomic
def movement_cancel(*, movement: Movement, by, reason: str = "") -> Movement:
    """Withdraws a movement nobody has acted on yet (requested or approved).
    Once the person has left, only their arrival closes it."""
    inmate = _lock(movement, "cancel")
    require_movement_officer(by, movement.facility)
    movement.status = S.CANCELLED
    movement.cancelled_by, movement.cancelled_at = by, timezone.now()
    movement.cancel_reason = reason
    movement.save(update_fields=["status", "cancelled_by", "cancelled_at", "cancel_reason"])
    _record(movement, by=by, inmate=inmate, reason=reason)
    return movement


# --- Depart ------------------------------------------------------------------


@transaction.atomic
def movement_depart(*, movement: Movement, by) -> Movement:
    """The person leaves through the gate.

    Court, medical and temporary release: out_authorized, cell kept (they
    come back to it), no check-in deadline while away; ``expected_back_at``
    is watched instead. Transfer: in_transit, counted by neither facility,
    cell given up. Release: the movement completes, the person is released.
    """
    inmate = _lock(movement, "depart")
    require_movement_officer(by, movement.facility)
    _require_inmate_status(inmate, InmateStatus.IN_CUSTODY)
    now = timezone.now()
    extra = {}
    freezes = unit_freezes(movement.facility, [inmate.cell_id], now)
    if freezes and movement.emergency:
        # An emergency does not wait for a count; the override is on the record.
        extra["count_freeze_overridden"] = [f.as_data() for f in freezes]
    elif freezes:
        refuse_frozen(freezes[0], movement.facility)
    if movement.status == S.REQUESTED:
        extra["unapproved"] = True  # an emergency left on one officer's word
    movement.departed_by, movement.departed_at = by, now
    inmate.next_due_at = None
    if movement.kind in OUT_KINDS:
        movement.status = S.DEPARTED
        inmate.status = InmateStatus.OUT_AUTHORIZED
    else:
        assignment_close(inmate=inmate, at=now, movement=movement)
        inmate.cell = None
        if movement.kind == K.TRANSFER:
            movement.status = S.DEPARTED
            inmate.status = InmateStatus.IN_TRANSIT
        else:  # release: leaving is the whole of it
            movement.status = S.COMPLETED
            movement.completed_by, movement.completed_at = by, now
            inmate.status = InmateStatus.RELEASED
    movement.save()
    inmate.save(update_fields=["status", "cell", "next_due_at", "updated_at"])
    _record(movement, by=by, inmate=inmate, **extra)
    return movement


# --- Arrive ------------------------------------------------------------------


@transaction.atomic
def movement_arrive(*, movement: Movement, by, cell: Location | None = None) -> Movement:
    """The person arrives and the movement completes; they are in custody.

    Back from an outing: their own cell, seen at the gate, a new deadline.
    Transfer: recorded by an officer of the destination, into ``cell`` (or
    the cell named at request), now counted by the destination. Cell move,
    admission and return: into the approved cell.
    """
    inmate = _lock(movement, "arrive")
    arriving_at = movement.to_facility if movement.kind == K.TRANSFER else movement.facility
    require_movement_officer(by, arriving_at)
    target = _arrival_cell(movement, inmate, cell)
    now = timezone.now()
    touched = [target.pk] + ([inmate.cell_id] if movement.kind == K.CELL_MOVE else [])
    freezes = unit_freezes(arriving_at, touched, now)
    if freezes:
        refuse_frozen(freezes[0], arriving_at)
    if movement.kind in OUT_KINDS:
        _require_inmate_status(inmate, InmateStatus.OUT_AUTHORIZED)
    elif movement.kind == K.TRANSFER:
        _require_inmate_status(inmate, InmateStatus.IN_TRANSIT)
        inmate.facility = arriving_at
    elif movement.kind == K.CELL_MOVE:
        _require_inmate_status(inmate, InmateStatus.IN_CUSTODY)
    else:
        _check_inmate_can_start(inmate, movement.kind)
        if movement.kind == K.ADMISSION:
            inmate.admitted_at = now
    if target.pk != inmate.cell_id:
        # Locked and counted here, after the person's row: the last bed goes once.
        place_reserve(place=target, inmate_id=inmate.pk)
        assignment_close(inmate=inmate, at=now, movement=movement)
        assignment_open(inmate=inmate, cell=target, at=now, movement=movement)
    if movement.kind != K.CELL_MOVE:
        # Seen at the gate: the observation schedule starts again from here.
        inmate.last_seen_at = now
        inmate.next_due_at = next_due_after(
            facility=arriving_at, security_level=inmate.security_level, seen_at=now
        )
    inmate.cell, inmate.status = target, InmateStatus.IN_CUSTODY
    if movement.kind == K.TRANSFER:
        movement.to_location = target  # the destination may decide the cell only now
    movement.status = S.COMPLETED
    movement.completed_by, movement.completed_at = by, now
    movement.save()
    inmate.save()
    _record(movement, by=by, inmate=inmate, facility=arriving_at)
    return movement


def _arrival_cell(movement: Movement, inmate: Inmate, cell: Location | None) -> Location:
    if movement.kind in OUT_KINDS:
        target, fixed = inmate.cell, True
    elif movement.kind == K.TRANSFER:
        # The destination decides the cell; the one named at request is a default.
        target, fixed = cell or movement.to_location, False
    else:
        target, fixed = movement.to_location, True
    if target is None:
        raise ValidationError({"cell": _("Name the cell the person arrives in.")})
    if fixed and cell is not None and cell.pk != target.pk:
        raise ValidationError(
            {"cell": _("This movement goes to cell %(code)s.") % {"code": target.code}}
        )
    where = movement.to_facility if movement.kind == K.TRANSFER else movement.facility
    problem = _cell_problem(target, where)
    if problem:
        raise ValidationError({"cell": problem})
    return target


# --- Shared checks -------------------------------------------------------------


def _lock_inmate(inmate: Inmate) -> None:
    inmate.refresh_from_db(from_queryset=Inmate.objects.select_for_update())


def _lock(movement: Movement, step: str) -> Inmate:
    """Locks the inmate, then the movement (one order everywhere), re-reads
    both and checks that ``step`` is allowed from the movement's status."""
    inmate = (
        Inmate.objects.select_for_update(of=("self",))
        .select_related("facility", "cell")
        .get(pk=movement.inmate_id)
    )
    movement.refresh_from_db(from_queryset=Movement.objects.select_for_update())
    movement.inmate = inmate
    table = EMERGENCY_STEP_FROM if movement.emergency else STEP_FROM
    allowed = table[step].get(movement.kind)
    names = {
        "id": movement.pk,
        "kind": movement.get_kind_display().lower(),
        "status": movement.get_status_display().lower(),
        "step": STEP_LABELS[step],
    }
    if allowed is None:
        raise Conflict(
            _("Movement %(id)s (%(kind)s) is %(status)s; this kind has no %(step)s.") % names
        )
    if movement.status not in allowed:
        raise Conflict(
            _("Movement %(id)s (%(kind)s) is %(status)s; its %(step)s is not possible now.") % names
        )
    return inmate


def require_movement_officer(user, facility: Facility) -> None:
    if user is None or not getattr(user, "is_authenticated", False):
        raise PermissionDenied(_("Movements are recorded by a signed-in officer."))
    if user.role not in SUPERVISING_ROLES:
        raise PermissionDenied(_("Only a supervisor or an administrator may do this."))
    if facility.pk not in selectors.visible_facility_ids(user):
        raise PermissionDenied(
            _("You are not assigned to facility %(facility)s.") % {"facility": facility.code}
        )


def _require_inmate_status(inmate: Inmate, status: str) -> None:
    if inmate.status != status:
        raise Conflict(
            _("%(booking)s is %(status)s, not %(expected)s.")
            % {
                "booking": inmate.booking_number,
                "status": inmate.get_status_display().lower(),
                "expected": InmateStatus(status).label.lower(),
            }
        )


def _cell_problem(location: Location, facility: Facility) -> str | None:
    if location.facility_id != facility.pk:
        return _("The cell must be in facility %(facility)s.") % {"facility": facility.code}
    if location.kind not in PLACEMENT_KINDS:
        return _("%(code)s is neither a cell nor reception.") % {"code": location.code}
    return None


def _record(
    movement: Movement,
    *,
    by,
    inmate: Inmate | None = None,
    facility=None,
    action: str | None = None,
    **extra,
):
    """Appends ``movement.<status>`` (or ``action``) to the chain of the
    facility where it happened (a transfer's arrival: the destination's)."""
    inmate = inmate or movement.inmate
    extra = {key: value for key, value in extra.items() if value}
    ledger_append(
        facility=facility or movement.facility,
        actor=by,
        action=action or f"movement.{movement.status}",
        subject=inmate_subject(inmate),
        data=movement_event_data(movement, **extra),
    )


ABSENT_STATUSES = (InmateStatus.MISSING, InmateStatus.ESCAPED)


@transaction.atomic
def inmate_declare_absent(*, inmate: Inmate, status: str, by, reason: str) -> Inmate:
    """A supervisor records that a person in custody is not there: missing
    (being searched for) or escaped. They leave the schedule (no more
    missed check-ins) but stay expected and unaccounted in the headcount, in
    their cell's unit, until a ``return`` movement brings them back."""
    if status not in ABSENT_STATUSES:
        raise ValidationError({"status": _("Declare a person missing or escaped.")})
    if not (reason or "").strip():
        raise ValidationError({"reason": _("Say why.")})
    inmate.refresh_from_db(
        from_queryset=Inmate.objects.select_for_update().select_related("facility")
    )
    require_movement_officer(by, inmate.facility)
    _require_inmate_status(inmate, InmateStatus.IN_CUSTODY)
    inmate.status = status
    inmate.save(update_fields=["status", "updated_at"])
    ledger_append(
        facility=inmate.facility,
        actor=by,
        action=f"inmate.declared_{status}",
        subject=inmate_subject(inmate),
        data={
            "status": status,
            "cell": inmate.cell.code if inmate.cell_id else None,
            "last_seen_at": inmate.last_seen_at,
            "reason": reason.strip(),
        },
    )
    return inmate
