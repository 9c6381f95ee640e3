"""Sign-in hardening: the second factor of admins, account lockouts and their
unlocking, and the API tokens of admins. Each of these is on the record.

Rules:
- Admins and superusers pass a second factor (an authenticator's TOTP code or
  a single-use recovery code) after their password on the web sign-in.
- Only an account with no confirmed authenticator can enrol one: a stolen
  password cannot add a second authenticator to an enrolled admin.
- An account locked after repeated failures (django-axes) is unlocked by an
  admin who covers every facility of the account, or by a superuser.
- An API token issued to an admin is a ledger event (who, when, from where,
  the token's prefix: never the token).
"""

import base64
import re

from axes.models import AccessAttempt
from axes.utils import reset as axes_reset
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Sum
from django.utils.translation import gettext as _
from django_otp import devices_for_user, user_has_device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from custody.models import Role, User
from custody.services.account_record import account_event
from custody.services.account_rules import user_covered_by

TOTP_CODE = re.compile(r"^\d{6}$")
RECOVERY_DEVICE_NAME = "recovery codes"


def needs_second_factor(user) -> bool:
    """Admins and superusers sign in to the web with a second factor."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return bool(getattr(user, "is_superuser", False) or getattr(user, "role", None) == Role.ADMIN)


def has_second_factor(user) -> bool:
    return user_has_device(user, confirmed=True)


def _record(user: User, *, actor, action: str, data: dict):
    # Every chain of the account: its facilities, or the national chain.
    return account_event(user=user, actor=actor, action=action, data=data)


# --- Enrolment ---------------------------------------------------------------


def enrolment_device(*, user: User) -> TOTPDevice:
    """The authenticator being enrolled (unconfirmed), made on first use and
    kept until confirmed, so reloading the page shows the same secret."""
    if has_second_factor(user):
        raise PermissionDenied(_("This account already has a second factor."))
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)
    return device


def secret_text(device: TOTPDevice) -> str:
    """The secret as typed into an authenticator by hand: base32, in fours."""
    text = base64.b32encode(device.bin_key).decode()
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


@transaction.atomic
def enrolment_confirm(*, user: User, code: str, address: str | None):
    """Confirms the authenticator with its first code and issues the
    recovery codes (returned once; to be shown once). Returns
    ``(device, codes)``, or ``None`` when the code is wrong."""
    if has_second_factor(user):
        raise PermissionDenied(_("This account already has a second factor."))
    device = (
        TOTPDevice.objects.select_for_update()
        .filter(user=user, confirmed=False)
        .order_by("pk")
        .first()
    )
    code = _clean(code)
    if device is None or not TOTP_CODE.match(code) or not device.verify_token(code):
        return None
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()  # other tabs' secrets
    codes = _new_recovery_codes(user)
    _record(
        user,
        actor=user,
        action="user.second_factor_enrolled",
        data={"address": address, "recovery_codes": len(codes)},
    )
    return device, codes


def _new_recovery_codes(user: User) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=RECOVERY_DEVICE_NAME, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(settings.OTP_RECOVERY_CODES)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=c) for c in codes])
    return codes


# --- Verification ------------------------------------------------------------


def _clean(code) -> str:
    return re.sub(r"[\s-]", "", str(code or "")).lower()


@transaction.atomic
def second_factor_verify(*, user: User, code: str, address: str | None):
    """The device that accepts ``code``: six digits go to the authenticator,
    anything else to the recovery codes (each good once; its use is recorded
    with how many are left). ``None`` when nothing accepts it. django-otp
    slows each device after a wrong code, and a TOTP code is good once."""
    code = _clean(code)
    if not code:
        return None
    want = TOTPDevice if TOTP_CODE.match(code) else StaticDevice
    for device in devices_for_user(user, confirmed=True, for_verify=True):
        if isinstance(device, want) and device.verify_token(code):
            if isinstance(device, StaticDevice):
                _record(
                    user,
                    actor=user,
                    action="user.recovery_code_used",
                    data={"address": address, "remaining": device.token_set.count()},
                )
            return device
    return None


# --- Lockout and unlock ------------------------------------------------------


def failures_recorded(username: str) -> int:
    return (
        AccessAttempt.objects.filter(username=username).aggregate(n=Sum("failures_since_start"))[
            "n"
        ]
        or 0
    )


def is_locked(user: User) -> bool:
    return failures_recorded(user.username) >= settings.AXES_FAILURE_LIMIT


def lockout_record(*, username: str, address: str | None, failures: int | None) -> None:
    """Records the moment an account is locked (once: at the failure that
    reaches the limit, not every refused attempt after it). A username that
    is no account locks nothing worth recording."""
    if failures != settings.AXES_FAILURE_LIMIT:
        return
    user = User.objects.filter(username=username).first()
    if user is None:
        return
    _record(
        user,
        actor=None,
        action="user.locked",
        data={"address": address, "failures": failures},
    )


def covers(by, user: User) -> bool:
    """The accounts rule: ``by`` administers every facility of ``user``."""
    return user_covered_by(by=by, user=user)


@transaction.atomic
def account_unlock(*, user: User, by) -> int:
    """Clears ``user``'s failed sign-ins (a lockout ends); returns how many
    were cleared. Recorded when there was anything to clear."""
    if not covers(by, user):
        raise PermissionDenied(
            _("You can unlock only accounts whose every facility is one of yours.")
        )
    failures = failures_recorded(user.username)
    if failures:
        was_locked = failures >= settings.AXES_FAILURE_LIMIT
        axes_reset(username=user.username)
        _record(
            user,
            actor=by,
            action="user.unlocked",
            data={"failures_cleared": failures, "was_locked": was_locked},
        )
    return failures


@transaction.atomic
def second_factor_reset(*, user: User, by) -> int:
    """Removes every authenticator and recovery code of ``user`` (lost
    phone and codes): their next sign-in enrols again. Someone else who
    covers the account does it, never the account itself."""
    if by.pk == user.pk or not covers(by, user):
        raise PermissionDenied(
            _("Another admin who covers every facility of this account resets its second factor.")
        )
    devices = list(devices_for_user(user, confirmed=None))
    for device in devices:
        device.delete()
    removed = len(devices)
    _record(user, actor=by, action="user.second_factor_reset", data={"devices_removed": removed})
    return removed


# --- API tokens --------------------------------------------------------------


def token_issued_record(*, user: User, token, address: str | None, second_factor: bool) -> None:
    """An admin's (or superuser's) new API token on the record: who, from
    where, when it lapses and its prefix, never the token or its digest."""
    if not needs_second_factor(user):
        return
    _record(
        user,
        actor=user,
        action="user.api_token_issued",
        data={
            "address": address,
            "token_prefix": token.token_key[:8],
            "expiry": token.expiry,
            "second_factor": second_factor,
        },
    )
