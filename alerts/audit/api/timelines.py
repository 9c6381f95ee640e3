"""``/api/v1/audit/officers/``: what officers did in a facility and a period.

``officers/`` lists the facility's officers with their totals,
``officers/{username}/`` is one officer's totals, and
``officers/{username}/activity/`` their actions one by one, oldest first.
A person's history and a place's occupants are on the custody API
(``/api/v1/inmates/{booking_number}/history/``,
``/api/v1/locations/{id}/occupants/``).
"""

from django.http import Http404
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from alerts.audit import officers
from alerts.audit.api.params import FACILITY, PERIOD
from alerts.audit.period import period_from
from custody.api.facility_param import one_facility
from custody.api.history import EntryTimeField, HistoryEntrySerializer
from custody.pagination import StandardPagination
from custody.permissions import IsStaffUser
from custody.roles import OVERSIGHT_ROLES


class OfficerTotalsSerializer(serializers.Serializer):
    counts_started = serializers.IntegerField(help_text=gettext_lazy("Counts they started."))
    counts_submitted = serializers.IntegerField(help_text=gettext_lazy("Counts they submitted."))
    unaccounted = serializers.IntegerField(
        help_text=gettext_lazy("People the counts they submitted left unaccounted for.")
    )
    counts_verified = serializers.IntegerField(
        help_text=gettext_lazy("Other officers' counts they verified.")
    )
    checkins = serializers.IntegerField(
        help_text=gettext_lazy(
            "Check-ins they recorded; a present mark on a count is stored as one too."
        )
    )
    checkins_visual = serializers.IntegerField(
        help_text=gettext_lazy("Of those, visual (no biometric proof).")
    )
    entries = serializers.IntegerField(
        help_text=gettext_lazy("Count marks they recorded (present, absent, out).")
    )
    entries_visual = serializers.IntegerField(help_text=gettext_lazy("Of those, visual."))
    visual_share = serializers.FloatField(
        allow_null=True,
        help_text=gettext_lazy("checkins_visual / checkins, from 0 to 1; null without check-ins."),
    )
    alerts_acknowledged = serializers.IntegerField()
    acknowledge_seconds = serializers.FloatField(
        allow_null=True,
        help_text=gettext_lazy("Mean time from an alert's opening to their acknowledgement."),
    )
    alerts_resolved = serializers.IntegerField()
    movements_approved = serializers.IntegerField()
    approvals = serializers.IntegerField(
        help_text=gettext_lazy("Movements approved and counts verified.")
    )


class OfficerSerializer(serializers.Serializer):
    username = serializers.CharField()
    name = serializers.CharField(source="get_full_name")
    role = serializers.CharField(
        source="role_name", help_text=gettext_lazy("guard, supervisor or admin.")
    )
    is_active = serializers.BooleanField()


class OfficerSummarySerializer(serializers.Serializer):
    """One officer's totals in a facility and period."""

    facility = serializers.CharField(help_text=gettext_lazy("Facility code."))
    since = EntryTimeField(help_text=gettext_lazy("From (inclusive), facility time."))
    until = EntryTimeField(help_text=gettext_lazy("To (exclusive), facility time."))
    officer = OfficerSerializer()
    totals = OfficerTotalsSerializer()


class OfficerRowSerializer(OfficerSerializer):
    totals = OfficerTotalsSerializer()


class ActivityEntrySerializer(HistoryEntrySerializer):
    """One action of an officer; times in the facility's zone."""

    type = serializers.ChoiceField(choices=officers.ACTIVITY_TYPES, source="entry_type")
    id = serializers.CharField(
        source="entry_id",
        help_text=gettext_lazy(
            "The record acted on: count (UUID), check-in or count entry (UUID), alert or "
            "movement (id), by type."
        ),
    )
    summary = serializers.DictField(
        source="entry_summary",
        help_text=gettext_lazy(
            "count_started, count_submitted, count_verified: location, location_id, kind, "
            "status, expected, present, out_authorized, unaccounted, started_by, submitted_by, "
            "verified_by. checkin: inmate, location, location_id, method, biometric, score, "
            "out_of_place, received_at. count_entry: inmate, rollcall, location, location_id, "
            "count_kind, status, method, received_at. alert_acknowledged, alert_resolved: kind, "
            "severity, status, inmate, location, location_id, opened_at, acknowledged_at, "
            "escalation_level, resolution. movement_approved: inmate, kind, status, "
            "requested_by, to_location, to_facility, destination."
        ),
    )
    summary_times = officers.ACTIVITY_SUMMARY_TIMES


USERNAME = OpenApiParameter(
    "username",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description=gettext_lazy("An officer assigned to the facility."),
)
TYPES = OpenApiParameter(
    "type",
    OpenApiTypes.STR,
    enum=officers.ACTIVITY_TYPES,
    many=True,
    explode=True,
    description=gettext_lazy("Only actions of these types; repeat the parameter for several."),
)


class OfficerView(GenericAPIView):
    """Common ground: auditors, supervisors and admins; one facility and period."""

    permission_classes = [IsStaffUser]
    read_roles = OVERSIGHT_ROLES
    pagination_class = StandardPagination
    filter_backends = []

    def facility_and_period(self):
        facility = one_facility(
            self.request, missing_message=_("Say which facility's officers you mean.")
        )
        period, errors = period_from(self.request.query_params, tz=facility.tzinfo)
        if period is None:
            raise ValidationError(errors)
        return facility, period

    def officer(self, facility, username):
        found = officers.facility_officers(facility).filter(username=username).first()
        if found is None:
            raise Http404
        return found


class OfficerListView(OfficerView):
    """The facility's officers (guards, supervisors, admins), by username,
    each with their totals for the period."""

    serializer_class = OfficerRowSerializer

    @extend_schema(parameters=[FACILITY, *PERIOD], responses={200: OfficerRowSerializer(many=True)})
    def get(self, request):
        facility, period = self.facility_and_period()
        page = self.paginate_queryset(officers.facility_officers(facility))
        totals = officers.officer_totals(
            facility=facility, period=period, officer_ids=[o.pk for o in page]
        )
        for officer in page:
            officer.totals = totals[officer.pk].as_dict()
        return self.get_paginated_response(OfficerRowSerializer(page, many=True).data)


class OfficerSummaryView(OfficerView):
    """One officer's totals: counts taken, checks recorded (visual share),
    alerts acknowledged and resolved, approvals given."""

    serializer_class = OfficerSummarySerializer
    pagination_class = None

    @extend_schema(
        parameters=[USERNAME, FACILITY, *PERIOD], responses={200: OfficerSummarySerializer}
    )
    def get(self, request, username):
        facility, period = self.facility_and_period()
        officer = self.officer(facility, username)
        totals = officers.officer_summary(facility=facility, officer=officer, period=period)
        since, until = period.local()
        data = {
            "facility": facility.code,
            "since": since,
            "until": until,
            "officer": officer,
            "totals": totals.as_dict(),
        }
        return Response(OfficerSummarySerializer(data).data)


class OfficerActivityView(OfficerView):
    """One officer's actions in the facility, oldest first, a page at a time."""

    serializer_class = ActivityEntrySerializer

    @extend_schema(
        parameters=[USERNAME, FACILITY, *PERIOD, TYPES],
        responses={200: ActivityEntrySerializer(many=True)},
    )
    def get(self, request, username):
        types = self._types(request.query_params.getlist("type"))
        facility, period = self.facility_and_period()
        officer = self.officer(facility, username)
        timeline = officers.officer_activity(
            facility=facility, officer=officer, period=period, types=types
        )
        page = self.paginate_queryset(timeline)
        return self.get_paginated_response(ActivityEntrySerializer(page, many=True).data)

    def _types(self, types: list[str]):
        unknown = sorted(set(types) - set(officers.ACTIVITY_TYPES))
        if unknown:
            raise ValidationError(
                {
                    "type": [
                        _("Unknown action type %(types)s; choose among %(known)s.")
                        % {
                            "types": ", ".join(unknown),
                            "known": ", ".join(officers.ACTIVITY_TYPES),
                        }
                    ]
                }
            )
        return frozenset(types) or officers.ACTIVITY_TYPES


urlpatterns = [
    path("officers/", OfficerListView.as_view(), name="audit-officer-list"),
    path("officers/<str:username>/", OfficerSummaryView.as_view(), name="audit-officer-summary"),
    path(
        "officers/<str:username>/activity/",
        OfficerActivityView.as_view(),
        name="audit-officer-activity",
    ),
]
