"""Reads of roll calls: rosters, marks, the units that can be counted and
when their last count cleared. Scoped by the caller's facilities where a
person asks; the roster helpers serve the services."""

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Max, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from custody.models import (
    PLACEMENT_KINDS,
    CountCall,
    CountKind,
    CountSchedule,
    EntryStatus,
    Facility,
    Inmate,
    InmateStatus,
    Location,
    Movement,
    MovementStatus,
    RollCall,
    RollCallEntry,
    RollCallExpected,
    RollCallStatus,
)
from custody.selectors.records import visible_facility_ids

# An emergency count answers the latest call made within this long.
EMERGENCY_CALL_WINDOW = timedelta(hours=6)
ROSTER_STATUSES = (InmateStatus.IN_CUSTODY, InmateStatus.OUT_AUTHORIZED)
SETTLED = (RollCallStatus.SUBMITTED, RollCallStatus.VERIFIED)


def rollcall_scope(*, user) -> QuerySet[RollCall]:
    """The counts of the caller's facilities, nothing joined."""
    return RollCall.objects.filter(facility_id__in=visible_facility_ids(user))


def rollcall_list(*, user) -> QuerySet[RollCall]:
    return RollCall.objects.filter(facility_id__in=visible_facility_ids(user)).select_related(
        "facility", "location", "started_by", "submitted_by", "verified_by", "cancelled_by"
    )


def count_schedule_list(*, user) -> QuerySet[CountSchedule]:
    return CountSchedule.objects.filter(facility_id__in=visible_facility_ids(user)).select_related(
        "facility", "location", "created_by"
    )


def cells_within(location: Location) -> set[int]:
    """The cells (and reception areas: people wait there on the roll) in the
    location, two levels down (unit → wing → cell), as placement and
    check-ins see it; a cell is within itself."""
    return set(
        Location.objects.filter(
            Q(pk=location.pk) | Q(parent=location) | Q(parent__parent=location),
            kind__in=PLACEMENT_KINDS,
        ).values_list("pk", flat=True)
    )


def counting_units(facility: Facility) -> list[Location]:
    """What a count is taken of: locations holding cells (or reception
    areas), and those with no unit above them; ordered by code."""
    return list(
        Location.objects.filter(facility=facility)
        .filter(
            Q(children__kind__in=PLACEMENT_KINDS) | Q(kind__in=PLACEMENT_KINDS, parent__isnull=True)
        )
        .distinct()
        .order_by("code")
    )


def roster_candidates(cells: set[int]) -> list[dict]:
    """Who a count of the unit holding ``cells`` expects right now: everyone
    in those cells, in custody or out on an authorised movement (with where)."""
    rows = list(
        Inmate.objects.filter(cell_id__in=cells, status__in=ROSTER_STATUSES)
        .order_by()
        .values_list("pk", "cell_id", "status")
    )
    away = {
        m["inmate_id"]: m
        for m in Movement.objects.filter(
            inmate_id__in=[pk for pk, _, status in rows if status == InmateStatus.OUT_AUTHORIZED],
            status=MovementStatus.DEPARTED,
        ).values("inmate_id", "pk", "kind", "destination", "to_location__code")
    }
    roster = []
    for pk, cell_id, status in rows:
        movement = away.get(pk)
        roster.append(
            {
                "inmate_id": pk,
                "cell_id": cell_id,
                "status": status,
                "movement_id": movement["pk"] if movement else None,
                "whereabouts": _whereabouts(movement),
            }
        )
    return roster


def _whereabouts(movement: dict | None) -> str:
    if movement is None:
        return ""
    parts = [movement["kind"], movement["to_location__code"] or "", movement["destination"]]
    return " · ".join(p for p in parts if p)[:200]


def latest_by_person(marks: QuerySet, *fields: str) -> dict[int, tuple]:
    """Each person's latest of ``marks`` (count entries, recount marks), by
    the mark's own time, then arrival: ``fields`` of it, by inmate id. An
    officer who taps the wrong person corrects by marking again."""
    latest = {}
    for inmate_id, *values in marks.order_by("inmate_id", "observed_at", "received_at").values_list(
        "inmate_id", *fields
    ):
        latest[inmate_id] = tuple(values)
    return latest


def latest_marks(rollcall: RollCall) -> dict[int, tuple[str, str]]:
    """Each person's latest mark on the count and its method."""
    return latest_by_person(RollCallEntry.objects.filter(rollcall=rollcall), "status", "method")


@dataclass(frozen=True)
class RosterLine:
    booking_number: str
    name: str
    cell: str
    status: str  # at the start
    whereabouts: str
    mark: str | None
    # Where the record has the person now (a movement may have taken them).
    status_now: str
    cell_id_now: int | None
    # How the latest mark was made (rfid, manual, visual...).
    mark_method: str | None = None


def rollcall_roster(rollcall: RollCall) -> list[RosterLine]:
    """The frozen roster with each person's latest mark, in cell order (two queries)."""
    marks = latest_marks(rollcall)
    rows = (
        RollCallExpected.objects.filter(rollcall=rollcall)
        .order_by("cell__code", "inmate__booking_number")
        .values_list(
            "inmate_id",
            "inmate__booking_number",
            "inmate__first_name",
            "inmate__last_name",
            "cell__code",
            "status",
            "whereabouts",
            "inmate__status",
            "inmate__cell_id",
        )
    )
    return [
        RosterLine(
            booking_number=booking,
            name=f"{first} {last}",
            cell=cell,
            status=status,
            whereabouts=where,
            mark=marks.get(inmate_id, (None, None))[0],
            status_now=status_now,
            cell_id_now=cell_id_now,
            mark_method=marks.get(inmate_id, (None, None))[1],
        )
        for inmate_id, booking, first, last, cell, status, where, status_now, cell_id_now in rows
    ]


def live_tally(lines) -> dict:
    """A count's figures from its roster lines before it is settled (anything
    with ``mark`` and ``status``, the status at the start): ``left`` are the
    people in the unit nobody has marked yet."""
    inside = [line for line in lines if line.status != InmateStatus.OUT_AUTHORIZED]
    return {
        "present": sum(1 for line in lines if line.mark == EntryStatus.PRESENT),
        "absent": sum(1 for line in lines if line.mark == EntryStatus.ABSENT),
        "out": sum(
            1
            for line in lines
            if line.status == InmateStatus.OUT_AUTHORIZED and line.mark != EntryStatus.PRESENT
        ),
        "unmarked": sum(1 for line in lines if line.mark is None),
        "left": [line for line in inside if line.mark is None],
    }


def last_counts_by_unit(facility: Facility) -> dict[str, dict]:
    """Per counted unit code: when its last count was submitted (``last_at``),
    which count that was (``last_id``) and how many it left unaccounted
    (``last_unaccounted``), and when one last cleared (``last_cleared_at``,
    nobody unaccounted); one query."""
    latest = RollCall.objects.filter(location=OuterRef("location"), status__in=SETTLED).order_by(
        "-submitted_at", "-pk"
    )
    rows = (
        RollCall.objects.filter(facility=facility, status__in=SETTLED)
        .values("location", "location__code")
        .annotate(
            last_at=Max("submitted_at"),
            last_cleared_at=Max("submitted_at", filter=Q(unaccounted_count=0)),
            last_id=Subquery(latest.values("pk")[:1]),
            last_unaccounted=Subquery(latest.values("unaccounted_count")[:1]),
        )
        .order_by()
    )
    return {row["location__code"]: row for row in rows}


def counts_in_progress(facility: Facility) -> dict[int, RollCall]:
    return {
        rc.location_id: rc
        for rc in RollCall.objects.filter(
            facility=facility, status=RollCallStatus.IN_PROGRESS
        ).select_related("started_by")
    }


def counts_awaiting_verification(*, user) -> QuerySet[RollCall]:
    return (
        rollcall_list(user=user)
        .filter(status=RollCallStatus.SUBMITTED, kind=CountKind.FORMAL)
        .order_by("submitted_at")
    )


def took_part(rollcall: RollCall, user) -> bool:
    """Started, submitted or marked anyone on the count: not a second officer."""
    return user.pk in (rollcall.started_by_id, rollcall.submitted_by_id) or (
        RollCallEntry.objects.filter(rollcall=rollcall, recorded_by=user).exists()
    )


def recount_root(rollcall: RollCall) -> RollCall:
    """Recounts all point at the first count of their chain."""
    return rollcall.recount_of if rollcall.recount_of_id else rollcall


def open_emergency_call(facility: Facility, now=None) -> CountCall | None:
    """The emergency call an emergency count started now would answer."""
    now = now or timezone.now()
    return (
        CountCall.objects.filter(facility=facility, called_at__gte=now - EMERGENCY_CALL_WINDOW)
        .order_by("-called_at")
        .first()
    )
