"""Request bodies over ``MAX_BODY_BYTES`` are refused with a 413 before anything
reads them: no view, parser, sign-in throttle or admin form ever holds more
than the limit in memory.

A body of declared length is judged by its ``Content-Length`` alone. A body
sent without one (``Transfer-Encoding: chunked``) is read up to one byte past
the limit and, when it fits, handed on as an ordinary body of that length
(Django alone would read such a body as empty).
"""

import io

from django.conf import settings
from django.core.handlers.wsgi import LimitedStream
from django.http import HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _

from config.errors import wants_json


class BodySizeLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # Before LocaleMiddleware: the refusal speaks the caller's language itself.
        with translation.override(translation.get_language_from_request(request)):
            return self.check(request)

    def check(self, request):
        limit = settings.MAX_BODY_BYTES
        declared = request.META.get("CONTENT_LENGTH") or ""
        if declared.strip():
            try:
                length = int(declared)
            except ValueError:
                return self.answer(request, 400, _("The Content-Length header is not a number."))
            if length < 0:
                return self.answer(request, 400, _("The Content-Length header is not a number."))
            if length > limit:
                return self.too_large(request, limit)
        elif request.META.get("HTTP_TRANSFER_ENCODING") and "wsgi.input" in request.META:
            body = request.META["wsgi.input"].read(limit + 1)
            if len(body) > limit:
                return self.too_large(request, limit)
            request.META["CONTENT_LENGTH"] = str(len(body))
            request._stream = LimitedStream(io.BytesIO(body), len(body))
        return self.get_response(request)

    def too_large(self, request, limit: int):
        message = _("The request body is larger than %(limit)s bytes; it was not read.") % {
            "limit": limit
        }
        return self.answer(request, 413, message)

    @staticmethod
    def answer(request, status: int, message: str):
        if wants_json(request):
            return JsonResponse({"detail": message}, status=status)
        # A page of its own: the usual layout reads the database and the session.
        page = render_to_string("request_refused.html", {"status": status, "message": message})
        return HttpResponse(page, status=status)
