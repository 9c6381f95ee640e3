"""Facilities and their location tree."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from custody.models import PLACEMENT_KINDS, Facility, Location, User
from custody.services.inmates import inmates_tighten_deadlines
from custody.services.ledger import ledger_append, ledger_append_changes
from custody.services.rounds_schedule import rescheduled, rounds_tighten_deadlines, stricter

# --- Facilities ------------------------------------------------------------


@transaction.atomic
def facility_create(*, by: User | None = None, **fields) -> Facility:
    """A new facility; a non-superuser admin who creates it is assigned to it.
    Its ledger chain starts with the facility's own settings."""
    facility = Facility(**fields)
    facility.full_clean()
    facility.save()
    if by is not None and not by.is_superuser:
        by.facilities.add(facility)
        by.__dict__.pop("_visible_facility_ids", None)
    _facility_ledger(facility, by=by, action="facility.created", data=_facility_state(facility))
    return facility


@transaction.atomic
def facility_update(*, facility: Facility, by: User | None = None, **fields) -> Facility:
    """Check intervals and grace decide when an alert fires, so every change
    to them is on the facility's ledger, with the old and new values."""
    if "code" in fields and fields["code"] != facility.code:
        # Devices and tablets refer to facilities by code; renaming breaks them.
        raise ValidationError({"code": _("A facility's code cannot change.")})
    before = _facility_state(facility)
    for name, value in fields.items():
        setattr(facility, name, value)
    facility.full_clean()
    facility.save()
    if facility.check_interval_seconds != before["check_interval_seconds"]:
        inmates_tighten_deadlines(facility=facility)
    if facility.round_intervals != before["round_intervals"]:
        rounds_tighten_deadlines(facility=facility)
    ledger_append_changes(
        facility=facility,
        actor=by,
        action="facility.updated",
        subject=f"facility:{facility.code}",
        before=before,
        after=_facility_state(facility),
    )
    return facility


def _facility_state(facility: Facility) -> dict:
    return {
        "name": facility.name,
        "timezone": facility.timezone,
        "check_interval_seconds": dict(facility.check_interval_seconds),
        "grace_seconds": facility.grace_seconds,
        "identity_window_seconds": facility.identity_window_seconds,
        "max_absence_seconds": dict(facility.max_absence_seconds),
        "count_freeze_seconds": facility.count_freeze_seconds,
        "recount_sample_percent": facility.recount_sample_percent,
        "internal_movement_max_seconds": facility.internal_movement_max_seconds,
        "round_intervals": dict(facility.round_intervals),
        "round_grace_seconds": facility.round_grace_seconds,
        "round_min_spread_percent": facility.round_min_spread_percent,
        "reception_deadline_seconds": facility.reception_deadline_seconds,
    }


def _facility_ledger(facility: Facility, *, by, action: str, data: dict) -> None:
    ledger_append(
        facility=facility, actor=by, action=action, subject=f"facility:{facility.code}", data=data
    )


# --- Locations -------------------------------------------------------------


def _check_location_parent(*, facility: Facility, parent: Location | None, location=None):
    if parent is None:
        return
    if parent.facility_id != facility.pk:
        raise ValidationError({"parent": _("The parent must be in the same facility.")})
    if parent.kind in PLACEMENT_KINDS:
        raise ValidationError(
            {"parent": _("A cell or reception area cannot contain other locations.")}
        )
    node = parent
    while node is not None and location is not None:
        if node.pk == location.pk:
            raise ValidationError({"parent": _("A location cannot be inside itself.")})
        node = node.parent


@transaction.atomic
def location_create(*, facility: Facility, by: User | None = None, **fields) -> Location:
    """Codes are unique inside a facility; a parent lives in the same facility."""
    location = Location(facility=facility, **fields)
    _check_location_parent(facility=facility, parent=location.parent)
    location.full_clean()
    location.save()
    _location_ledger(location, by=by, action="location.created", data=_location_state(location))
    return location


@transaction.atomic
def location_update(*, location: Location, by: User | None = None, **fields) -> Location:
    """A location stays in its facility; what changed goes on that facility's ledger."""
    before = _location_state(location)
    if "facility" in fields and fields["facility"].pk != location.facility_id:
        raise ValidationError({"facility": _("A location cannot move to another facility.")})
    fields.pop("facility", None)
    new_kind = fields.get("kind", location.kind)
    if new_kind != location.kind and location.inmates.exists():
        # Their place would change meaning under them (cell to reception too).
        raise ValidationError({"kind": _("People are assigned here; its kind cannot change.")})
    for name, value in fields.items():
        setattr(location, name, value)
    if location.capacity is None or (location.usable_capacity or 0) <= location.capacity:
        location.over_capacity_reason = ""  # no override stands any more
    _check_location_parent(facility=location.facility, parent=location.parent, location=location)
    location.full_clean()
    if location.watch_level != before["watch_level"] and location.round_deadline_at is not None:
        location.next_round_due_at, location.round_deadline_at = rescheduled(
            facility=location.facility,
            level=location.watch_level,
            last_round_at=location.last_round_at,
            due=location.next_round_due_at,
            deadline=location.round_deadline_at,
            now=timezone.now(),
            tighten=stricter(location.watch_level, before["watch_level"]),
        )
    location.save()
    ledger_append_changes(
        facility=location.facility,
        actor=by,
        action="location.updated",
        subject=f"location:{location.code}",
        before=before,
        after=_location_state(location),
    )
    return location


def _location_state(location: Location) -> dict:
    # The code is here too: a renamed location stays traceable from its old subject.
    return {
        "code": location.code,
        "name": location.name,
        "kind": location.kind,
        "parent": location.parent.code if location.parent_id else None,
        "capacity": location.capacity,
        "watch_level": location.watch_level,
        "operational_capacity": location.operational_capacity,
        "over_capacity_reason": location.over_capacity_reason,
    }


def _location_ledger(location: Location, *, by, action: str, data: dict) -> None:
    ledger_append(
        facility=location.facility,
        actor=by,
        action=action,
        subject=f"location:{location.code}",
        data=data,
    )
