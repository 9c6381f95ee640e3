"""Legal holds as each person may see them (facility scope)."""

from django.db.models import QuerySet

from custody.models import LegalHold
from custody.selectors.records import visible_facility_ids


def hold_list(*, user) -> QuerySet[LegalHold]:
    return LegalHold.objects.filter(facility_id__in=visible_facility_ids(user)).select_related(
        "facility", "inmate", "location", "placed_by", "lift_requested_by", "lifted_by"
    )


def hold_status(hold: LegalHold) -> str:
    """``active``, ``lift_requested`` (it still holds) or ``lifted``."""
    if hold.lifted_at is not None:
        return "lifted"
    if hold.lift_requested_at is not None:
        return "lift_requested"
    return "active"
