"""Who may act: devices with their keys, users with their role and facilities."""

import secrets

from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from knox.models import AuthToken

from custody.models import (
    DEVICE_KEY_PREFIX,
    Device,
    Facility,
    Location,
    Role,
    User,
    hash_device_key,
)


def role_groups_ensure() -> dict[str, Group]:
    """The four roles exist as Django groups (API.md: roles are groups)."""
    return {role: Group.objects.get_or_create(name=role)[0] for role in Role.values}


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
    user = User(username=username, email=email, **extra)
    return _save_access(user, password=password, facilities=facilities, role=role)


@transaction.atomic
def user_reset(*, user: User, role: str, password: str, facilities) -> User:
    """An operator at the console (management commands) sets a user's role,
    password and facilities outright and reactivates them. No admin's scope
    applies, so no other facility assignment is kept."""
    user.is_active = True
    return _save_access(user, password=password, facilities=facilities, role=role)


def _save_access(user: User, *, password: str, facilities, role: str) -> User:
    if not facilities:
        raise ValidationError({"facilities": _("Assign at least one facility.")})
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
    if user.is_superuser and not by.is_superuser:
        # A facility admin must never take over a national account.
        raise PermissionDenied(_("Only a superuser can change a superuser."))
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
    if password or not user.is_active:
        # A new password or a disabled account ends every signed-in tablet.
        AuthToken.objects.filter(user=user).delete()
    if facilities is not None:
        kept = [] if by.is_superuser else list(user.facilities.exclude(users=by))
        new = set(facilities) | set(kept)
        if not new:
            raise ValidationError({"facilities": _("Assign at least one facility.")})
        user.facilities.set(new)
    if role is not None:
        _set_role(user, role)
    return user
