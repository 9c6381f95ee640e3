"""People in the auditor workspace: finding someone, and their custody
timeline with the alerts raised about them.

The custody timeline (``custody.selectors.inmate_history``) shows alerts
through their ledger events, as custody knows nothing of alerts; here they
come from the alerts themselves, one row each with who acknowledged and who
resolved it and why, and their ledger events are left out of the ledger rows.
"""

from datetime import datetime

from django.db.models import F, Q, QuerySet
from django.db.models.functions import JSONObject

from alerts.models import Alert
from custody.models import Facility, Inmate, Movement, MovementKind
from custody.selectors import Timeline, inmate_history, timeline_entry, visible_facility_ids
from custody.selectors.history import CHECKIN, COUNT_ENTRY, LEDGER, MOVEMENT

ALERT = "alert"
# In the order the page offers them.
PERSON_TYPES = (CHECKIN, COUNT_ENTRY, MOVEMENT, ALERT, LEDGER)
ALERT_SUMMARY_TIMES = frozenset({"acknowledged_at", "resolved_at"})


def people_of(facility: Facility) -> QuerySet[Inmate]:
    """Everyone whose custody the facility answers for: held there now, or
    transferred out of it (their time there stays auditable)."""
    transferred_out = Movement.objects.filter(facility=facility, kind=MovementKind.TRANSFER).values(
        "inmate_id"
    )
    return Inmate.objects.filter(Q(facility=facility) | Q(pk__in=transferred_out))


def people_search(*, facility: Facility, query: str = "") -> QuerySet[Inmate]:
    """People of the facility whose booking number or name holds every word
    of ``query``, by last name."""
    people = people_of(facility).select_related("facility", "cell")
    for word in query.split()[:6]:
        people = people.filter(
            Q(booking_number__icontains=word)
            | Q(first_name__icontains=word)
            | Q(last_name__icontains=word)
        )
    return people.order_by("last_name", "first_name", "booking_number")


def person_timeline(
    *,
    inmate: Inmate,
    user,
    since: datetime | None = None,
    until: datetime | None = None,
    types=PERSON_TYPES,
) -> Timeline:
    """The person's custody history in the caller's facilities, with an
    ``alert`` row for each alert about them, oldest first."""
    history = inmate_history(
        inmate=inmate,
        user=user,
        since=since,
        until=until,
        types=types,
        ledger_leave_out=("alert.",),
    )
    branches = dict(history.branches)
    if ALERT in types:
        branches[ALERT] = _alerts(inmate, visible_facility_ids(user), since, until)
    return Timeline(branches)


def _alerts(inmate: Inmate, facility_ids: list[int], since, until):
    # On alert_inmate_time (inmate, opened_at).
    return timeline_entry(
        Alert.objects.filter(inmate=inmate, facility_id__in=facility_ids),
        entry_type=ALERT,
        at="opened_at",
        numeric_id=True,
        since=since,
        until=until,
        summary=JSONObject(
            facility=F("facility__code"),
            kind=F("kind"),
            severity=F("severity"),
            status=F("status"),
            location=F("location__code"),
            escalation_level=F("escalation_level"),
            acknowledged_at=F("acknowledged_at"),
            acknowledged_by=F("acknowledged_by__username"),
            resolved_at=F("resolved_at"),
            resolved_by=F("resolved_by__username"),
            resolution=F("resolution"),
        ),
    )
