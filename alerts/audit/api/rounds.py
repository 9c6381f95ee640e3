"""``GET /api/v1/audit/rounds/``: the observation rounds compliance report as JSON."""

from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from alerts.audit.api.params import FACILITY, PERIOD
from alerts.audit.period import period_from
from alerts.audit.rounds_report import rounds_report, standard_from
from custody.api.facility_param import one_facility
from custody.permissions import IsStaffUser
from custody.roles import OVERSIGHT_ROLES
from custody.round_standards import DEFAULT_STANDARD, STANDARDS
from custody.serializers import FacilityTimeField


class FiguresSerializer(serializers.Serializer):
    checks = serializers.IntegerField(help_text=gettext_lazy("Round checks made."))
    on_time = serializers.IntegerField(
        help_text=gettext_lazy("Checks within the standard's limit of the cell's previous one.")
    )
    expected = serializers.IntegerField(
        help_text=gettext_lazy("Checks the standard asked for: those measured plus those missed.")
    )
    on_time_share = serializers.FloatField(
        allow_null=True, help_text=gettext_lazy("on_time / expected, 0 to 1; null if none.")
    )
    missed = serializers.IntegerField(help_text=gettext_lazy("Checks that never came."))
    longest_gap_seconds = serializers.SerializerMethodField(
        help_text=gettext_lazy("Longest time a cell waited, an open gap included.")
    )
    implausible = serializers.IntegerField(
        help_text=gettext_lazy("Scans too soon after the officer's scan at another cell.")
    )
    too_regular = serializers.IntegerField(
        help_text=gettext_lazy("Cell-shifts checked at too regular intervals.")
    )

    def get_longest_gap_seconds(self, figures) -> int:
        return int(figures.longest.total_seconds())


class LineSerializer(serializers.Serializer):
    key = serializers.CharField(
        help_text=gettext_lazy("A standard's key, a unit's code and name, an officer's username.")
    )
    name = serializers.CharField()
    figures = FiguresSerializer()


class RegularShiftSerializer(serializers.Serializer):
    cell = serializers.CharField(source="cell_code")
    shift_start = serializers.DateTimeField()
    intervals = serializers.IntegerField()
    mean_seconds = serializers.SerializerMethodField()
    spread_seconds = serializers.SerializerMethodField()
    officer = serializers.SerializerMethodField(
        help_text=gettext_lazy("Who made most of the shift's checks of the cell.")
    )

    def get_mean_seconds(self, shift) -> int:
        return int(shift.mean.total_seconds())

    def get_spread_seconds(self, shift) -> int:
        return int(shift.spread.total_seconds())

    def get_officer(self, shift) -> str | None:
        return self.context["officer_names"].get(shift.officer_id)


class HourSerializer(serializers.Serializer):
    hour = serializers.IntegerField(help_text=gettext_lazy("Hour of the day, facility time."))
    gaps = serializers.IntegerField()
    mean_seconds = serializers.SerializerMethodField()
    longest_seconds = serializers.SerializerMethodField()

    def get_mean_seconds(self, hour) -> int:
        return int(hour.mean.total_seconds())

    def get_longest_seconds(self, hour) -> int:
        return int(hour.longest.total_seconds())


class RoundsReportSerializer(serializers.Serializer):
    facility = serializers.CharField(source="facility.code")
    since = FacilityTimeField(source="period.since", help_text=gettext_lazy("From (inclusive)."))
    until = FacilityTimeField(source="period.until", help_text=gettext_lazy("To (exclusive)."))
    standard = serializers.CharField(source="compliance.standard.key")
    total = FiguresSerializer(source="compliance.total")
    by_standard = LineSerializer(source="standards", many=True)
    by_unit = LineSerializer(source="units", many=True)
    by_officer = LineSerializer(source="officers", many=True)
    too_regular = serializers.SerializerMethodField()
    hours = HourSerializer(source="compliance.hours", many=True)
    unchecked_cells = serializers.ListField(
        source="unchecked",
        child=serializers.CharField(),
        help_text=gettext_lazy("Codes of tagged cells that no round check reached in the period."),
    )
    untagged_cells = serializers.ListField(
        source="untagged",
        child=serializers.CharField(),
        help_text=gettext_lazy(
            "Codes of occupied cells with no active tag now: nobody can check them."
        ),
    )

    @extend_schema_field(RegularShiftSerializer(many=True))
    def get_too_regular(self, report) -> list:
        return RegularShiftSerializer(
            report.compliance.regular,
            many=True,
            context={"officer_names": report.officer_names},
        ).data


class RoundsReportView(APIView):
    """Observation rounds of one facility over a period, graded against a
    standard (auditors, supervisors, administrators; read only)."""

    permission_classes = [IsStaffUser]
    read_roles = OVERSIGHT_ROLES

    @extend_schema(
        parameters=[
            FACILITY,
            *PERIOD,
            OpenApiParameter(
                "standard",
                OpenApiTypes.STR,
                enum=list(STANDARDS),
                description=gettext_lazy("The standard to grade units and officers against."),
                default=DEFAULT_STANDARD,
            ),
        ],
        responses={200: RoundsReportSerializer},
    )
    def get(self, request):
        facility = one_facility(request, missing_message=_("Say which facility's report you want."))
        period, errors = period_from(request.query_params, tz=facility.tzinfo)
        standard = standard_from(request.query_params.get("standard"))
        if standard is None:
            errors["standard"] = [_("Choose one of the standards listed.")]
        if errors:
            raise ValidationError(errors)
        report = rounds_report(facility=facility, period=period, standard=standard)
        return Response(RoundsReportSerializer(report).data)


urlpatterns = [
    path("rounds/", RoundsReportView.as_view(), name="audit-rounds-report"),
]
