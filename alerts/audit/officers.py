"""What officers did in a facility and a period: counts they took, checks they
recorded (and how many by eye alone), alerts they acknowledged and resolved,
movements and counts they vouched for.

Totals come from one aggregate query per kind of action, grouped by officer,
for a whole page of officers at once; an officer's actions read as one
timeline (``custody.selectors.Timeline``), each branch on an index that
starts with the officer's column.
"""

from dataclasses import dataclass, fields
from datetime import timedelta

from django.db.models import (
    Avg,
    CharField,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    Min,
    Q,
    QuerySet,
    Sum,
    Value,
)
from django.db.models.functions import Cast, JSONObject

from alerts.audit.period import Period
from alerts.models import Alert
from custody.models import (
    CheckIn,
    CheckInMethod,
    Facility,
    Movement,
    RollCall,
    RollCallEntry,
    User,
)
from custody.roles import CUSTODIAL_ROLES
from custody.selectors import Timeline, timeline_entry

ALERT_ACKNOWLEDGED = "alert_acknowledged"
ALERT_RESOLVED = "alert_resolved"
CHECKIN = "checkin"
COUNT_ENTRY = "count_entry"
COUNT_STARTED = "count_started"
COUNT_SUBMITTED = "count_submitted"
COUNT_VERIFIED = "count_verified"
MOVEMENT_APPROVED = "movement_approved"
ACTIVITY_TYPES = (
    ALERT_ACKNOWLEDGED,
    ALERT_RESOLVED,
    CHECKIN,
    COUNT_ENTRY,
    COUNT_STARTED,
    COUNT_SUBMITTED,
    COUNT_VERIFIED,
    MOVEMENT_APPROVED,
)
# Keys of an activity entry's summary that hold times (shown in facility time).
ACTIVITY_SUMMARY_TIMES = frozenset({"opened_at", "acknowledged_at", "received_at"})


def facility_officers(facility: Facility) -> QuerySet[User]:
    """People assigned to the facility with an acting role, by username; each
    with ``role_name``."""
    return (
        User.objects.filter(facilities=facility, groups__name__in=CUSTODIAL_ROLES)
        .annotate(role_name=Min("groups__name"))
        .order_by("username")
    )


@dataclass
class OfficerTotals:
    counts_started: int = 0
    counts_submitted: int = 0
    # People a count they submitted left unaccounted for.
    unaccounted: int = 0
    counts_verified: int = 0
    # Check-ins they recorded, a count's present marks among them (a present
    # mark is stored as a check-in too); marks of any status on counts.
    checkins: int = 0
    checkins_visual: int = 0
    entries: int = 0
    entries_visual: int = 0
    alerts_acknowledged: int = 0
    acknowledge_time: timedelta | None = None  # mean, from opening
    alerts_resolved: int = 0
    movements_approved: int = 0

    @property
    def visual_share(self) -> float | None:
        """Share of their check-ins vouched for by eye alone (no biometric
        proof). A present mark on a count is a check-in too (same id)."""
        return self.checkins_visual / self.checkins if self.checkins else None

    @property
    def approvals(self) -> int:
        return self.movements_approved + self.counts_verified

    def as_dict(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        seconds = self.acknowledge_time.total_seconds() if self.acknowledge_time else None
        data["acknowledge_seconds"] = seconds
        del data["acknowledge_time"]
        return {**data, "visual_share": self.visual_share, "approvals": self.approvals}


def officer_totals(
    *, facility: Facility, period: Period, officer_ids: list[int]
) -> dict[int, OfficerTotals]:
    """Each officer's totals in the facility and period: eight aggregate
    queries, however many officers (one per kind of action)."""
    totals = {pk: OfficerTotals() for pk in officer_ids}
    if not officer_ids:
        return totals

    def add(rows, by: str, **names):
        for row in rows:
            found = totals[row[by]]
            for attribute, key in names.items():
                setattr(found, attribute, row[key] if row[key] is not None else 0)

    since, until = period.since, period.until
    visual = Q(method=CheckInMethod.VISUAL)
    counts = RollCall.objects.filter(facility=facility)
    add(
        _grouped(counts, "started_by", "started_at", officer_ids, since, until, n=Count("id")),
        "started_by",
        counts_started="n",
    )
    add(
        _grouped(
            counts,
            "submitted_by",
            "submitted_at",
            officer_ids,
            since,
            until,
            n=Count("id"),
            unaccounted=Sum("unaccounted_count"),
        ),
        "submitted_by",
        counts_submitted="n",
        unaccounted="unaccounted",
    )
    add(
        _grouped(counts, "verified_by", "verified_at", officer_ids, since, until, n=Count("id")),
        "verified_by",
        counts_verified="n",
    )
    add(
        _grouped(
            CheckIn.objects.filter(facility=facility),
            "recorded_by",
            "observed_at",
            officer_ids,
            since,
            until,
            n=Count("id"),
            visual=Count("id", filter=visual),
        ),
        "recorded_by",
        checkins="n",
        checkins_visual="visual",
    )
    add(
        _grouped(
            RollCallEntry.objects.filter(rollcall__facility=facility),
            "recorded_by",
            "observed_at",
            officer_ids,
            since,
            until,
            n=Count("id"),
            visual=Count("id", filter=visual),
        ),
        "recorded_by",
        entries="n",
        entries_visual="visual",
    )
    alerts = Alert.objects.filter(facility=facility)
    rows = _grouped(
        alerts,
        "acknowledged_by",
        "acknowledged_at",
        officer_ids,
        since,
        until,
        n=Count("id"),
        wait=Avg(
            ExpressionWrapper(F("acknowledged_at") - F("opened_at"), output_field=DurationField())
        ),
    )
    for row in rows:
        totals[row["acknowledged_by"]].alerts_acknowledged = row["n"]
        totals[row["acknowledged_by"]].acknowledge_time = row["wait"]
    add(
        _grouped(alerts, "resolved_by", "resolved_at", officer_ids, since, until, n=Count("id")),
        "resolved_by",
        alerts_resolved="n",
    )
    add(
        _grouped(
            Movement.objects.filter(facility=facility),
            "approved_by",
            "approved_at",
            officer_ids,
            since,
            until,
            n=Count("id"),
        ),
        "approved_by",
        movements_approved="n",
    )
    return totals


def _grouped(queryset, by: str, at: str, officer_ids, since, until, **aggregates):
    return (
        queryset.filter(**{f"{by}_id__in": officer_ids, f"{at}__gte": since, f"{at}__lt": until})
        .values(by)
        .annotate(**aggregates)
        .order_by()
    )


def officer_summary(*, facility: Facility, officer: User, period: Period) -> OfficerTotals:
    return officer_totals(facility=facility, period=period, officer_ids=[officer.pk])[officer.pk]


def officer_activity(
    *, facility: Facility, officer: User, period: Period, types=ACTIVITY_TYPES
) -> Timeline:
    """Everything ``officer`` did in the facility during the period, oldest
    first, as timeline rows (slice it to page it)."""
    window = {"since": period.since, "until": period.until, "tz": Value(facility.timezone)}
    branches = {
        COUNT_STARTED: lambda: _counts(facility, officer, "started", window),
        COUNT_SUBMITTED: lambda: _counts(facility, officer, "submitted", window),
        COUNT_VERIFIED: lambda: _counts(facility, officer, "verified", window),
        CHECKIN: lambda: _checkins(facility, officer, window),
        COUNT_ENTRY: lambda: _entries(facility, officer, window),
        ALERT_ACKNOWLEDGED: lambda: _alerts(facility, officer, "acknowledged", window),
        ALERT_RESOLVED: lambda: _alerts(facility, officer, "resolved", window),
        MOVEMENT_APPROVED: lambda: _approvals(facility, officer, window),
    }
    return Timeline({name: build() for name, build in branches.items() if name in types})


def _counts(facility, officer, step: str, window):
    return timeline_entry(
        RollCall.objects.filter(facility=facility, **{f"{step}_by": officer}),
        entry_type=f"count_{step}",
        at=f"{step}_at",
        numeric_id=False,
        summary=JSONObject(
            location=F("location__code"),
            location_id=F("location_id"),
            kind=F("kind"),
            status=F("status"),
            expected=F("expected_count"),
            present=F("present_count"),
            out_authorized=F("out_count"),
            unaccounted=F("unaccounted_count"),
            started_by=F("started_by__username"),
            submitted_by=F("submitted_by__username"),
            verified_by=F("verified_by__username"),
        ),
        **window,
    )


def _checkins(facility, officer, window):
    # On checkin_recorder_time (recorded_by, observed_at), guards' checks only.
    return timeline_entry(
        CheckIn.objects.filter(facility=facility, recorded_by=officer),
        entry_type=CHECKIN,
        at="observed_at",
        numeric_id=False,
        summary=JSONObject(
            inmate=F("inmate__booking_number"),
            location=F("location__code"),
            location_id=F("location_id"),
            method=F("method"),
            biometric=F("is_biometric"),
            score=F("score"),
            out_of_place=F("out_of_place"),
            received_at=F("received_at"),
        ),
        **window,
    )


def _entries(facility, officer, window):
    # On entry_recorder_time (recorded_by, observed_at).
    return timeline_entry(
        RollCallEntry.objects.filter(rollcall__facility=facility, recorded_by=officer),
        entry_type=COUNT_ENTRY,
        at="observed_at",
        numeric_id=False,
        summary=JSONObject(
            inmate=F("inmate__booking_number"),
            rollcall=Cast("rollcall_id", CharField()),
            location=F("rollcall__location__code"),
            location_id=F("rollcall__location_id"),
            count_kind=F("rollcall__kind"),
            status=F("status"),
            method=F("method"),
            received_at=F("received_at"),
        ),
        **window,
    )


def _alerts(facility, officer, step: str, window):
    return timeline_entry(
        Alert.objects.filter(facility=facility, **{f"{step}_by": officer}),
        entry_type=f"alert_{step}",
        at=f"{step}_at",
        numeric_id=True,
        summary=JSONObject(
            kind=F("kind"),
            severity=F("severity"),
            status=F("status"),
            inmate=F("inmate__booking_number"),
            location=F("location__code"),
            location_id=F("location_id"),
            opened_at=F("opened_at"),
            acknowledged_at=F("acknowledged_at"),
            escalation_level=F("escalation_level"),
            resolution=F("resolution"),
        ),
        **window,
    )


def _approvals(facility, officer, window):
    return timeline_entry(
        Movement.objects.filter(facility=facility, approved_by=officer),
        entry_type=MOVEMENT_APPROVED,
        at="approved_at",
        numeric_id=True,
        summary=JSONObject(
            inmate=F("inmate__booking_number"),
            kind=F("kind"),
            status=F("status"),
            requested_by=F("requested_by__username"),
            to_location=F("to_location__code"),
            to_facility=F("to_facility__code"),
            destination=F("destination"),
        ),
        **window,
    )
