"""Pending changes (API.md "Records", last bullet): read, approve, reject.

Thin: ``custody.services.changes`` holds every rule; this scopes, validates
and answers. Writers of watched records answer ``202`` with
``ChangeAcceptedSerializer`` when their change waits.
"""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from config.schema import ErrorSerializer
from custody.filters import ChangeFilter
from custody.models import PendingChange
from custody.roles import OVERSIGHT_ROLES, SUPERVISING_ROLES
from custody.selectors.changes import change_list, shown_status
from custody.serializers import FacilityTimeField, natural_key
from custody.services.changes import (
    Outcome,
    change_approve,
    change_reject,
    change_shown,
    change_submit,
)


class ChangeAcceptedSerializer(serializers.Serializer):
    change = serializers.IntegerField(help_text=_("The pending change's id."))
    status = serializers.CharField(help_text=_('"pending": a second officer must approve it.'))
    weakened = serializers.ListField(
        child=serializers.CharField(), help_text=_("The fields that weaken surveillance.")
    )


def accepted(outcome: Outcome) -> Response:
    """The ``202`` answer of a change that waits for a second officer."""
    body = {"change": outcome.change.pk, "status": "pending", "weakened": outcome.weakened}
    return Response(body, status=status.HTTP_202_ACCEPTED)


ACCEPTED = OpenApiResponse(
    ChangeAcceptedSerializer,
    description=_(
        "The change weakens surveillance: it waits for another supervisor or "
        "administrator of the facility (GET /api/v1/changes/{id}/)."
    ),
)


class ChangeSerializer(serializers.ModelSerializer):
    facility = serializers.CharField(source="facility.code", read_only=True)
    target = serializers.CharField(source="target_label", read_only=True)
    status = serializers.SerializerMethodField()
    baseline = serializers.SerializerMethodField()
    proposed = serializers.SerializerMethodField()
    requested_by = natural_key("username")
    decided_by = natural_key("username", allow_null=True)
    requested_at = FacilityTimeField(read_only=True)
    expires_at = FacilityTimeField(read_only=True)
    decided_at = FacilityTimeField(read_only=True, allow_null=True)

    class Meta:
        model = PendingChange
        fields = [
            "id",
            "facility",
            "kind",
            "target",
            "target_id",
            "weakened",
            "baseline",
            "proposed",
            "status",
            "requested_by",
            "requested_at",
            "expires_at",
            "decided_by",
            "decided_at",
            "reason",
        ]
        read_only_fields = fields

    def get_status(self, change) -> str:
        return shown_status(change)

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_baseline(self, change):
        """The changed fields' values when it was proposed (secrets fingerprinted)."""
        return change_shown(change)["baseline"]

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_proposed(self, change):
        """The values it sets (secrets fingerprinted)."""
        return change_shown(change)["proposed"]


class RejectSerializer(serializers.Serializer):
    reason = serializers.CharField(
        min_length=5, max_length=2000, help_text=_("Why the change is rejected.")
    )


_FORBIDDEN = OpenApiResponse(
    ErrorSerializer,
    description=_(
        "Your role may not decide, or you proposed this change, or its author "
        "created or reset your account in the last 30 days."
    ),
)
_CONFLICT = OpenApiResponse(
    ErrorSerializer,
    description=_("Already decided, expired, or the record changed since it was proposed (stale)."),
)


class ChangeViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Changes that weaken surveillance, waiting for (or decided by) a second officer."""

    serializer_class = ChangeSerializer
    filterset_class = ChangeFilter
    read_roles = OVERSIGHT_ROLES
    write_roles = SUPERVISING_ROLES
    ordering_fields = ["requested_at", "expires_at"]

    def get_queryset(self):
        return change_list(user=self.request.user).order_by("-requested_at", "-id")

    @extend_schema(request=None, responses={200: ChangeSerializer, 403: _FORBIDDEN, 409: _CONFLICT})
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        """Apply the change: another supervisor or administrator of the facility."""
        change = change_approve(change=self.get_object(), by=request.user)
        return Response(self.get_serializer(self.get_queryset().get(pk=change.pk)).data)

    @extend_schema(
        request=RejectSerializer,
        responses={200: ChangeSerializer, 403: _FORBIDDEN, 409: _CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        """Drop the change, saying why; the old setting stays."""
        serializer = RejectSerializer(data=request.data or {})
        serializer.is_valid(raise_exception=True)
        change = change_reject(
            change=self.get_object(), by=request.user, reason=serializer.validated_data["reason"]
        )
        return Response(self.get_serializer(self.get_queryset().get(pk=change.pk)).data)


def submitted_edits(serializer_class):
    """The schema of a PATCH that may wait for a second officer."""
    return extend_schema_view(
        partial_update=extend_schema(responses={200: serializer_class, 202: ACCEPTED}),
    )


class SubmitsChanges:
    """Edits go through ``custody.services.changes``: one that weakens
    surveillance answers ``202`` and waits; any other applies at once."""

    change_kind: str = ""

    def update(self, request, *args, **kwargs):
        partial = kwargs.pop("partial", False)
        serializer = self.get_serializer(self.get_object(), data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        outcome = change_submit(
            kind=self.change_kind,
            target=serializer.instance,
            by=request.user,
            fields=self.change_fields(serializer.validated_data),
        )
        if outcome.pending:
            return accepted(outcome)
        serializer.instance = outcome.target
        return Response(serializer.data)

    def change_fields(self, data) -> dict:
        return dict(data)
