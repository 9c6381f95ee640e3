import zoneinfo

from django.http import JsonResponse
from django.shortcuts import render
from django.urls import Resolver404, resolve
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.permissions import SAFE_METHODS

from config.errors import wants_json
from custody.roles import READ_ONLY_ROLES


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
    stay open. Token-authenticated API calls are refused by
    ``custody.permissions.IsStaffUser`` for the same roles.
    """

    ALWAYS_OPEN = frozenset({"login", "logout", "set_language", "auth-token", "auth-token-revoke"})

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method not in SAFE_METHODS and self._read_only(request.user):
            match = resolve_or_none(request.path_info)
            if match is None or match.url_name not in self.ALWAYS_OPEN:
                return self.refuse(request)
        return self.get_response(request)

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
