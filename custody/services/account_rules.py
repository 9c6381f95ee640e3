"""Who may change whose account (the API, the Django admin and any page ask
here, so the rules are the same on every path).

A facility admin may take over an account only where they answer for all of
it: they may change its password, role, active status, facilities, username
or e-mail only when they administer *every* facility it belongs to.
Otherwise a corrupt admin of one prison could reset the password of a
supervisor of five others and sign in as them. Superusers answer for every
account. Nobody locks themselves out or demotes themselves: that takes
another administrator, on the record.
"""

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext as _

from custody.models import Role, User

# What takes an account over or changes what it may do; names and the like
# are not in it.
GUARDED_FIELDS = frozenset(
    {
        "password",
        "role",
        "is_active",
        "facilities",
        "username",
        "email",
        "is_superuser",
        "is_staff",
        "groups",
        "user_permissions",
    }
)


def user_covered_by(*, by, user: User) -> bool:
    """True when ``by`` administers every facility ``user`` belongs to: a
    superuser always; an admin when the user has at least one facility (an
    account with none is national) and all of them are the admin's."""
    if getattr(by, "is_superuser", False):
        return True
    if user.is_superuser or getattr(by, "role", None) != Role.ADMIN:
        return False
    theirs = set(user.facilities.values_list("pk", flat=True))
    mine = set(by.facilities.values_list("pk", flat=True))
    return bool(theirs) and theirs <= mine


def user_change_check(
    *,
    by,
    user: User | None,
    fields,
    role=None,
    is_active=None,
    is_superuser=None,
    facilities=None,
) -> None:
    """Refuses a change of ``fields`` to ``user`` (None: a new account) by ``by``:

    - 403 when a guarded field changes and ``by`` does not cover the user;
    - 403 when it assigns a facility ``by`` does not administer;
    - 400 when ``by`` would deactivate themselves, drop their own admin role
      or their own superuser status.
    """
    if user is not None and user.pk is not None:
        if user.is_superuser and not getattr(by, "is_superuser", False):
            raise PermissionDenied(_("Only a superuser can change a superuser."))
        if GUARDED_FIELDS & set(fields) and not user_covered_by(by=by, user=user):
            raise PermissionDenied(
                _(
                    "You can change this account's password, role, active status, "
                    "facilities, username or e-mail only if you administer every "
                    "facility it belongs to. Ask a superuser."
                )
            )
    if facilities is not None and not getattr(by, "is_superuser", False):
        mine = set(by.facilities.values_list("pk", flat=True))
        outside = sorted(f.code for f in facilities if f.pk not in mine)
        if outside:
            raise PermissionDenied(
                _("You cannot assign a facility you do not administer: %(codes)s.")
                % {"codes": ", ".join(outside)}
            )
    if facilities is not None and any(getattr(f, "is_national", False) for f in facilities):
        raise ValidationError({"facilities": _("The national chain is not a facility.")})
    if user is not None and user.pk is not None and user.pk == getattr(by, "pk", None):
        _refuse_self_lockout(by=by, role=role, is_active=is_active, is_superuser=is_superuser)


def _refuse_self_lockout(*, by, role, is_active, is_superuser) -> None:
    if is_active is False:
        raise ValidationError({"is_active": _("You cannot deactivate your own account.")})
    if role is not None and role != Role.ADMIN:
        raise ValidationError(
            {"role": _("You cannot remove your own admin role; another administrator must.")}
        )
    if is_superuser is False and by.is_superuser:
        raise ValidationError(
            {"is_superuser": _("You cannot remove your own superuser status; another must.")}
        )
