"""Who may open the auditor workspace, and for which facility."""

from functools import wraps

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404

from alerts.views import signed_in
from custody.roles import OVERSIGHT_ROLES
from custody.selectors import facilities_visible_to, ledger_facilities


def can_audit(user) -> bool:
    return bool(getattr(user, "is_authenticated", False)) and (
        user.is_superuser or user.role in OVERSIGHT_ROLES
    )


def audit_page(view):
    """A workspace page kept per facility: ``view(request, facility, ...)``.

    Signed in, an oversight role (403 otherwise) and one of the caller's
    facilities (404 otherwise, so codes of other facilities are not confirmed).
    """

    @signed_in
    @wraps(view)
    def wrapped(request, code, *args, **kwargs):
        if not can_audit(request.user):
            raise PermissionDenied
        facility = get_object_or_404(facilities_visible_to(request.user), code=code)
        return view(request, facility, *args, **kwargs)

    return wrapped


def ledger_page(view):
    """Like ``audit_page``, for the ledger's own pages, where a superuser may
    also open the national chain (accounts with no facility) by its code."""

    @signed_in
    @wraps(view)
    def wrapped(request, code, *args, **kwargs):
        if not can_audit(request.user):
            raise PermissionDenied
        found = ledger_facilities(user=request.user, code=code)
        if not found:
            raise Http404
        return view(request, found[0], *args, **kwargs)

    return wrapped
