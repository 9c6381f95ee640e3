"""One person's custody timeline: what was observed, moved and recorded.

Built as a single ``UNION ALL`` ordered by (time, type, id), so the database
sorts and pages it: a page costs the same few queries however long the
history is. Each branch gives the same columns: ``entry_at``, ``entry_type``,
``entry_id``, ``entry_sort`` (the id, zero-padded where it is a number, so
that ids sort as numbers), ``entry_tz`` (the facility's time zone) and
``entry_summary`` (a JSON object built by the database).
"""

from django.db import connection
from django.db.models import CharField, F, Q, QuerySet, Value
from django.db.models.functions import Cast, JSONObject, LPad

from custody.models import CheckIn, Inmate, LedgerEvent, Movement, RollCallEntry
from custody.selectors.records import visible_facility_ids

CHECKIN, COUNT_ENTRY, LEDGER, MOVEMENT = "checkin", "count_entry", "ledger", "movement"
HISTORY_TYPES = (CHECKIN, COUNT_ENTRY, LEDGER, MOVEMENT)

# Keys of ``entry_summary`` holding times; the API shows them in facility time.
SUMMARY_TIMES = frozenset(
    {
        "received_at",
        "approved_at",
        "departed_at",
        "completed_at",
        "cancelled_at",
        "expected_back_at",
        "expected_arrival_at",
    }
)


def _entry(
    queryset,
    *,
    entry_type: str,
    at: str,
    summary: JSONObject,
    numeric_id: bool,
    facility: str = "facility",
):
    text_id = Cast("id", CharField())
    return queryset.order_by().values(
        entry_at=F(at),
        entry_type=Value(entry_type, output_field=CharField()),
        entry_id=text_id,
        entry_sort=LPad(text_id, 20, Value("0")) if numeric_id else text_id,
        entry_tz=F(f"{facility}__timezone"),
        entry_summary=summary,
    )


def _checkins(inmate: Inmate, facility_ids: list[int]):
    return _entry(
        CheckIn.objects.filter(inmate=inmate, facility_id__in=facility_ids),
        entry_type=CHECKIN,
        at="observed_at",
        numeric_id=False,
        summary=JSONObject(
            facility=F("facility__code"),
            location=F("location__code"),
            method=F("method"),
            biometric=F("is_biometric"),
            score=F("score"),
            out_of_place=F("out_of_place"),
            device=Cast("device_id", CharField()),
            device_name=F("device__name"),
            recorded_by=F("recorded_by__username"),
            received_at=F("received_at"),
        ),
    )


def _movements(inmate: Inmate, facility_ids: list[int]):
    # An incoming transfer belongs to the receiving facility's history too.
    scope = Q(facility_id__in=facility_ids) | Q(to_facility_id__in=facility_ids)
    return _entry(
        Movement.objects.filter(scope, inmate=inmate),
        entry_type=MOVEMENT,
        at="requested_at",
        numeric_id=True,
        summary=JSONObject(
            facility=F("facility__code"),
            kind=F("kind"),
            status=F("status"),
            from_location=F("from_location__code"),
            to_location=F("to_location__code"),
            to_facility=F("to_facility__code"),
            destination=F("destination"),
            reason=F("reason"),
            requested_by=F("requested_by__username"),
            approved_by=F("approved_by__username"),
            approved_at=F("approved_at"),
            departed_at=F("departed_at"),
            completed_at=F("completed_at"),
            cancelled_at=F("cancelled_at"),
            expected_back_at=F("expected_back_at"),
            expected_arrival_at=F("expected_arrival_at"),
        ),
    )


def _count_entries(inmate: Inmate, facility_ids: list[int]):
    """Marks on roll calls (present, absent, out), on ``entry_inmate_time``."""
    return _entry(
        RollCallEntry.objects.filter(inmate=inmate, rollcall__facility_id__in=facility_ids),
        entry_type=COUNT_ENTRY,
        at="observed_at",
        numeric_id=False,
        facility="rollcall__facility",
        summary=JSONObject(
            facility=F("rollcall__facility__code"),
            location=F("rollcall__location__code"),
            rollcall=Cast("rollcall_id", CharField()),
            count_kind=F("rollcall__kind"),
            status=F("status"),
            method=F("method"),
            recorded_by=F("recorded_by__username"),
            received_at=F("received_at"),
        ),
    )


def _ledger_events(inmate: Inmate, facility_ids: list[int]):
    return _entry(
        LedgerEvent.objects.filter(
            facility_id__in=facility_ids, subject=f"inmate:{inmate.booking_number}"
        ),
        entry_type=LEDGER,
        at="at",
        numeric_id=True,
        summary=JSONObject(
            facility=F("facility__code"),
            seq=F("seq"),
            actor=F("actor"),
            action=F("action"),
            data=F("data"),
        ),
    )


ORDER = ("entry_at", "entry_type", "entry_sort")


class Timeline:
    """A person's history, sliced and counted the way a paginator asks.

    A page ``[start:stop]`` takes at most ``stop`` rows from each branch, in
    timeline order, through each branch's own index, and merges those; so the
    first pages of a history with years of check-ins cost what a short one
    does, instead of sorting all of it for every page.
    """

    def __init__(self, parts: list[QuerySet]):
        self.parts = parts

    def count(self) -> int:
        return sum(part.count() for part in self.parts)

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, index):
        if not isinstance(index, slice) or index.step not in (None, 1):
            raise TypeError("a timeline is read a page (a plain slice) at a time")
        start, stop = index.start or 0, index.stop
        # SQLite (the embedded demo) cannot slice inside a UNION; it sorts all.
        can_bound = stop and connection.features.supports_slicing_ordering_in_compound
        bounded = [part.order_by(*ORDER)[:stop] if can_bound else part for part in self.parts]
        merged = bounded[0].union(*bounded[1:], all=True).order_by(*ORDER)
        return list(merged[start:stop])


def inmate_history(*, inmate: Inmate, user) -> Timeline:
    """Every check-in, roll-call mark, movement and ledger event of ``inmate`` in the
    caller's facilities, oldest first. Slice it to page it."""
    facility_ids = visible_facility_ids(user)
    return Timeline(
        [
            _checkins(inmate, facility_ids),
            _count_entries(inmate, facility_ids),
            _movements(inmate, facility_ids),
            # Alerts about the person are ledger events (alert.*) on their subject.
            _ledger_events(inmate, facility_ids),
        ]
    )
