"""Who took part in a record: the officers behind a count, a scan or a
movement. A watcher (the alerts app) asks, so that nobody closes the alarm
about their own work. One query per kind of record, however many are asked.
"""

from datetime import datetime

from django.db.models import Q

from custody.models import CheckIn, Movement, RollCall, RollCallEntry

MOVEMENT_OFFICERS = ("requested_by_id", "approved_by_id", "departed_by_id")


def movement_officers(ids) -> dict[int, set[int]]:
    """By movement: who requested, approved or took the person out."""
    found: dict[int, set[int]] = {}
    for row in Movement.objects.filter(pk__in=list(ids)).values("id", *MOVEMENT_OFFICERS):
        found[row["id"]] = {row[name] for name in MOVEMENT_OFFICERS if row[name]}
    return found


def count_officers(ids) -> dict[str, set[int]]:
    """By count (each id given, and its recounts with it): who started,
    submitted or marked anyone on it."""
    roots = {str(pk) for pk in ids}
    if not roots:
        return {}
    owner = {}  # count id -> the id asked about it
    found: dict[str, set[int]] = {pk: set() for pk in roots}
    for pk, recount_of, started, submitted in RollCall.objects.filter(
        Q(pk__in=roots) | Q(recount_of_id__in=roots)
    ).values_list("id", "recount_of_id", "started_by_id", "submitted_by_id"):
        key = str(pk) if str(pk) in roots else str(recount_of)
        owner[pk] = key
        found[key] |= {user for user in (started, submitted) if user}
    for rollcall_id, marker in (
        RollCallEntry.objects.filter(rollcall_id__in=list(owner), recorded_by__isnull=False)
        .values_list("rollcall_id", "recorded_by_id")
        .distinct()
    ):
        found[owner[rollcall_id]].add(marker)
    return found


def sighting_recorders(pairs: list[tuple[int, datetime]]) -> dict[tuple[int, datetime], int]:
    """By (inmate, observed_at): the officer who posted a check-in then
    (devices record nobody). Read by ``checkin_inmate_time``."""
    if not pairs:
        return {}
    condition = Q()
    for inmate_id, at in pairs:
        condition |= Q(inmate_id=inmate_id, observed_at=at)
    return {
        (inmate_id, at): user
        for inmate_id, at, user in CheckIn.objects.filter(condition, recorded_by__isnull=False)
        .order_by()
        .values_list("inmate_id", "observed_at", "recorded_by_id")
    }
