"""The live headcount of one facility (docs/api.md "Headcount")."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from django.db.models import Count, F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from custody.models import Facility, Inmate, InmateStatus
from custody.selectors.rollcalls import last_counts_by_unit

# The facility answers for these people: they are on its count.
EXPECTED_STATUSES = (
    InmateStatus.IN_CUSTODY,
    InmateStatus.OUT_AUTHORIZED,
    InmateStatus.MISSING,
    InmateStatus.ESCAPED,
)


@dataclass(frozen=True)
class LocationHeadcount:
    location: str | None
    expected: int
    present: int
    out_authorized: int
    unaccounted: int
    # The unit's last submitted roll call, and the last one that found everyone.
    last_count_at: datetime | None = None
    last_cleared_count_at: datetime | None = None
    # What that last count found: its id (a link to it) and who it missed.
    last_count_id: UUID | None = None
    last_count_unaccounted: int | None = None
    # In custody and proven by biometrics within the facility's identity window.
    identity_verified: int = 0


@dataclass(frozen=True)
class Headcount:
    facility: Facility
    as_of: datetime
    expected: int
    present: int
    out_authorized: int
    unaccounted: int
    in_transit: int
    by_location: list[LocationHeadcount]
    identity_verified: int = 0


def facility_headcount(*, facility: Facility, now: datetime | None = None) -> Headcount:
    """Who the facility answers for, and how many of them are accounted for, at ``now``.

    - **expected**: people of the facility (``Inmate.facility``) whose status
      is ``in_custody``, ``out_authorized``, ``missing`` or ``escaped``. A
      person ``in_transit`` (transfer departed, not yet arrived) is on neither
      facility's count; ``released`` and ``deceased`` are not counted.
    - **present**: ``in_custody`` and positively observed on schedule, i.e.
      ``now <= next_due_at + facility.grace_seconds`` (``next_due_at`` is the
      last positive observation, or admission, plus the interval of the
      person's security level). Exactly at the end of the grace is present.
    - **out_authorized**: status ``out_authorized`` (court, medical,
      temporary release: departed through an approved movement).
    - **unaccounted**: ``expected - present - out_authorized``: people in
      custody but overdue for an observation, plus everyone ``missing`` or
      ``escaped``.
    - **in_transit** (extra): people who left this facility on a transfer and
      have not yet arrived (the destination counts them only on arrival);
      shown apart, never part of ``expected``, and in no ``by_location`` row.
    - **by_location**: the same numbers per unit, the unit of a person being
      the parent of their cell, or the cell itself when it has no parent,
      given by its ``code``. Every unit with at least one expected person,
      ordered by code; expected people without a cell (possible for someone
      missing or escaped) come last under ``location: None``, so the rows
      always add up to the totals.
    - **as_of**: ``now``, the moment every number above was taken at.

    - **last_count_at** / **last_cleared_count_at** per unit: when its last
      roll call was submitted, and when one last found everyone (nobody
      unaccounted); None if never. **last_count_id** /
      **last_count_unaccounted**: that last roll call and how many it left
      unaccounted (a count's finding, beside the live figures).

    - **identity_verified** (per unit and in total): people in custody whose
      last fingerprint, face or iris observation (``identity_verified_at``)
      is within the facility's ``identity_window_seconds`` of ``now``
      (inclusive). Present by a guard's eyes is not proven: the gap between
      the two is what ``identity_unverified`` alerts on.

    Two SQL queries, whatever the size of the facility (the
    ``inmate_facility_status`` index serves the first; the second reads the
    roll calls per unit). The caller scopes: pass only a facility the
    requester may see.
    """
    now = now or timezone.now()
    # next_due_at + grace >= now  <=>  next_due_at >= now - grace: compared on
    # the column itself, so the database does no arithmetic per row.
    on_schedule_since = now - timedelta(seconds=facility.grace_seconds)
    proven_since = now - timedelta(seconds=facility.identity_window_seconds)
    rows = (
        Inmate.objects.filter(
            facility=facility, status__in=(*EXPECTED_STATUSES, InmateStatus.IN_TRANSIT)
        )
        .annotate(unit=Coalesce("cell__parent__code", "cell__code"))
        .values("unit")
        .annotate(
            expected=Count("id", filter=Q(status__in=EXPECTED_STATUSES)),
            present=Count(
                "id",
                filter=Q(status=InmateStatus.IN_CUSTODY, next_due_at__gte=on_schedule_since),
            ),
            out_authorized=Count("id", filter=Q(status=InmateStatus.OUT_AUTHORIZED)),
            in_transit=Count("id", filter=Q(status=InmateStatus.IN_TRANSIT)),
            identity_verified=Count(
                "id",
                filter=Q(status=InmateStatus.IN_CUSTODY, identity_verified_at__gte=proven_since),
            ),
        )
        .order_by(F("unit").asc(nulls_last=True))
    )
    counts = last_counts_by_unit(facility)
    by_location = []
    in_transit = 0
    for row in rows:
        in_transit += row["in_transit"]
        if not row["expected"]:
            continue  # only people in transit (who hold no cell)
        counted = counts.get(row["unit"], {})
        by_location.append(
            LocationHeadcount(
                location=row["unit"],
                expected=row["expected"],
                present=row["present"],
                out_authorized=row["out_authorized"],
                unaccounted=row["expected"] - row["present"] - row["out_authorized"],
                last_count_at=counted.get("last_at"),
                last_cleared_count_at=counted.get("last_cleared_at"),
                last_count_id=counted.get("last_id"),
                last_count_unaccounted=counted.get("last_unaccounted"),
                identity_verified=row["identity_verified"],
            )
        )
    return Headcount(
        facility=facility,
        as_of=now,
        expected=sum(r.expected for r in by_location),
        present=sum(r.present for r in by_location),
        out_authorized=sum(r.out_authorized for r in by_location),
        unaccounted=sum(r.unaccounted for r in by_location),
        in_transit=in_transit,
        by_location=by_location,
        identity_verified=sum(r.identity_verified for r in by_location),
    )
