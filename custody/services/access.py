"""Who may act: devices with their keys, users with their role and facilities."""

import secrets

from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
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
from custody.receivers import ON_RECORD
from custody.services.account_record import national_chain
from custody.services.account_rules import user_change_check
from custody.services.ledger import ledger_append, ledger_append_changes, ledger_changes


def role_groups_ensure() -> dict[str, Group]:
    """The four roles exist as Django groups (docs/api.md: roles are groups)."""
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
    methods: list | None = None,
    by=None,
) -> tuple[Device, str]:
    """A device belongs to one facility; its key is returned once, stored hashed.
    The facility's ledger records the device, never its key (only the prefix)."""
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
        methods=list(methods or []),
    )
    device.full_clean()
    device.save()
    _device_ledger(device, by=by, action="device.created", data=_device_state(device))
    return device, key


@transaction.atomic
def device_rotate_key(*, device: Device, by=None) -> str:
    """A new key; the old one stops working at once. The ledger gets the new
    prefix only: enough to tell keys apart, useless to sign in with."""
    key = _new_device_key()
    device.key_hash = hash_device_key(key)
    device.key_prefix = key[:10]
    device.save(update_fields=["key_hash", "key_prefix"])
    _device_ledger(
        device, by=by, action="device.key_rotated", data={"key_prefix": device.key_prefix}
    )
    return key


@transaction.atomic
def device_update(*, device: Device, by=None, **fields) -> Device:
    """A device stays in its facility; what changed goes on that facility's ledger."""
    before = _device_state(device)
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
    ledger_append_changes(
        facility=device.facility,
        actor=by,
        action="device.updated",
        subject=_device_subject(device),
        before=before,
        after=_device_state(device),
    )
    return device


def _device_state(device: Device) -> dict:
    # What an auditor needs to follow a device; the key hash never goes here.
    return {
        "name": device.name,
        "kind": device.kind,
        "location": device.location.code if device.location_id else None,
        "is_active": device.is_active,
        "methods": list(device.methods or []),
        "key_prefix": device.key_prefix,
    }


def _device_subject(device: Device) -> str:
    return f"device:{device.pk}"


def _device_ledger(device: Device, *, by, action: str, data: dict) -> None:
    ledger_append(
        facility=device.facility,
        actor=by,
        action=action,
        subject=_device_subject(device),
        data=data,
    )


# --- Users -----------------------------------------------------------------


def _set_role(user: User, role: str) -> None:
    groups = role_groups_ensure()
    user.groups.remove(*[g for name, g in groups.items() if name != role])
    user.groups.add(groups[role])
    user.__dict__.pop("_role_cache", None)


@transaction.atomic
def user_create(
    *, username: str, password: str, role: str, facilities, email: str = "", by=None, **extra
) -> User:
    """Every user has exactly one role and at least one facility; each of
    those facilities' ledgers records the new account. An admin (``by``)
    assigns only facilities they administer."""
    if by is not None:
        user_change_check(by=by, user=None, fields=(), facilities=facilities)
    user = User(username=username, email=email, **extra)
    setattr(user, ON_RECORD, True)  # recorded below, with who made it
    _save_access(user, password=password, facilities=facilities, role=role)
    _user_ledger(user, by=by, action="user.created", before=_NO_ACCESS, password_changed=True)
    return user


@transaction.atomic
def user_reset(*, user: User, role: str, password: str, facilities, by=None) -> User:
    """An operator at the console (management commands) sets a user's role,
    password and facilities outright and reactivates them. No admin's scope
    applies, so no other facility assignment is kept."""
    before = _access_state(user)
    user.is_active = True
    _save_access(user, password=password, facilities=facilities, role=role)
    _user_ledger(user, by=by, action="user.reset", before=before, password_changed=True)
    return user


def _save_access(user: User, *, password: str, facilities, role: str) -> User:
    if not facilities:
        raise ValidationError({"facilities": _("Assign at least one facility.")})
    user.set_password(password)
    user.full_clean(exclude=["password"])
    user.save()
    # A new password ends every sign-in made with the old one.
    AuthToken.objects.filter(user=user).delete()
    user.facilities.set(facilities)
    _set_role(user, role)
    return user


@transaction.atomic
def user_update(
    *, user: User, by: User, role=None, password=None, facilities=None, **fields
) -> User:
    """An admin changes the password, role, active status, facilities,
    username or e-mail of an account only when they administer every
    facility it belongs to (``account_rules``); names alone, wherever they
    share a facility. Nobody deactivates or demotes themselves.

    A new password or a deactivation ends every token of the account (and,
    through the session's password hash, every signed-in page). A change of
    role, assignment, activity or password is on the ledger of every chain
    it concerns; a change of name or e-mail alone is not.
    """
    changing = {name for name, value in fields.items() if getattr(user, name) != value}
    if password:
        changing.add("password")
    if role is not None and role != user.role:
        changing.add("role")
    # Compared with what the admin can see of them: sending back the visible
    # part unchanged changes nothing (the rest is kept, unseen).
    seen = set(user.facilities.values_list("pk", flat=True))
    if not by.is_superuser:
        seen &= set(by.facilities.values_list("pk", flat=True))
    if facilities is not None and {f.pk for f in facilities} != seen:
        changing.add("facilities")
    user_change_check(
        by=by,
        user=user,
        fields=changing,
        role=role if "role" in changing else None,
        is_active=fields.get("is_active") if "is_active" in changing else None,
        facilities=facilities if "facilities" in changing else None,
    )
    before = _access_state(user)
    for name, value in fields.items():
        setattr(user, name, value)
    if password:
        user.set_password(password)
    user.full_clean(exclude=["password"])
    user.save()
    if password or not user.is_active:
        # A new password or a disabled account ends every signed-in tablet.
        AuthToken.objects.filter(user=user).delete()
    if "facilities" in changing:
        if not facilities:
            raise ValidationError({"facilities": _("Assign at least one facility.")})
        user.facilities.set(facilities)
    if role is not None:
        _set_role(user, role)
    _user_ledger(user, by=by, action="user.updated", before=before, password_changed=bool(password))
    return user


def user_access_snapshot(user: User | None) -> dict:
    """What the ledger records of a user's access, to compare before and after
    a change made outside these services (the Django admin's own forms)."""
    return _NO_ACCESS if user is None else _access_state(user)


@transaction.atomic
def user_record_change(*, user: User, by, before: dict, password_changed: bool = False) -> None:
    """Appends the ledger event for a change already saved by the admin's
    forms; after a new password, ends every token the account had."""
    action = "user.created" if before is _NO_ACCESS else "user.updated"
    if password_changed or not user.is_active:
        AuthToken.objects.filter(user=user).delete()
    _user_ledger(user, by=by, action=action, before=before, password_changed=password_changed)


# Before a user exists they have no role, no facilities and no account.
_NO_ACCESS = {
    "username": None,
    "role": None,
    "is_active": None,
    "is_superuser": False,
    "facility_ids": frozenset(),
}


def _access_state(user: User) -> dict:
    user.__dict__.pop("_role_cache", None)
    return {
        "username": user.username,
        "role": user.role,
        "is_active": user.is_active,
        "is_superuser": user.is_superuser,
        "facility_ids": frozenset(user.facilities.values_list("pk", flat=True)),
    }


def _national(state: dict) -> bool:
    # The national chain records accounts with no facility, and superusers.
    return state is not _NO_ACCESS and (not state["facility_ids"] or state["is_superuser"])


def _user_ledger(user: User, *, by, action: str, before: dict, password_changed: bool) -> None:
    """One event in every chain that recorded the account before or after the
    change (``account_record.account_chains``), in id order (the lock order
    of ledger heads).

    A facility's chain learns only whether the user is assigned to *that*
    facility: its auditors must not learn a colleague's other assignments.
    The national chain, read by superusers only, names them all.
    """
    after = _access_state(user)
    if action == "user.updated" and after == before and not password_changed:
        return
    ids = before["facility_ids"] | after["facility_ids"]
    chains = list(Facility.objects.filter(pk__in=ids).order_by("pk"))
    codes = {facility.pk: facility.code for facility in chains}
    if _national(before) or _national(after):
        chains = sorted([*chains, national_chain()], key=lambda facility: facility.pk)
    superuser = before["is_superuser"] or after["is_superuser"]
    for chain in chains:
        old, new = (_chain_view(state, chain, codes, superuser) for state in (before, after))
        data = {**new, "password_changed": password_changed}
        if before is not _NO_ACCESS:
            data["changes"] = ledger_changes(old, new)
        ledger_append(
            facility=chain, actor=by, action=action, subject=f"user:{user.username}", data=data
        )


def _chain_view(state: dict, chain: Facility, codes: dict, superuser: bool) -> dict:
    view = {"username": state["username"], "role": state["role"], "is_active": state["is_active"]}
    if superuser or chain.is_national:
        view["is_superuser"] = state["is_superuser"]
    if chain.is_national:
        view["facilities"] = sorted(codes[pk] for pk in state["facility_ids"] if pk in codes)
    else:
        view["assigned"] = chain.pk in state["facility_ids"]
    return view
