"""Every API error is JSON ``{"detail": ..., "errors"?: {...}}`` with a 4xx status.

DRF's validation errors are field maps; the contract wants a ``detail`` line a
person can read, so field errors move under ``errors`` and the fields are named
in ``detail``.
"""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError, OperationalError
from django.db.models import ProtectedError
from django.http import Http404, JsonResponse
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from custody.exceptions import Conflict

logger = logging.getLogger(__name__)


def _field_errors_detail(errors) -> str:
    if isinstance(errors, dict) and errors:
        return _("Invalid input: %(fields)s.") % {"fields": ", ".join(map(str, errors))}
    return _("Invalid input.")


def api_exception_handler(exc, context):
    if isinstance(exc, Http404):
        # Django's "No Inmate matches the given query." is English whatever the
        # caller's language, and names a model; the contract says "not found".
        exc = exceptions.NotFound(_("Not found."))
    if isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        )
    elif isinstance(exc, Conflict):
        return Response({"detail": exc.message, **exc.data}, status=status.HTTP_409_CONFLICT)
    elif isinstance(exc, ProtectedError):
        return Response(
            {"detail": _("Still in use by other records; it cannot be removed.")},
            status=status.HTTP_409_CONFLICT,
        )
    elif isinstance(exc, DataError):
        # Values the database cannot hold (NUL bytes, out-of-range numbers) in a
        # body, a filter or a URL: the caller's input, not our failure.
        return Response(
            {"detail": _("A value contains characters or numbers that cannot be stored.")},
            status=status.HTTP_400_BAD_REQUEST,
        )
    elif isinstance(exc, OperationalError):
        # Transient by nature (a deadlock lost again after retries, the database
        # restarting): the client should retry, and nothing half-done was kept.
        logger.warning("database unavailable, answered 503: %s", exc)
        return Response(
            {"detail": _("The database is busy or unavailable; retry in a moment.")},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "5"},
        )
    elif isinstance(exc, IntegrityError):
        # A race lost against a unique or check constraint: the database said no.
        logger.info("integrity error answered as 409: %s", exc)
        return Response(
            {"detail": _("This conflicts with a record that already exists.")},
            status=status.HTTP_409_CONFLICT,
        )

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    if isinstance(exc, exceptions.ValidationError):
        if isinstance(data, list):
            data = {"non_field_errors": data}
        response.data = {"detail": _field_errors_detail(data), "errors": data}
    elif not isinstance(data, dict) or "detail" not in data:
        response.data = {"detail": str(data)}
    return response


def wants_json(request) -> bool:
    return request.path.startswith("/api/") or request.path.startswith("/healthz")


def page_not_found(request, exception=None):
    from django.views.defaults import page_not_found as html_not_found

    if wants_json(request):
        return JsonResponse({"detail": _("Not found.")}, status=404)
    return html_not_found(request, exception)


def bad_request(request, exception=None):
    from django.views.defaults import bad_request as html_bad_request

    if wants_json(request):
        return JsonResponse({"detail": _("Bad request.")}, status=400)
    return html_bad_request(request, exception)


def permission_denied(request, exception=None):
    from django.views.defaults import permission_denied as html_denied

    if wants_json(request):
        return JsonResponse({"detail": _("Permission denied.")}, status=403)
    return html_denied(request, exception)


def server_error(request):
    from django.views.defaults import server_error as html_server_error

    if wants_json(request):
        return JsonResponse({"detail": _("Internal error; it has been logged.")}, status=500)
    return html_server_error(request)
