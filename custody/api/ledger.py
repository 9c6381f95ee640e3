"""The custody ledger for auditors: the events, and a check of each chain."""

from dataclasses import asdict

import django_filters
from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from config.schema import ErrorSerializer
from custody import selectors
from custody.api.facility_param import one_facility
from custody.filters import StrictFilterSet
from custody.models import LedgerEvent
from custody.roles import OVERSIGHT_ROLES
from custody.serializers import FacilityTimeField
from custody.services.ledger_jobs import ledger_verify_shared
from custody.throttling import LedgerVerifyThrottle


class IntegerFilter(django_filters.NumberFilter):
    # Sequence numbers are whole: "1.5" is a mistake to report, not round.
    field_class = forms.IntegerField


class LedgerFilter(StrictFilterSet):
    facility = django_filters.CharFilter(
        field_name="facility__code", help_text=gettext_lazy("Facility code.")
    )
    inmate = django_filters.CharFilter(
        method="filter_inmate",
        help_text=gettext_lazy("Booking number: events whose subject is inmate:<booking number>."),
    )
    subject = django_filters.CharFilter(
        help_text=gettext_lazy("Exact subject, e.g. device:<id> or user:<username>.")
    )
    action = django_filters.CharFilter(help_text=gettext_lazy("Exact action, e.g. user.updated."))
    since = django_filters.IsoDateTimeFilter(
        field_name="at", lookup_expr="gte", help_text=gettext_lazy("At or after this time.")
    )
    until = django_filters.IsoDateTimeFilter(
        field_name="at", lookup_expr="lt", help_text=gettext_lazy("Before this time.")
    )
    seq_from = IntegerFilter(
        field_name="seq",
        lookup_expr="gte",
        min_value=1,
        max_value=2**63 - 1,
        help_text=gettext_lazy("Sequence number at least this (inclusive)."),
    )
    seq_to = IntegerFilter(
        field_name="seq",
        lookup_expr="lte",
        min_value=1,
        max_value=2**63 - 1,
        help_text=gettext_lazy("Sequence number at most this (inclusive)."),
    )

    class Meta:
        model = LedgerEvent
        fields = ["facility", "inmate", "subject", "action", "since", "until", "seq_from", "seq_to"]

    def filter_inmate(self, queryset, name, value):
        return queryset.filter(subject=f"inmate:{value}")


class LedgerEventSerializer(serializers.ModelSerializer):
    facility = serializers.CharField(
        source="facility.code", help_text=gettext_lazy("Facility code.")
    )
    at = FacilityTimeField()
    data = serializers.DictField(help_text=gettext_lazy("What changed; never a secret."))

    class Meta:
        model = LedgerEvent
        fields = [
            "facility",
            "seq",
            "at",
            "actor",
            "action",
            "subject",
            "data",
            "prev_hash",
            "hash",
        ]
        read_only_fields = fields


class LedgerVerificationSerializer(serializers.Serializer):
    facility = serializers.CharField(help_text=gettext_lazy("Facility code."))
    ok = serializers.BooleanField(help_text=gettext_lazy("The whole chain recomputes."))
    events = serializers.IntegerField(help_text=gettext_lazy("Events checked and found good."))
    head = serializers.CharField(help_text=gettext_lazy("Hash of the last good event."))
    first_bad_seq = serializers.IntegerField(
        allow_null=True, help_text=gettext_lazy("The first broken link, or null.")
    )
    problem = serializers.CharField(
        allow_blank=True, help_text=gettext_lazy("What is wrong there; empty when ok.")
    )
    witnessed_seq = serializers.IntegerField(
        allow_null=True,
        help_text=gettext_lazy(
            "The head signed outside the database that the chain no longer holds, or null."
        ),
    )
    witness_lines = serializers.IntegerField(
        help_text=gettext_lazy("Signed heads checked against the chain (0: no witness).")
    )
    untrusted_lines = serializers.IntegerField(
        help_text=gettext_lazy(
            "Witness lines refused (bad signature, unknown key); any is a warning."
        )
    )


class LedgerViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Append-only custody events, oldest first, facility by facility."""

    serializer_class = LedgerEventSerializer
    filterset_class = LedgerFilter
    # The chain order is the only order; searching happens through filters.
    filter_backends = [DjangoFilterBackend]
    read_roles = OVERSIGHT_ROLES

    def get_queryset(self):
        return selectors.ledger_event_list(user=self.request.user)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "facility",
                OpenApiTypes.STR,
                description=gettext_lazy(
                    "Facility code; may be left out by someone assigned to one facility."
                ),
            )
        ],
        responses={
            200: LedgerVerificationSerializer,
            429: OpenApiResponse(
                ErrorSerializer,
                description=gettext_lazy(
                    "Too many verifications by this person; Retry-After says when to ask again."
                ),
            ),
        },
    )
    @action(
        detail=False,
        methods=["get"],
        filter_backends=[],
        pagination_class=None,
        throttle_classes=[LedgerVerifyThrottle],
    )
    def verify(self, request):
        """Recompute a facility's chain, check it against the heads witnessed
        outside the database, and name the first broken link. One run per
        facility at a time (a request meanwhile shares its result); a few per
        hour per person."""
        facility = one_facility(request, missing_message=_("Say which facility's chain to verify."))
        result = ledger_verify_shared(facility=facility)
        data = {**asdict(result), "facility": facility.code}
        data["problem"] = _(result.problem) if result.problem else ""
        return Response(LedgerVerificationSerializer(data).data)
