"""OpenAPI: every operation documents the error answers it can really give.

A fuzzer compares each response with the schema, so 400/401/403/404/... must
be declared, not only the happy path.
"""

from django.utils.translation import gettext_lazy as _
from drf_spectacular import openapi
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    errors = serializers.DictField(
        required=False, help_text=_("Field name -> list of messages, for invalid input.")
    )


_ERROR_DESCRIPTIONS = {
    "400": "Invalid input; `errors` names each field (malformed or too deeply nested JSON: "
    "`detail` only).",
    "401": "Missing or invalid credentials.",
    "403": "Your role or device may not do this.",
    "404": "Not found, or outside your facilities.",
    "405": "Method not allowed.",
    "406": "Cannot answer in the requested media type.",
    "409": "Conflicts with the current state of the record.",
    "413": "The request body is larger than the service accepts (`MAX_BODY_BYTES`, 4 MiB by "
    "default); it was not read.",
    "415": "Unsupported media type; send JSON.",
}
_READ_ERRORS = ("400", "401", "403", "404", "405", "406")
_WRITE_ERRORS = (*_READ_ERRORS, "409", "413", "415")


class AutoSchema(openapi.AutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        codes = _READ_ERRORS if self.method in ("GET", "HEAD", "OPTIONS") else _WRITE_ERRORS
        for code in codes:
            if code not in responses:
                responses[code] = self._get_response_for_code(
                    OpenApiResponse(ErrorSerializer, description=_ERROR_DESCRIPTIONS[code]),
                    code,
                    direction=direction,
                )
        return responses
