"""Writes to the custody record. Each function states the rule it enforces.

Keyword-only arguments, one transaction each; views, admin and commands call
these rather than saving models themselves.
"""

import secrets

from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from custody.models import (
    DEVICE_KEY_PREFIX,
    Device,
    Facility,
    Inmate,
    InmateStatus,
    Location,
    LocationKind,
    Role,
    User,
    hash_device_key,
)


def role_groups_ensure() -> dict[str, Group]:
    """The four roles exist as Django groups (API.md: roles are groups)."""
    return {role: Group.objects.get_or_create(name=role)[0] for role in Role.values}


# --- Facilities ------------------------------------------------------------


@transaction.atomic
def facility_create(*, created_by: User | None = None, **fields) -> Facility:
    """A new facility; a non-superuser admin who creates it is assigned to it."""
    facility = Facility(**fields)
    facility.full_clean()
    facility.save()
    if created_by is not None and not created_by.is_superuser:
        created_by.facilities.add(facility)
        created_by.__dict__.pop("_visible_facility_ids", None)
    return facility


@transaction.atomic
def facility_update(*, facility: Facility, **fields) -> Facility:
    if "code" in fields and fields["code"] != facility.code:
        # Devices and tablets refer to facilities by code; renaming breaks them.
        raise ValidationError({"code": _("A facility's code cannot change.")})
    for name, value in fields.items():
        setattr(facility, name, value)
    facility.full_clean()
    facility.save()
    return facility


# --- Locations -------------------------------------------------------------


def _check_location_parent(*, facility: Facility, parent: Location | None, location=None):
    if parent is None:
        return
    if parent.facility_id != facility.pk:
        raise ValidationError({"parent": _("The parent must be in the same facility.")})
    if parent.kind == LocationKind.CELL:
        raise ValidationError({"parent": _("A cell cannot contain other locations.")})
    node = parent
    while node is not None and location is not None:
        if node.pk == location.pk:
            raise ValidationError({"parent": _("A location cannot be inside itself.")})
        node = node.parent


@transaction.atomic
def location_create(*, facility: Facility, **fields) -> Location:
    """Codes are unique inside a facility; a parent lives in the same facility."""
    location = Location(facility=facility, **fields)
    _check_location_parent(facility=facility, parent=location.parent)
    location.full_clean()
    location.save()
    return location


@transaction.atomic
def location_update(*, location: Location, **fields) -> Location:
    if "facility" in fields and fields["facility"].pk != location.facility_id:
        raise ValidationError({"facility": _("A location cannot move to another facility.")})
    fields.pop("facility", None)
    if fields.get("kind", location.kind) != LocationKind.CELL and location.inmates.exists():
        raise ValidationError({"kind": _("People are assigned here; it must stay a cell.")})
    for name, value in fields.items():
        setattr(location, name, value)
    _check_location_parent(facility=location.facility, parent=location.parent, location=location)
    location.full_clean()
    location.save()
    return location


# --- Inmates ---------------------------------------------------------------


def next_due_after(*, facility: Facility, security_level: str, seen_at):
    """When the next positive observation is due after someone was seen.

    Admission counts as being seen: the booking officer has the person in
    front of them, so the first deadline is one interval after admission.
    """
    return seen_at + facility.check_interval(security_level)


def _check_cell(*, facility: Facility, cell: Location | None, status: str):
    if cell is not None:
        if cell.facility_id != facility.pk:
            raise ValidationError({"cell": _("The cell must be in the inmate's facility.")})
        if cell.kind != LocationKind.CELL:
            raise ValidationError({"cell": _("%(code)s is not a cell.") % {"code": cell.code}})
    elif status == InmateStatus.IN_CUSTODY:
        raise ValidationError({"cell": _("A person in custody must be assigned to a cell.")})


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
    _check_cell(facility=facility, cell=cell, status=InmateStatus.IN_CUSTODY)
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
            _check_cell(facility=facility, cell=inmate.cell, status=inmate.status)
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
    _check_cell(facility=inmate.facility, cell=inmate.cell, status=inmate.status)
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


# --- Devices ---------------------------------------------------------------


def _new_device_key() -> str:
    return DEVICE_KEY_PREFIX + secrets.token_urlsafe(32)


@transaction.atomic
def device_create(
    *,
    facility: Facility,
    name: str,
    kind: str,
    location: Location | None = None,
    is_active: bool = True,
) -> tuple[Device, str]:
    """A device belongs to one facility; its key is returned once, stored hashed."""
    if location is not None and location.facility_id != facility.pk:
        raise ValidationError({"location": _("The location must be in the device's facility.")})
    key = _new_device_key()
    device = Device(
        facility=facility,
        name=name,
        kind=kind,
        location=location,
        key_hash=hash_device_key(key),
        key_prefix=key[:10],
        is_active=is_active,
    )
    device.full_clean()
    device.save()
    return device, key


@transaction.atomic
def device_rotate_key(*, device: Device) -> str:
    """A new key; the old one stops working at once."""
    key = _new_device_key()
    device.key_hash = hash_device_key(key)
    device.key_prefix = key[:10]
    device.save(update_fields=["key_hash", "key_prefix"])
    return key


@transaction.atomic
def device_update(*, device: Device, **fields) -> Device:
    if "facility" in fields and fields["facility"].pk != device.facility_id:
        raise ValidationError({"facility": _("A device cannot move to another facility.")})
    fields.pop("facility", None)
    location = fields.get("location", device.location)
    if location is not None and location.facility_id != device.facility_id:
        raise ValidationError({"location": _("The location must be in the device's facility.")})
    for name, value in fields.items():
        setattr(device, name, value)
    device.full_clean()
    device.save()
    return device


# --- Users -----------------------------------------------------------------


def _set_role(user: User, role: str) -> None:
    groups = role_groups_ensure()
    user.groups.remove(*[g for name, g in groups.items() if name != role])
    user.groups.add(groups[role])
    user.__dict__.pop("_role_cache", None)


@transaction.atomic
def user_create(
    *, username: str, password: str, role: str, facilities, email: str = "", **extra
) -> User:
    """Every user has exactly one role and at least one facility."""
    if not facilities:
        raise ValidationError({"facilities": _("Assign at least one facility.")})
    user = User(username=username, email=email, **extra)
    user.set_password(password)
    user.full_clean(exclude=["password"])
    user.save()
    user.facilities.set(facilities)
    _set_role(user, role)
    return user


@transaction.atomic
def user_reset(*, user: User, role: str, password: str, facilities) -> User:
    """An operator at the console (management commands) sets a user's role,
    password and facilities outright and reactivates them. No admin's scope
    applies, so no other facility assignment is kept."""
    if not facilities:
        raise ValidationError({"facilities": _("Assign at least one facility.")})
    user.is_active = True
    user.set_password(password)
    user.full_clean(exclude=["password"])
    user.save()
    user.facilities.set(facilities)
    _set_role(user, role)
    return user


@transaction.atomic
def user_update(
    *, user: User, by: User, role=None, password=None, facilities=None, **fields
) -> User:
    """An admin changes only the facility assignments they can see themselves;
    assignments to facilities outside their scope are kept as they were.

    Nobody locks themselves out: an admin cannot deactivate their own account
    or drop their own admin role (another admin must do it, on the record).
    """
    if user.pk == by.pk:
        if fields.get("is_active") is False:
            raise ValidationError({"is_active": _("You cannot deactivate your own account.")})
        if role is not None and role != Role.ADMIN and not by.is_superuser:
            raise ValidationError({"role": _("You cannot remove your own admin role.")})
    for name, value in fields.items():
        setattr(user, name, value)
    if password:
        user.set_password(password)
    user.full_clean(exclude=["password"])
    user.save()
    if facilities is not None:
        kept = [] if by.is_superuser else list(user.facilities.exclude(users=by))
        new = set(facilities) | set(kept)
        if not new:
            raise ValidationError({"facilities": _("Assign at least one facility.")})
        user.facilities.set(new)
    if role is not None:
        _set_role(user, role)
    return user
