"""Timelines: one person's custody history, and the shape every timeline shares.

A timeline is a ``UNION ALL`` of branches (check-ins, movements, ...) ordered
by (time, type, id), so the database sorts and pages it: a page costs the same
few queries however long the history is. Each branch gives the same columns:
``entry_at``, ``entry_type``, ``entry_id``, ``entry_sort`` (the id,
zero-padded where it is a number, so that ids sort as numbers), ``entry_tz``
(the facility's time zone) and ``entry_summary`` (a JSON object built by the
database). Other timelines (an officer's actions, a person's alerts) build
their branches with ``timeline_entry`` and page them with ``Timeline``.
"""

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import datetime

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

ORDER = ("entry_at", "entry_type", "entry_sort")


@dataclass(frozen=True)
class Branch:
    """One kind of timeline entry: its rows, in the timeline's columns, and
    the same records bare, so that counting them joins nothing."""

    rows: QuerySet
    records: QuerySet | None = None

    def count(self) -> int:
        return (self.records if self.records is not None else self.rows).count()


def timeline_entry(
    queryset: QuerySet,
    *,
    entry_type: str,
    at: str,
    summary: JSONObject,
    numeric_id: bool,
    tz="facility__timezone",
    since: datetime | None = None,
    until: datetime | None = None,
) -> Branch:
    """``queryset`` as a timeline branch, what happened (``at``) in [since, until).

    ``tz`` is the path to the facility's time zone, or an expression. The
    time bounds go on ``at`` itself, so each branch keeps its (…, time) index.
    """
    if since is not None:
        queryset = queryset.filter(**{f"{at}__gte": since})
    if until is not None:
        queryset = queryset.filter(**{f"{at}__lt": until})
    text_id = Cast("id", CharField())
    rows = queryset.order_by().values(
        entry_at=F(at),
        entry_type=Value(entry_type, output_field=CharField()),
        entry_id=text_id,
        entry_sort=LPad(text_id, 20, Value("0")) if numeric_id else text_id,
        entry_tz=F(tz) if isinstance(tz, str) else tz,
        entry_summary=summary,
    )
    return Branch(rows=rows, records=queryset.order_by())


def _checkins(inmate: Inmate, facility_ids: list[int], **window):
    return timeline_entry(
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
        **window,
    )


def _movements(inmate: Inmate, facility_ids: list[int], **window):
    # An incoming transfer belongs to the receiving facility's history too.
    scope = Q(facility_id__in=facility_ids) | Q(to_facility_id__in=facility_ids)
    return timeline_entry(
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
        **window,
    )


def _count_entries(inmate: Inmate, facility_ids: list[int], **window):
    """Marks on roll calls (present, absent, out), on ``entry_inmate_time``."""
    return timeline_entry(
        RollCallEntry.objects.filter(inmate=inmate, rollcall__facility_id__in=facility_ids),
        entry_type=COUNT_ENTRY,
        at="observed_at",
        numeric_id=False,
        tz="rollcall__facility__timezone",
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
        **window,
    )


def _ledger_events(inmate: Inmate, facility_ids: list[int], *, leave_out=(), **window):
    events = LedgerEvent.objects.filter(
        facility_id__in=facility_ids, subject=f"inmate:{inmate.booking_number}"
    )
    for prefix in leave_out:
        events = events.exclude(action__startswith=prefix)
    return timeline_entry(
        events,
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
        **window,
    )


class Timeline:
    """Rows of several branches in one order, sliced and counted the way a
    paginator asks.

    A page ``[start:stop]`` takes at most ``stop`` rows from each branch, in
    timeline order, through each branch's own index, and merges those; so the
    first pages of a history with years of check-ins cost what a short one
    does, instead of sorting all of it for every page. ``chunks`` reads the
    whole of it (exports) from key to key, so the last chunk costs what the
    first does.
    """

    def __init__(self, branches: dict[str, Branch]):
        self.branches = branches

    def count(self) -> int:
        return sum(branch.count() for branch in self.branches.values())

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, index):
        if not isinstance(index, slice) or index.step not in (None, 1):
            raise TypeError("a timeline is read a page (a plain slice) at a time")
        start, stop = index.start or 0, index.stop
        parts = [branch.rows for branch in self.branches.values()]
        if not parts:
            return []
        if len(parts) == 1:
            return list(parts[0].order_by(*ORDER)[start:stop])
        # Each branch stops at ``stop`` before the merge sorts them together.
        bounded = [part.order_by(*ORDER)[:stop] if stop else part for part in parts]
        merged = bounded[0].union(*bounded[1:], all=True).order_by(*ORDER)
        return list(merged[start:stop])

    def after(self, row: dict) -> "Timeline":
        """What comes after ``row`` (a row of this timeline), in order."""
        at, kind, sort = row["entry_at"], row["entry_type"], row["entry_sort"]
        later = {}
        # The type is a constant of each branch: compared here, so the
        # database sees a plain time range on the branch's index. The type
        # names sort alike here and in the database's collations
        # (tests/test_audit_timelines.py checks them).
        for entry_type, branch in self.branches.items():
            if entry_type > kind:
                rows = branch.rows.filter(entry_at__gte=at)
            elif entry_type < kind:
                rows = branch.rows.filter(entry_at__gt=at)
            else:
                rows = branch.rows.filter(
                    Q(entry_at__gt=at) | Q(entry_sort__gt=sort), entry_at__gte=at
                )
            later[entry_type] = Branch(rows=rows)
        return Timeline(later)

    def chunks(self, size: int = 1000) -> Iterator[list[dict]]:
        """The whole timeline, ``size`` rows a query round."""
        rest = self
        while True:
            rows = rest[0:size]
            if rows:
                yield rows
            if len(rows) < size:
                return
            rest = self.after(rows[-1])


def inmate_history(
    *,
    inmate: Inmate,
    user,
    since: datetime | None = None,
    until: datetime | None = None,
    types: Collection[str] = HISTORY_TYPES,
    ledger_leave_out: Collection[str] = (),
) -> Timeline:
    """Every check-in, roll-call mark, movement and ledger event of ``inmate`` in the
    caller's facilities, oldest first; slice it to page it.

    ``since``/``until`` keep what happened in [since, until); ``types`` keeps
    those kinds of entry; ``ledger_leave_out`` drops ledger actions starting
    with these prefixes (a page that shows them from their own records).
    """
    facility_ids = visible_facility_ids(user)
    window = {"since": since, "until": until}
    branches = {
        CHECKIN: lambda: _checkins(inmate, facility_ids, **window),
        COUNT_ENTRY: lambda: _count_entries(inmate, facility_ids, **window),
        MOVEMENT: lambda: _movements(inmate, facility_ids, **window),
        # Alerts about the person are ledger events (alert.*) on their subject.
        LEDGER: lambda: _ledger_events(
            inmate, facility_ids, leave_out=tuple(ledger_leave_out), **window
        ),
    }
    return Timeline({name: build() for name, build in branches.items() if name in types})
