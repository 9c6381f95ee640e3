"""Changes that weaken surveillance wait for a second officer (invariant 7).

One place answers "is this change weaker?": a registry of change kinds, each
naming how to read the current values of a record, which proposed values
weaken surveillance, and the service that applies them. Every writer (the
API, the pages, the Django admin) submits edits of watched records through
``change_submit``; the rest applies at once as before.

- A change that weakens nothing applies at once (``Outcome.change`` is None).
- A weakening change is stored as a ``PendingChange`` (the old setting holds)
  and a ``change.requested`` ledger event. It is first tried in a savepoint
  and rolled back, so what waits is known to apply, and bad input answers
  400 now, not at approval.
- Another supervisor or administrator of the facility approves it: never its
  author, and never an account the author created, reset or gave a new
  password in the previous ``ACCOUNT_COOLING`` (the author could sign in as
  it). Approval re-reads the record: if the proposed fields no longer hold
  the values they had when proposed, the change is stale (409) and nothing
  happens. Otherwise it applies with ``change.approved`` in one transaction.
- Anyone who may decide can reject it with a reason (its author too: that is
  withdrawing it). A change left undecided for ``PENDING_FOR`` expires.

``custody`` never imports ``alerts``: the alerts app registers its own kinds
from its ``AppConfig.ready()``.
"""

import hashlib
import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from custody.exceptions import Conflict
from custody.models import ChangeStatus, Facility, PendingChange
from custody.roles import SUPERVISING_ROLES
from custody.selectors.records import visible_facility_ids
from custody.services.account_record import account_made_by
from custody.services.ledger import ledger_append

# A proposal nobody decided on is dropped after this long: a week covers a
# weekend and a holiday, and an old proposal must not apply to a world that
# has moved on.
PENDING_FOR = timedelta(days=7)
# An account the author created or reset this recently may be theirs to use.
ACCOUNT_COOLING = timedelta(days=30)
MIN_REASON_LENGTH = 5


def encode_value(value):
    """A JSON value for a field's value: records by primary key, times as text."""
    if isinstance(value, models.Model):
        return value.pk if not isinstance(value.pk, uuid.UUID) else str(value.pk)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, datetime | date):
        return value.isoformat()
    # A copy through JSON: nothing stored shares state with the caller's dicts.
    return json.loads(json.dumps(value, default=str))


@dataclass(frozen=True)
class ChangeKind:
    """How one kind of record is watched.

    ``weakens(target=, before=, after=)`` answers the names of the fields whose
    proposed value (``after``, encoded) weakens surveillance compared with the
    current one (``before``); ``apply(target=, fields=, by=)`` is the service
    that makes the change. The defaults read and decode model fields.
    """

    name: str
    model: type[models.Model]
    weakens: Callable[..., list[str]]
    apply: Callable[..., Any]
    facility_of: Callable[[Any], Facility] = lambda target: target.facility
    label: Callable[[Any], str] = str
    # Reads the record by its stored id, locked for update.
    load: Callable[[str], Any] | None = None
    current: Callable[[Any, Iterable[str]], dict] | None = None
    decode: Callable[[dict], dict] | None = None
    # Never shown or put in the ledger as they are: a short fingerprint only.
    secret_fields: frozenset = frozenset()

    def load_locked(self, target_id):
        if self.load is not None:
            return self.load(target_id)
        return self.model._default_manager.select_for_update().get(pk=target_id)

    def values(self, target, names) -> dict:
        if self.current is not None:
            return self.current(target, names)
        return {name: encode_value(getattr(target, name)) for name in names}

    def shown(self, values: dict) -> dict:
        """``values`` as the ledger and the API may show them."""
        return {
            name: fingerprint(value) if name in self.secret_fields else value
            for name, value in values.items()
        }

    def fields_from(self, proposed: dict) -> dict:
        if self.decode is not None:
            return self.decode(proposed)
        return {name: _decode_field(self.model, name, value) for name, value in proposed.items()}


def fingerprint(secret) -> str:
    return f"sha256:{hashlib.sha256(str(secret).encode()).hexdigest()[:12]}" if secret else ""


def change_shown(change: PendingChange) -> dict:
    """A change's ``baseline`` and ``proposed`` with its kind's secrets fingerprinted."""
    spec = _KINDS.get(change.kind)
    if spec is None:
        return {"baseline": change.baseline, "proposed": change.proposed}
    return {"baseline": spec.shown(change.baseline), "proposed": spec.shown(change.proposed)}


def _decode_field(model, name, value):
    model_field = model._meta.get_field(name)
    if value is None:
        return None
    if model_field.is_relation:
        return model_field.related_model._base_manager.get(pk=value)
    if isinstance(model_field, models.TimeField):
        return time.fromisoformat(value)
    return value


_KINDS: dict[str, ChangeKind] = {}


def change_kind_register(kind: ChangeKind) -> None:
    """Adds a kind (apps call this from ``AppConfig.ready``; again is harmless)."""
    _KINDS[kind.name] = kind


def change_kind(name: str) -> ChangeKind:
    return _KINDS[name]


def change_kinds() -> list[str]:
    return sorted(_KINDS)


@dataclass
class Outcome:
    """What a submitted change did: applied (``target`` is the changed record)
    or waits (``change``; ``target`` is the record as it still is)."""

    target: Any
    change: PendingChange | None = None
    weakened: list[str] = field(default_factory=list)

    @property
    def pending(self) -> bool:
        return self.change is not None


class _DryRun(Exception):
    pass


@transaction.atomic
def change_submit(*, kind: str, target, by, fields: dict, now=None) -> Outcome:
    """Applies ``fields`` to ``target`` at once unless they weaken surveillance;
    then stores them as a pending change that a second officer must approve."""
    spec = change_kind(kind)
    proposed = {name: encode_value(value) for name, value in fields.items()}
    before = spec.values(target, proposed)
    changed = {name: value for name, value in proposed.items() if before.get(name) != value}
    weakened = spec.weakens(target=target, before=before, after=changed) if changed else []
    if not weakened:
        return Outcome(target=spec.apply(target=target, fields=fields, by=by))
    _try_apply(spec, target=target, fields=fields, by=by)
    now = now or timezone.now()
    facility = spec.facility_of(target)
    change = PendingChange.objects.create(
        facility=facility,
        kind=kind,
        target_id=str(encode_value(target)),
        target_label=str(spec.label(target))[:200],
        proposed=changed,
        baseline={name: before.get(name) for name in changed},
        weakened=weakened,
        requested_by=by,
        requested_at=now,
        expires_at=now + PENDING_FOR,
    )
    _record(change, actor=by, action="change.requested", at=now)
    return Outcome(target=target, change=change, weakened=weakened)


def _try_apply(spec: ChangeKind, *, target, fields, by) -> None:
    """Runs the change in a savepoint and rolls it back: its validation (and
    the database's constraints) refuse bad input now, not at approval."""
    try:
        with transaction.atomic():
            spec.apply(target=target, fields=dict(fields), by=by)
            raise _DryRun
    except _DryRun:
        pass
    if isinstance(target, models.Model) and target.pk is not None:
        target.refresh_from_db()


def _require_decider(by, facility: Facility) -> None:
    if facility.pk not in visible_facility_ids(by):
        raise PermissionDenied(_("You are not assigned to this facility."))
    if by.role not in SUPERVISING_ROLES:
        raise PermissionDenied(_("Only a supervisor or an administrator may decide on a change."))


def _lock_pending(change: PendingChange, now) -> PendingChange:
    change = PendingChange.objects.select_for_update().select_related("facility").get(pk=change.pk)
    if change.status != ChangeStatus.PENDING:
        raise Conflict(
            _("This change is already %(status)s.")
            % {"status": change.get_status_display().lower()}
        )
    if change.expires_at <= now:
        raise Conflict(_("This change has expired: propose it again."))
    return change


@transaction.atomic
def change_approve(*, change: PendingChange, by, now=None) -> PendingChange:
    """A second officer of the facility applies a pending change (see the
    module's rules). A refused approval changes nothing."""
    now = now or timezone.now()
    change = _lock_pending(change, now)
    _require_decider(by, change.facility)
    if change.requested_by_id == by.pk:
        raise PermissionDenied(
            _("A change that weakens surveillance needs a second officer: not its author.")
        )
    if account_made_by(author=change.requested_by, account=by, since=now - ACCOUNT_COOLING):
        raise PermissionDenied(
            _(
                "Your account was created or reset by this change's author in the last "
                "30 days: another officer must approve it."
            )
        )
    spec = change_kind(change.kind)
    try:
        target = spec.load_locked(change.target_id)
    except ObjectDoesNotExist:
        raise Conflict(_("The record this change was about no longer exists.")) from None
    if spec.values(target, change.proposed) != change.baseline:
        raise Conflict(
            _("The record has changed since this change was proposed: propose it again.")
        )
    spec.apply(target=target, fields=spec.fields_from(change.proposed), by=by)
    change.status, change.decided_by, change.decided_at = ChangeStatus.APPROVED, by, now
    change.save(update_fields=["status", "decided_by", "decided_at"])
    _record(change, actor=by, action="change.approved", at=now)
    return change


@transaction.atomic
def change_reject(*, change: PendingChange, by, reason: str, now=None) -> PendingChange:
    """Drops a pending change, saying who and why; the old setting stays.
    Its author may withdraw it this way too."""
    now = now or timezone.now()
    reason = (reason or "").strip()
    if len(reason) < MIN_REASON_LENGTH:
        raise ValidationError({"reason": _("Say why the change is rejected.")})
    change = _lock_pending(change, now)
    _require_decider(by, change.facility)
    change.status, change.decided_by, change.decided_at = ChangeStatus.REJECTED, by, now
    change.reason = reason
    change.save(update_fields=["status", "decided_by", "decided_at", "reason"])
    _record(change, actor=by, action="change.rejected", at=now, reason=reason)
    return change


@transaction.atomic
def changes_expire(*, now=None) -> int:
    """Marks every pending change past its time as expired (beat runs it;
    approval refuses an expired change before this pass has run)."""
    now = now or timezone.now()
    due = list(
        PendingChange.objects.select_for_update(skip_locked=True)
        .select_related("facility", "requested_by")
        .filter(status=ChangeStatus.PENDING, expires_at__lte=now)
        .order_by("facility_id", "pk")
    )
    for change in due:
        change.status, change.decided_at = ChangeStatus.EXPIRED, now
        change.save(update_fields=["status", "decided_at"])
        _record(change, actor=None, action="change.expired", at=now)
    return len(due)


def _record(change: PendingChange, *, actor, action: str, at, **extra) -> None:
    ledger_append(
        facility=change.facility,
        actor=actor,
        action=action,
        subject=f"change:{change.pk}",
        data={
            "kind": change.kind,
            "target": change.target_label,
            "requested_by": change.requested_by.username,
            "weakened": change.weakened,
            "from": change_shown(change)["baseline"],
            "to": change_shown(change)["proposed"],
            **extra,
        },
        at=at,
    )
