import zoneinfo

from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import JsonResponse
from django.shortcuts import render
from django.urls import Resolver404, resolve
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.permissions import SAFE_METHODS

from config.errors import wants_json
from custody.roles import READ_ONLY_ROLES
from custody.services.signin import needs_second_factor


class FacilityTimezoneMiddleware:
    """Pages show times in the signed-in person's (first) facility's zone."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        tz_name = None
        if user is not None and user.is_authenticated:
            tz_name = user.facilities.order_by("code").values_list("timezone", flat=True).first()
        if tz_name:
            timezone.activate(zoneinfo.ZoneInfo(tz_name))
        else:
            timezone.deactivate()
        return self.get_response(request)


class ReadOnlyRolesMiddleware:
    """A signed-in auditor changes nothing through any page: every unsafe
    request is refused here, before any view runs, whatever the view allows.

    Signing in and out and choosing the language change no record, so they
    stay open; so do the pages marked ``records_a_read`` (exports: their one
    write is the ledger event that records who exported what) and asking for
    a ledger check or chain export (a job row, never a custody record).
    Token-authenticated API calls are refused by
    ``custody.permissions.IsStaffUser`` for the same roles.
    """

    ALWAYS_OPEN = frozenset(
        {
            "login",
            "logout",
            "set_language",
            "auth-token",
            "auth-token-revoke",
            # Asking for a ledger verification or chain export writes a job
            # (and the export's own ledger event), never a custody record.
            "audit-ledger-verify",
            "audit-ledger-chain",
        }
    )

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method not in SAFE_METHODS and self._read_only(request.user):
            match = resolve_or_none(request.path_info)
            if match is None or not self.open_to_readers(match):
                return self.refuse(request)
        return self.get_response(request)

    def open_to_readers(self, match) -> bool:
        return match.url_name in self.ALWAYS_OPEN or getattr(match.func, "records_a_read", False)

    @staticmethod
    def refuse(request):
        message = _("Your role reads the record; it changes nothing.")
        if wants_json(request):
            return JsonResponse({"detail": message}, status=403)
        return render(request, "read_only.html", {"message": message}, status=403)

    @staticmethod
    def _read_only(user) -> bool:
        return user is not None and user.is_authenticated and user.role in READ_ONLY_ROLES


def resolve_or_none(path: str):
    try:
        return resolve(path)
    except Resolver404:
        return None


class SecondFactorRequiredMiddleware:
    """An admin's or superuser's session that has not passed the second factor
    opens nothing: it is ended and sent to sign in again.

    The sign-in never makes such a session (``custody.pages.signin`` signs an
    admin in only after the code), so this catches sessions from before the
    second factor was required, or whose authenticator was since removed.
    Token-authenticated API calls carry no session and are not affected here.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and needs_second_factor(user)
            and not user.is_verified()
        ):
            logout(request)
            if wants_json(request):
                message = _("Sign in again with your second factor.")
                return JsonResponse({"detail": message}, status=401)
            return redirect_to_login(request.get_full_path())
        return self.get_response(request)
