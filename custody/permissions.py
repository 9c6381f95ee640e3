"""Who may do what: roles are checked here, facility scope in ``selectors``."""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from custody.authentication import DevicePrincipal
from custody.roles import ADMIN_ROLES, ALL_ROLES, READ_ONLY_ROLES


def records_a_read(view):
    """Marks a page whose POST changes no record but writes the record of a
    read: an export, whose ledger event says who took which file. Read-only
    roles may post to it (``custody.middleware.ReadOnlyRolesMiddleware``); it
    is a POST so that the event needs the CSRF token, never a link followed.
    """
    view.records_a_read = True
    return view


def is_device(request) -> bool:
    return isinstance(request.user, DevicePrincipal)


class IsStaffUser(BasePermission):
    """A signed-in person with a role.

    Views narrow it with ``read_roles`` / ``write_roles`` (sets of role names).
    Read-only roles never write, whatever ``write_roles`` say, except where a
    view declares ``changes_no_record`` (signing out). Devices are refused
    unless a view lets them in explicitly.
    """

    def has_permission(self, request, view):
        user = request.user
        if not user or not user.is_authenticated or is_device(request):
            return False
        role = user.role
        if role is None:
            return False
        if request.method in SAFE_METHODS:
            return role in getattr(view, "read_roles", ALL_ROLES)
        if role in READ_ONLY_ROLES and not getattr(view, "changes_no_record", False):
            return False
        return role in getattr(view, "write_roles", ADMIN_ROLES)


class IsAdmin(IsStaffUser):
    def has_permission(self, request, view):
        return super().has_permission(request, view) and request.user.role in ADMIN_ROLES


class IsDevice(BasePermission):
    """Only a device key (a reader or tablet), never a person."""

    def has_permission(self, request, view):
        return is_device(request)


class IsDeviceOrStaffUser(IsStaffUser):
    """Devices may post (their facility is checked per item); people as usual."""

    def has_permission(self, request, view):
        if is_device(request):
            return request.method == "POST"
        return super().has_permission(request, view)
