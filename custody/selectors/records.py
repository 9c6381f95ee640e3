"""Reads, always scoped to what the caller may see (invariant 9, docs/architecture.md)."""

from django.db.models import Count, Q, QuerySet

from custody.authentication import DevicePrincipal
from custody.models import (
    Device,
    Facility,
    Inmate,
    InmateStatus,
    Location,
    LocationKind,
    User,
)


def facilities_visible_to(user) -> QuerySet[Facility]:
    if isinstance(user, DevicePrincipal):
        return Facility.objects.filter(pk=user.device.facility_id)
    if not getattr(user, "is_authenticated", False):
        return Facility.objects.none()
    if user.is_superuser:
        return Facility.objects.all()
    return Facility.objects.filter(users=user)


def visible_facility_ids(user) -> list[int]:
    # Materialised once per request: cheaper than a subquery in every filter.
    cache = getattr(user, "_visible_facility_ids", None)
    if cache is None:
        cache = list(facilities_visible_to(user).values_list("pk", flat=True))
        if not isinstance(user, DevicePrincipal):
            user._visible_facility_ids = cache
    return cache


def location_list(*, user) -> QuerySet[Location]:
    return Location.objects.filter(facility_id__in=visible_facility_ids(user)).select_related(
        "facility", "parent"
    )


def inmate_list(*, user) -> QuerySet[Inmate]:
    return Inmate.objects.filter(facility_id__in=visible_facility_ids(user)).select_related(
        "facility", "cell"
    )


def device_list(*, user) -> QuerySet[Device]:
    return Device.objects.filter(facility_id__in=visible_facility_ids(user)).select_related(
        "facility", "location"
    )


def user_list(*, user) -> QuerySet[User]:
    """Users who share at least one facility with the caller (all, for a superuser)."""
    qs = User.objects.prefetch_related("facilities", "groups")
    if user.is_superuser:
        return qs.order_by("username")
    # Superusers are national accounts: invisible to facility admins.
    return (
        qs.filter(facilities__in=visible_facility_ids(user), is_superuser=False)
        .distinct()
        .order_by("username")
    )


def facility_overview(*, user) -> list[dict]:
    """Per visible facility: people by status, cells and devices, in two queries."""
    facilities = list(
        facilities_visible_to(user)
        .annotate(
            cells=Count("locations", filter=Q(locations__kind=LocationKind.CELL), distinct=True),
            devices_count=Count("devices", distinct=True),
        )
        .order_by("code")
    )
    by_status = {}
    rows = (
        Inmate.objects.filter(facility__in=facilities)
        .values("facility_id", "status")
        .annotate(n=Count("id"))
    )
    for row in rows:
        by_status.setdefault(row["facility_id"], {})[row["status"]] = row["n"]
    return [
        {
            "facility": f,
            "cells": f.cells,
            "devices": f.devices_count,
            "by_status": [
                (label, by_status.get(f.pk, {}).get(value, 0))
                for value, label in InmateStatus.choices
            ],
        }
        for f in facilities
    ]
