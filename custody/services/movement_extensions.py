"""Extensions of an outing's return: a later ``expected_back_at`` asked by
one officer and applied only when a second one approves (invariant 7).

Until the approval the ``overdue_return`` deadline stays where it was, so
one officer alone can never push a person's return away. Each extension is
at most the facility's ``max_absence_seconds`` for the kind after it is
asked; a longer stay is a chain of extensions, each approved by someone
else. Every step is a ledger event on the person's chain.
"""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from custody.exceptions import Conflict
from custody.models import ExtensionStatus, Inmate, Movement, MovementExtension, MovementStatus
from custody.services.departure_rules import absence_limit_problem
from custody.services.ledger import ledger_append
from custody.services.movements import OUT_KINDS, require_movement_officer
from custody.services.placement import inmate_subject

REASON_MIN = 5


def _lock(movement: Movement) -> Movement:
    """The inmate, then the movement: the order every movement step keeps."""
    inmate = Inmate.objects.select_for_update(of=("self",)).get(pk=movement.inmate_id)
    movement = (
        Movement.objects.select_for_update(of=("self",))
        .select_related("facility", "inmate")
        .get(pk=movement.pk)
    )
    movement.inmate = inmate
    return movement


@transaction.atomic
def extension_request(
    *, movement: Movement, by, expected_back_at, reason: str
) -> MovementExtension:
    """Asks for a later return of a departed outing; nothing changes until
    another officer approves. One pending extension per movement."""
    movement = _lock(movement)
    require_movement_officer(by, movement.facility)
    if movement.kind not in OUT_KINDS or movement.status != MovementStatus.DEPARTED:
        raise Conflict(
            _("Movement %(id)s (%(kind)s, %(status)s): only a departed outing is extended.")
            % {
                "id": movement.pk,
                "kind": movement.get_kind_display().lower(),
                "status": movement.get_status_display().lower(),
            }
        )
    reason = (reason or "").strip()
    now = timezone.now()
    errors = {}
    if len(reason) < REASON_MIN:
        errors["reason"] = _("Say why the return is later (at least 5 characters).")
    if expected_back_at is None:
        errors["expected_back_at"] = _("Required.")
    elif expected_back_at <= max(now, movement.expected_back_at):
        errors["expected_back_at"] = _("Give a time later than the current expected return.")
    else:
        problem = absence_limit_problem(
            facility=movement.facility, kind=movement.kind, since=now, until=expected_back_at
        )
        if problem:
            errors["expected_back_at"] = problem
    if errors:
        raise ValidationError(errors)
    extension = MovementExtension(
        movement=movement,
        previous_expected_back_at=movement.expected_back_at,
        expected_back_at=expected_back_at,
        reason=reason,
        requested_by=by,
        requested_at=now,
    )
    try:
        with transaction.atomic():
            extension.save()
    except IntegrityError:
        raise Conflict(
            _("Movement %(id)s already has an extension waiting for approval.")
            % {"id": movement.pk}
        ) from None
    _record(extension, by=by, action="movement.extension_requested")
    return extension


@transaction.atomic
def extension_approve(*, extension: MovementExtension, by) -> MovementExtension:
    """A second officer (never the one who asked) applies the extension: the
    movement's ``expected_back_at``, and with it the overdue deadline, moves."""
    extension, movement = _lock_extension(extension)
    require_movement_officer(by, movement.facility)
    if extension.requested_by_id == by.pk:
        raise PermissionDenied(
            _("An extension needs a second officer: the person who asked for it cannot approve it.")
        )
    if movement.status != MovementStatus.DEPARTED:
        raise Conflict(
            _("Movement %(id)s is %(status)s: there is no return left to extend.")
            % {"id": movement.pk, "status": movement.get_status_display().lower()}
        )
    now = timezone.now()
    extension.status = ExtensionStatus.APPROVED
    extension.decided_by, extension.decided_at = by, now
    extension.save(update_fields=["status", "decided_by", "decided_at"])
    movement.expected_back_at = extension.expected_back_at
    movement.save(update_fields=["expected_back_at"])
    _record(extension, by=by, action="movement.extension_approved")
    return extension


@transaction.atomic
def extension_reject(*, extension: MovementExtension, by, reason: str = "") -> MovementExtension:
    """Any officer of the facility turns a pending extension down (the one
    who asked withdraws it); the return stays when it was."""
    extension, movement = _lock_extension(extension)
    require_movement_officer(by, movement.facility)
    extension.status = ExtensionStatus.REJECTED
    extension.decided_by, extension.decided_at = by, timezone.now()
    extension.decision_reason = (reason or "").strip()
    extension.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
    _record(extension, by=by, action="movement.extension_rejected")
    return extension


def _lock_extension(extension: MovementExtension):
    movement = _lock(extension.movement)
    extension = MovementExtension.objects.select_for_update().get(pk=extension.pk)
    extension.movement = movement
    if extension.status != ExtensionStatus.PENDING:
        raise Conflict(
            _("Extension %(id)s is already %(status)s.")
            % {"id": extension.pk, "status": extension.get_status_display().lower()}
        )
    return extension, movement


def _record(extension: MovementExtension, *, by, action: str) -> None:
    movement = extension.movement
    data = {
        "movement": movement.pk,
        "extension": extension.pk,
        "kind": movement.kind,
        "status": extension.status,
        "previous_expected_back_at": extension.previous_expected_back_at,
        "expected_back_at": extension.expected_back_at,
        "reason": extension.reason,
        "requested_by": extension.requested_by.username,
    }
    if extension.decision_reason:
        data["decision_reason"] = extension.decision_reason
    ledger_append(
        facility=movement.facility,
        actor=by,
        action=action,
        subject=inmate_subject(movement.inmate),
        data=data,
    )
