"""Reads of check-ins and the quarantine, scoped to the caller's facilities."""

from django.db.models import QuerySet

from custody.models import CheckIn, QuarantinedCheckIn
from custody.selectors.records import visible_facility_ids


def checkin_list(*, user) -> QuerySet[CheckIn]:
    return CheckIn.objects.filter(facility_id__in=visible_facility_ids(user)).select_related(
        "facility", "inmate", "location", "recorded_by"
    )


def quarantine_list(*, user) -> QuerySet[QuarantinedCheckIn]:
    return QuarantinedCheckIn.objects.filter(
        facility_id__in=visible_facility_ids(user)
    ).select_related("facility", "submitted_by")
