"""Reads of check-ins and the quarantine, scoped to the caller's facilities."""

from django.db.models import Q, QuerySet

from custody.models import CheckIn, QuarantinedCheckIn
from custody.selectors.records import visible_facility_ids


def checkin_list(*, user) -> QuerySet[CheckIn]:
    return CheckIn.objects.filter(facility_id__in=visible_facility_ids(user)).select_related(
        "facility", "inmate", "location", "recorded_by"
    )


def quarantine_list(*, user) -> QuerySet[QuarantinedCheckIn]:
    """Rejects kept under the caller's facilities; a superuser, who sees every
    facility, also sees those kept under none (posted by a superuser assigned
    to no facility), so that no reject is out of everyone's sight."""
    scope = Q(facility_id__in=visible_facility_ids(user))
    if getattr(user, "is_superuser", False):
        scope |= Q(facility__isnull=True)
    return QuarantinedCheckIn.objects.filter(scope).select_related("facility", "submitted_by")
