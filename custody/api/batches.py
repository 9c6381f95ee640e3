"""Batches of marks posted by tablets (count entries, recount marks): one
result per item, in order; good items stored beside bad ones."""

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from custody.services.rollcalls import MAX_ENTRIES

OUTCOMES = ("accepted", "duplicate", "rejected")
METHOD_RULE = (
    "A person's token may post only `visual` and `manual`; `rfid` needs the request to carry "
    "an enrolled, active tablet of the count's facility whose methods include it (the tablet "
    "cookie of docs/api.md 'Tablets'); otherwise the item is rejected with `method_not_allowed`."
)


def marks_schema(*, statuses, methods, inmate: str) -> dict:
    """The OpenAPI body of a batch of marks (count entries, recount marks)."""
    return {
        "type": "array",
        "maxItems": MAX_ENTRIES,
        "items": {
            "type": "object",
            "required": ["id", "inmate", "status", "observed_at"],
            "properties": {
                "id": {"type": "string", "format": "uuid"},
                "inmate": {"type": "string", "description": inmate},
                "status": {"type": "string", "enum": list(statuses)},
                "method": {
                    "type": "string",
                    "enum": list(methods),
                    "default": "visual",
                    "description": METHOD_RULE,
                },
                "observed_at": {"type": "string", "format": "date-time"},
            },
        },
    }


class EntryResultSerializer(serializers.Serializer):
    id = serializers.CharField()
    status = serializers.ChoiceField(choices=OUTCOMES)
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))
    reason = serializers.CharField(
        allow_blank=True,
        help_text=gettext_lazy(
            "Why a mark was refused, when the answer is worth telling apart: "
            "`method_not_allowed`, `wrong_location`; empty otherwise."
        ),
    )


class EntryBatchResultSerializer(serializers.Serializer):
    results = EntryResultSerializer(many=True)
    accepted = serializers.IntegerField()
    duplicate = serializers.IntegerField()
    rejected = serializers.IntegerField()


def batch_body(request) -> list:
    """The posted object or list, refused whole (400) if it is neither or too long."""
    body = request.data
    if isinstance(body, dict):
        body = [body]
    if not isinstance(body, list):
        raise ValidationError({"non_field_errors": [_("Send a JSON object or a list.")]})
    if len(body) > MAX_ENTRIES:
        raise ValidationError(
            {
                "non_field_errors": [
                    _("At most %(max)s entries per request; nothing was stored.")
                    % {"max": MAX_ENTRIES}
                ]
            }
        )
    return body


def batch_answer(results) -> dict:
    return {
        "results": [
            {"id": r.id, "status": r.status, "errors": r.errors, "reason": r.reason}
            for r in results
        ],
        **{outcome: sum(1 for r in results if r.status == outcome) for outcome in OUTCOMES},
    }
