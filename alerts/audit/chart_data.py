"""What the workspace's charts show: counts per unit, alerts per day, and how
long alerts waited for a person.

Each reader is one grouped query, whatever the period holds: the database
counts, sums and takes percentiles; Python only arranges the result. Days are
the facility's local days.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db.models import (
    Aggregate,
    Count,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Sum,
)
from django.db.models.functions import TruncDate
from django.utils.translation import gettext_lazy as _

from alerts.audit.period import Period
from alerts.models import Alert, AlertKind
from custody.models import (
    PLACEMENT_KINDS,
    Facility,
    Location,
    LocationKind,
    RollCall,
    RollCallStatus,
)

# Counts with a result: their figures are final.
SETTLED = (RollCallStatus.SUBMITTED, RollCallStatus.VERIFIED)


# --- Units and their counts ----------------------------------------------------


def counted_units(facility: Facility) -> QuerySet[Location]:
    """The places a count is taken of: units, places holding cells, cells with
    no unit above them, and anywhere a count was ever taken (a wing emptied
    since keeps its history)."""
    holds_cells = Exists(Location.objects.filter(parent=OuterRef("pk"), kind__in=PLACEMENT_KINDS))
    was_counted = Exists(RollCall.objects.filter(location=OuterRef("pk")))
    return (
        Location.objects.filter(facility=facility)
        .filter(
            Q(kind=LocationKind.UNIT)
            | Q(kind__in=PLACEMENT_KINDS, parent__isnull=True)
            | holds_cells
            | was_counted
        )
        .order_by("code")
    )


@dataclass(frozen=True)
class UnitSummary:
    unit: Location
    counts: int = 0  # settled counts submitted in the period
    with_unaccounted: int = 0  # of which found someone unaccounted
    unaccounted: int = 0  # people unaccounted, summed over those counts
    last_count_at: datetime | None = None


def first_activity(facility: Facility) -> datetime | None:
    """When the facility's first alert opened or first count started, whichever
    came first: what the overview's charts can show (two index reads)."""
    firsts = [
        Alert.objects.filter(facility=facility)
        .order_by("opened_at")
        .values_list("opened_at", flat=True)[:1],
        RollCall.objects.filter(facility=facility)
        .order_by("started_at")
        .values_list("started_at", flat=True)[:1],
    ]
    found = [moment for query in firsts for moment in query]
    return min(found, default=None)


def unit_summaries(facility: Facility, period: Period) -> list[UnitSummary]:
    """Every counted unit of the facility with its counts of the period (two
    queries: the units, and the counts grouped by unit)."""
    units = list(counted_units(facility))
    figures = {
        row.pop("location_id"): row
        for row in RollCall.objects.filter(
            facility=facility,
            status__in=SETTLED,
            submitted_at__gte=period.since,
            submitted_at__lt=period.until,
        )
        .order_by()
        .values("location_id")
        .annotate(
            counts=Count("pk"),
            with_unaccounted=Count("pk", filter=Q(unaccounted_count__gt=0)),
            unaccounted=Sum("unaccounted_count"),
            last_count_at=Max("submitted_at"),
        )
    }
    return [UnitSummary(unit=unit, **figures.get(unit.pk, {})) for unit in units]


@dataclass(frozen=True)
class CountPoint:
    """One settled count, at the time it was submitted."""

    at: datetime
    expected: int
    present: int
    out: int
    unaccounted: int


def unit_count_series(unit: Location, period: Period) -> list[CountPoint]:
    """The unit's settled counts submitted in the period, oldest first."""
    rows = (
        RollCall.objects.filter(
            location=unit,
            status__in=SETTLED,
            # Started before it was submitted: bounds the walk of the unit's index.
            started_at__lt=period.until,
            submitted_at__gte=period.since,
            submitted_at__lt=period.until,
        )
        .order_by("submitted_at", "pk")
        .values_list(
            "submitted_at", "expected_count", "present_count", "out_count", "unaccounted_count"
        )
    )
    return [CountPoint(*row) for row in rows]


def unit_counts(unit: Location, period: Period) -> QuerySet[RollCall]:
    """Every count of the unit started in the period, whatever became of it,
    oldest first, with the officers joined."""
    return (
        RollCall.objects.filter(
            location=unit, started_at__gte=period.since, started_at__lt=period.until
        )
        .select_related("started_by", "submitted_by", "verified_by", "cancelled_by")
        .order_by("started_at", "pk")
    )


# --- Alerts per day --------------------------------------------------------------


@dataclass
class AlertsPerDay:
    days: list[date]
    kinds: list[str]  # the kinds that occurred, in AlertKind's order
    counts: dict[tuple[date, str], int] = field(default_factory=dict)

    def count(self, day: date, kind: str) -> int:
        return self.counts.get((day, kind), 0)

    def day_total(self, day: date) -> int:
        return sum(self.count(day, kind) for kind in self.kinds)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def alerts_per_day(facility: Facility, period: Period) -> AlertsPerDay:
    """Alerts opened in the period, per local day of the facility and kind."""
    rows = (
        Alert.objects.filter(
            facility=facility, opened_at__gte=period.since, opened_at__lt=period.until
        )
        .annotate(day=TruncDate("opened_at", tzinfo=facility.tzinfo))
        .order_by()
        .values("day", "kind")
        .annotate(n=Count("pk"))
    )
    counts = {(row["day"], row["kind"]): row["n"] for row in rows}
    seen = {kind for _day, kind in counts}
    return AlertsPerDay(
        days=period.days,
        kinds=[kind for kind in AlertKind.values if kind in seen],
        counts=counts,
    )


# --- Time to acknowledge and to resolve ----------------------------------------


class Percentile(Aggregate):
    """PostgreSQL's ``percentile_cont(fraction) WITHIN GROUP (ORDER BY x)``:
    the interpolated percentile of an interval, NULLs left out."""

    function = "PERCENTILE_CONT"
    name = "Percentile"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression, fraction: float, **extra):
        if not 0 < fraction < 1:
            raise ValueError("A percentile lies strictly between 0 and 1.")
        # A number we write ourselves, never input: safe to inline.
        super().__init__(
            expression, fraction=f"{float(fraction):.4f}", output_field=DurationField(), **extra
        )


# Upper bounds of the distribution's buckets; the last bucket is "longer".
BUCKET_LIMITS = (
    timedelta(minutes=5),
    timedelta(minutes=15),
    timedelta(hours=1),
    timedelta(hours=4),
    timedelta(hours=24),
)
BUCKET_LABELS = (
    _("5 min or less"),
    _("5 to 15 min"),
    _("15 min to 1 h"),
    _("1 to 4 h"),
    _("4 to 24 h"),
    _("more than 24 h"),
)


@dataclass(frozen=True)
class ResponseTimes:
    """How long the alerts of one kind opened in the period waited."""

    kind: str
    opened: int
    acknowledged: int  # by a person (resolving by hand acknowledges too)
    ack_median: timedelta | None
    ack_p90: timedelta | None
    resolved: int  # by a person, with a written reason
    resolve_median: timedelta | None
    resolve_p90: timedelta | None
    closed_by_observation: int  # the world fixed it: no person's response
    unresolved: int
    ack_buckets: tuple[int, ...]
    resolve_buckets: tuple[int, ...]

    @property
    def label(self) -> str:
        return AlertKind(self.kind).label


@dataclass
class ResponseReport:
    kinds: list[ResponseTimes]

    @property
    def ack_buckets(self) -> list[int]:
        return [sum(row.ack_buckets[i] for row in self.kinds) for i in range(len(BUCKET_LABELS))]

    @property
    def resolve_buckets(self) -> list[int]:
        return [
            sum(row.resolve_buckets[i] for row in self.kinds) for i in range(len(BUCKET_LABELS))
        ]

    @property
    def opened(self) -> int:
        return sum(row.opened for row in self.kinds)


def _bucket_counts(prefix: str, end: str, person: Q) -> dict:
    """``{prefix}_0 .. {prefix}_5``: how many waited up to each limit (and past the last)."""
    counts = {}
    lower = None
    for index, upper in enumerate((*BUCKET_LIMITS, None)):
        inside = person
        if lower is not None:
            inside &= Q(**{f"{end}__gt": F("opened_at") + lower})
        if upper is not None:
            inside &= Q(**{f"{end}__lte": F("opened_at") + upper})
        counts[f"{prefix}_{index}"] = Count("pk", filter=inside)
        lower = upper
    return counts


def response_times(facility: Facility, period: Period) -> ResponseReport:
    """Per kind, for alerts opened in the period: median and 90th percentile of
    the wait until a person acknowledged, and until a person resolved, and how
    many fell in each bucket of ``BUCKET_LIMITS``. Alerts closed by an
    observation are counted apart: their time says when the person was seen
    again, not how fast anyone answered."""
    to_ack = ExpressionWrapper(F("acknowledged_at") - F("opened_at"), output_field=DurationField())
    to_resolve = ExpressionWrapper(F("resolved_at") - F("opened_at"), output_field=DurationField())
    acknowledged = Q(acknowledged_at__isnull=False)
    by_person = Q(resolved_at__isnull=False, resolved_by__isnull=False)
    rows = (
        Alert.objects.filter(
            facility=facility, opened_at__gte=period.since, opened_at__lt=period.until
        )
        .order_by()
        .values("kind")
        .annotate(
            opened=Count("pk"),
            acknowledged=Count("pk", filter=acknowledged),
            ack_median=Percentile(to_ack, 0.5),
            ack_p90=Percentile(to_ack, 0.9),
            resolved=Count("pk", filter=by_person),
            resolve_median=Percentile(to_resolve, 0.5, filter=by_person),
            resolve_p90=Percentile(to_resolve, 0.9, filter=by_person),
            closed_by_observation=Count(
                "pk", filter=Q(resolved_at__isnull=False, resolved_by__isnull=True)
            ),
            unresolved=Count("pk", filter=Q(resolved_at__isnull=True)),
            **_bucket_counts("ack", "acknowledged_at", acknowledged),
            **_bucket_counts("res", "resolved_at", by_person),
        )
    )
    found = {}
    for row in rows:
        buckets = defaultdict(list)
        for prefix in ("ack", "res"):
            for index in range(len(BUCKET_LABELS)):
                buckets[prefix].append(row.pop(f"{prefix}_{index}"))
        found[row["kind"]] = ResponseTimes(
            **row, ack_buckets=tuple(buckets["ack"]), resolve_buckets=tuple(buckets["res"])
        )
    return ResponseReport(kinds=[found[kind] for kind in AlertKind.values if kind in found])
