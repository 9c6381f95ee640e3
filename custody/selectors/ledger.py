"""Reads of the custody ledger, scoped to the caller's facilities."""

from django.db.models import QuerySet

from custody.models import Facility, LedgerEvent
from custody.selectors.records import facilities_visible_to, visible_facility_ids


def ledger_event_list(*, user) -> QuerySet[LedgerEvent]:
    """Events oldest first, facility by facility: the order the chains were
    written in, served by the (facility, seq) unique index."""
    return (
        LedgerEvent.objects.filter(facility_id__in=visible_facility_ids(user))
        .select_related("facility")
        .order_by("facility_id", "seq")
    )


def ledger_facilities(*, user, code: str | None = None) -> list[Facility]:
    """The visible facility with ``code``, or (no code) up to two visible
    facilities, enough for the caller to tell "exactly one" from "several"."""
    facilities = facilities_visible_to(user).order_by("code")
    if code is not None:
        return list(facilities.filter(code=code))
    return list(facilities[:2])
