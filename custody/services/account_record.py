"""Accounts on the record: every change to a person's account is a ledger
event, including accounts that belong to no facility.

A facility's chain records the accounts assigned to it. Accounts with no
facility (national staff) and superusers (national by nature, whatever they
are assigned to) are recorded on the *national chain*: a reserved chain owner
(``Facility.is_national``) that no list, scope or form ever shows as a prison,
verified and witnessed like every other chain.
"""

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from custody.models import NATIONAL_CODE, Facility, LedgerEvent, User
from custody.services.ledger import actor_label, ledger_append

# Keys an account event must never carry: what is recorded is that a secret
# was set or used, never the secret, its hash or a token.
SECRET_KEYS = frozenset(
    {"password", "password_hash", "token", "token_key", "digest", "secret", "otp_secret", "key"}
)


def national_chain() -> Facility:
    """The national chain's owner row, created on first use (the unique
    constraint makes a concurrent first use find the same row)."""
    found = Facility.chain_owners.filter(is_national=True).first()
    if found is not None:
        return found
    # Named in the record itself, which is not translated.
    facility, _created = Facility.chain_owners.get_or_create(
        is_national=True,
        defaults={
            "code": NATIONAL_CODE,
            "name": "National accounts / Cuentas nacionales",
            "timezone": settings.TIME_ZONE,
        },
    )
    return facility


def account_chains(user: User) -> list[Facility]:
    """The chains that record ``user``'s account, in lock order (id): each of
    their facilities, and the national chain when they have none or are a
    superuser."""
    chains = list(user.facilities.order_by("pk")) if user.pk else []
    if not chains or user.is_superuser:
        chains.append(national_chain())
        chains.sort(key=lambda facility: facility.pk)
    return chains


def account_subject(user: User) -> str:
    return f"user:{user.username}"


def account_event(*, user: User, actor, action: str, data: dict) -> list:
    """Appends ``action`` about ``user`` (subject ``user:<username>``) to
    every chain that records their account (``account_chains``) and returns
    the events. ``data`` goes to every chain alike, so it must not list the
    user's facilities, and never a secret: a key such as ``password`` or
    ``token`` is refused (record ``{"password_set": true}`` instead)."""
    _refuse_secrets(data or {})  # before the transaction: a caller's bug, not a rollback
    with transaction.atomic(savepoint=False):
        return [
            ledger_append(
                facility=chain,
                actor=actor,
                action=action,
                subject=account_subject(user),
                data=data,
            )
            for chain in account_chains(user)
        ]


def _refuse_secrets(data) -> None:
    if isinstance(data, dict):
        for name, value in data.items():
            if str(name).lower() in SECRET_KEYS:
                raise ValueError(f"An account event must not carry {name!r}.")
            _refuse_secrets(value)
    elif isinstance(data, list | tuple):
        for value in data:
            _refuse_secrets(value)


# Ledger actions by which one person gives another an account they could
# sign in with: creating it, resetting it at the console, or setting its
# password (``user.updated`` with ``password_changed``).
ACCOUNT_MAKING_ACTIONS = ("user.created", "user.reset")


def account_made_by(*, author, account, since) -> bool:
    """Whether ``author`` created, reset or set the password of ``account``
    since ``since`` (its ledger events, on whichever chain recorded them)."""
    return LedgerEvent.objects.filter(
        Q(action__in=ACCOUNT_MAKING_ACTIONS)
        | Q(action="user.updated", data__password_changed=True),
        subject=account_subject(account),
        actor=actor_label(author),
        at__gte=since,
    ).exists()
