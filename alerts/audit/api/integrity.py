"""``GET /api/v1/audit/integrity/``: the integrity signals report as JSON."""

from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from alerts.audit.api.params import FACILITY, PERIOD
from alerts.audit.period import period_from
from alerts.audit.signals import integrity_report
from custody.api.facility_param import one_facility
from custody.permissions import IsStaffUser
from custody.roles import OVERSIGHT_ROLES
from custody.serializers import FacilityTimeField


@extend_schema_field(OpenApiTypes.NUMBER)
class NumberField(serializers.Field):
    """A number as it is: a count stays whole, a share keeps its decimals."""

    def to_representation(self, value):
        return value


class IntegrityColumnSerializer(serializers.Serializer):
    key = serializers.CharField(help_text=gettext_lazy("Stable name of the column."))
    label = serializers.CharField(help_text=gettext_lazy("Heading, in the answer's language."))
    kind = serializers.ChoiceField(
        choices=["text", "number", "time"],
        help_text=gettext_lazy("text, number, or time (ISO 8601 with the facility's offset)."),
    )


class IntegrityLinkSerializer(serializers.Serializer):
    label = serializers.CharField()
    url = serializers.CharField(
        help_text=gettext_lazy("Path of a record behind the row: an API resource or a page.")
    )


class IntegrityRowSerializer(serializers.Serializer):
    values = serializers.ListField(
        child=serializers.JSONField(),
        help_text=gettext_lazy("One plain value per column, in the columns' order; null if none."),
    )
    links = IntegrityLinkSerializer(
        many=True, help_text=gettext_lazy("The records behind the row.")
    )


class IntegritySignalSerializer(serializers.Serializer):
    key = serializers.CharField(help_text=gettext_lazy("Stable name of the signal."))
    title = serializers.CharField()
    explanation = serializers.CharField(
        help_text=gettext_lazy("What the signal means and where its threshold lies.")
    )
    fired = serializers.BooleanField(help_text=gettext_lazy("Something crossed the threshold."))
    thresholds = serializers.DictField(
        child=NumberField(), help_text=gettext_lazy("The limits used, by name.")
    )
    columns = IntegrityColumnSerializer(many=True)
    rows = IntegrityRowSerializer(many=True, help_text=gettext_lazy("What crossed the threshold."))


class IntegrityReportSerializer(serializers.Serializer):
    facility = serializers.CharField(
        source="facility.code", help_text=gettext_lazy("Facility code.")
    )
    since = FacilityTimeField(source="period.since", help_text=gettext_lazy("From (inclusive)."))
    until = FacilityTimeField(source="period.until", help_text=gettext_lazy("To (exclusive)."))
    fired = serializers.SerializerMethodField(
        help_text=gettext_lazy("Keys of the signals that fired.")
    )
    signals = IntegritySignalSerializer(many=True)

    def get_fired(self, report) -> list[str]:
        return [signal.key for signal in report.fired]


class IntegrityReportView(APIView):
    """The integrity signals of one facility over a period (auditors, supervisors)."""

    permission_classes = [IsStaffUser]
    read_roles = OVERSIGHT_ROLES

    @extend_schema(
        parameters=[
            FACILITY,
            *PERIOD,
        ],
        responses={200: IntegrityReportSerializer},
    )
    def get(self, request):
        facility = one_facility(request, missing_message=_("Say which facility's report you want."))
        period, errors = period_from(request.query_params, tz=facility.tzinfo)
        if period is None:
            raise ValidationError(errors)
        report = integrity_report(facility=facility, period=period)
        return Response(IntegrityReportSerializer(report).data)


urlpatterns = [
    path("integrity/", IntegrityReportView.as_view(), name="audit-integrity-report"),
]
