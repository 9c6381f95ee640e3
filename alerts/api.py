"""Alerts API (docs/api.md "Alerts"): scoped reads for everyone, acknowledge and
resolve for supervisors. Thin: scope, then call ``alerts.services``."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from alerts import selectors, services
from alerts.filters import AlertFilter
from alerts.models import Alert, Notification
from config.schema import ErrorSerializer
from custody.roles import ADMIN_ROLES, SUPERVISING_ROLES
from custody.serializers import FacilityTimeField, natural_key


class AlertSerializer(serializers.ModelSerializer):
    facility = natural_key("code")
    location = natural_key("code", allow_null=True)
    inmate = natural_key("booking_number", allow_null=True)
    device = serializers.CharField(source="device.name", read_only=True, allow_null=True)
    movement = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    opened_at = FacilityTimeField(read_only=True)
    due_at = FacilityTimeField(read_only=True, allow_null=True)
    acknowledged_at = FacilityTimeField(read_only=True, allow_null=True)
    acknowledged_by = natural_key("username", allow_null=True)
    resolved_at = FacilityTimeField(read_only=True, allow_null=True)
    resolved_by = natural_key("username", allow_null=True)
    next_escalation_at = FacilityTimeField(read_only=True, allow_null=True)
    resolve_by = FacilityTimeField(
        read_only=True,
        allow_null=True,
        help_text=_(
            "Acknowledged: when it climbs (or, at the top, is sent again) if still "
            "unresolved. Kept once resolved."
        ),
    )
    details = serializers.DictField(read_only=True)
    resolved_by_observation = serializers.DictField(read_only=True, allow_null=True)

    class Meta:
        model = Alert
        fields = [
            "id",
            "kind",
            "severity",
            "facility",
            "location",
            "inmate",
            "device",
            "movement",
            "status",
            "opened_at",
            "due_at",
            "acknowledged_at",
            "acknowledged_by",
            "resolved_at",
            "resolved_by",
            "resolution",
            "resolved_by_observation",
            "escalation_level",
            "next_escalation_at",
            "acknowledged_level",
            "resolve_by",
            "details",
        ]
        read_only_fields = fields


class ResolveSerializer(serializers.Serializer):
    resolution = serializers.CharField(
        max_length=4000,
        help_text=_("What happened and what was done (required, kept in the ledger)."),
    )
    declare = serializers.ChoiceField(
        choices=[("missing", _("Missing")), ("escaped", _("Escaped"))],
        required=False,
        help_text=_(
            "Also record the person as missing or escaped (from in custody): they leave "
            "the check schedule and stay unaccounted until a return movement."
        ),
    )


class NotificationSerializer(serializers.ModelSerializer):
    channel = serializers.CharField(source="channel.name", read_only=True)
    kind = serializers.CharField(source="channel.kind", read_only=True)
    last_error = serializers.SerializerMethodField(
        help_text=_("Why the last try failed; administrators only (null for others).")
    )

    class Meta:
        model = Notification
        fields = [
            "id",
            "channel",
            "kind",
            "event",
            "level",
            "round",
            "status",
            "attempts",
            "created_at",
            "next_attempt_at",
            "sent_at",
            "last_error",
        ]
        read_only_fields = fields

    def get_last_error(self, row: Notification) -> str | None:
        # A receiver's answer can name internal hosts, addresses or its own
        # software: for the administrators who fix channels, not everyone.
        request = self.context.get("request")
        user = getattr(request, "user", None)
        return row.last_error if getattr(user, "role", None) in ADMIN_ROLES else None


_CONFLICT = OpenApiResponse(ErrorSerializer, description=_("Already acknowledged or resolved."))
_FORBIDDEN = OpenApiResponse(
    ErrorSerializer,
    description=_(
        "Not a supervisor of the facility, or the alert is about your own count, scan or "
        "movement (the reason says which)."
    ),
)


class AlertViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Alerts of your facilities, most severe first. Never edited or deleted:
    acknowledging and resolving are actions, each in the ledger."""

    serializer_class = AlertSerializer
    filterset_class = AlertFilter
    write_roles = SUPERVISING_ROLES
    http_method_names = ["get", "post", "head", "options"]
    ordering_fields = ["opened_at", "severity_rank", "kind", "status"]
    ordering = ["severity_rank", "-opened_at", "-id"]

    def get_queryset(self):
        return selectors.alert_list(user=self.request.user)

    def _act(self, service, **kwargs):
        try:
            alert = service(alert=self.get_object(), by=self.request.user, **kwargs)
        except services.NotAllowed as exc:
            raise exceptions.PermissionDenied(str(exc)) from exc
        except services.InvalidResolution as exc:
            raise exceptions.ValidationError({"resolution": [str(exc)]}) from exc
        return Response(AlertSerializer(alert, context=self.get_serializer_context()).data)

    @extend_schema(request=None, responses={200: AlertSerializer, 403: _FORBIDDEN, 409: _CONFLICT})
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        """Take ownership: the alert stops climbing for want of an owner, and the
        rung's resolve time starts; not resolved by then, it climbs anyway."""
        return self._act(services.alert_acknowledge)

    @extend_schema(
        request=ResolveSerializer,
        responses={200: AlertSerializer, 403: _FORBIDDEN, 409: _CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def resolve(self, request, pk=None):
        """Close the alert with a written reason (at least 10 characters)."""
        serializer = ResolveSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return self._act(services.alert_resolve, **serializer.validated_data)

    @extend_schema(responses={200: NotificationSerializer(many=True)})
    @action(detail=True, methods=["get"], pagination_class=None, filterset_class=None)
    def notifications(self, request, pk=None):
        """Who was told about this alert, when, and whether it got through."""
        rows = selectors.notification_list(alert=self.get_object())
        return Response(
            NotificationSerializer(rows, many=True, context=self.get_serializer_context()).data
        )
