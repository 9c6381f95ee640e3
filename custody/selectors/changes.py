"""Pending changes as each person may see them (facility scope)."""

from django.db.models import Q, QuerySet
from django.utils import timezone

from custody.models import ChangeStatus, Facility, PendingChange
from custody.selectors.records import visible_facility_ids


def change_list(*, user) -> QuerySet[PendingChange]:
    return PendingChange.objects.filter(facility_id__in=visible_facility_ids(user)).select_related(
        "facility", "requested_by", "decided_by"
    )


def status_filter(status: str, *, now=None) -> Q:
    """A status as people read it: a pending change past its time is expired
    already, before the expiry pass has written so."""
    now = now or timezone.now()
    if status == ChangeStatus.PENDING:
        return Q(status=ChangeStatus.PENDING, expires_at__gt=now)
    if status == ChangeStatus.EXPIRED:
        return Q(status=ChangeStatus.EXPIRED) | Q(status=ChangeStatus.PENDING, expires_at__lte=now)
    return Q(status=status)


def shown_status(change: PendingChange, *, now=None) -> str:
    if change.status == ChangeStatus.PENDING and change.expires_at <= (now or timezone.now()):
        return ChangeStatus.EXPIRED
    return change.status


def changes_waiting(*, user, facility: Facility) -> list[PendingChange]:
    """What waits for a second officer in ``facility``, oldest first (the dashboard)."""
    return list(
        change_list(user=user)
        .filter(status_filter(ChangeStatus.PENDING), facility=facility)
        .order_by("requested_at", "id")[:50]
    )
