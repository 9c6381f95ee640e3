"""Batches of marks posted by tablets (count entries, recount marks): one
result per item, in order; good items stored beside bad ones."""

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from custody.services.rollcalls import MAX_ENTRIES

OUTCOMES = ("accepted", "duplicate", "rejected")


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
