"""Facilities and their location tree."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from custody.models import Facility, Location, LocationKind, User
from custody.services.inmates import inmates_tighten_deadlines

# --- Facilities ------------------------------------------------------------


@transaction.atomic
def facility_create(*, created_by: User | None = None, **fields) -> Facility:
    """A new facility; a non-superuser admin who creates it is assigned to it."""
    facility = Facility(**fields)
    facility.full_clean()
    facility.save()
    if created_by is not None and not created_by.is_superuser:
        created_by.facilities.add(facility)
        created_by.__dict__.pop("_visible_facility_ids", None)
    return facility


@transaction.atomic
def facility_update(*, facility: Facility, **fields) -> Facility:
    if "code" in fields and fields["code"] != facility.code:
        # Devices and tablets refer to facilities by code; renaming breaks them.
        raise ValidationError({"code": _("A facility's code cannot change.")})
    old_intervals = dict(facility.check_interval_seconds)
    for name, value in fields.items():
        setattr(facility, name, value)
    facility.full_clean()
    facility.save()
    if facility.check_interval_seconds != old_intervals:
        inmates_tighten_deadlines(facility=facility)
    return facility


# --- Locations -------------------------------------------------------------


def _check_location_parent(*, facility: Facility, parent: Location | None, location=None):
    if parent is None:
        return
    if parent.facility_id != facility.pk:
        raise ValidationError({"parent": _("The parent must be in the same facility.")})
    if parent.kind == LocationKind.CELL:
        raise ValidationError({"parent": _("A cell cannot contain other locations.")})
    node = parent
    while node is not None and location is not None:
        if node.pk == location.pk:
            raise ValidationError({"parent": _("A location cannot be inside itself.")})
        node = node.parent


@transaction.atomic
def location_create(*, facility: Facility, **fields) -> Location:
    """Codes are unique inside a facility; a parent lives in the same facility."""
    location = Location(facility=facility, **fields)
    _check_location_parent(facility=facility, parent=location.parent)
    location.full_clean()
    location.save()
    return location


@transaction.atomic
def location_update(*, location: Location, **fields) -> Location:
    if "facility" in fields and fields["facility"].pk != location.facility_id:
        raise ValidationError({"facility": _("A location cannot move to another facility.")})
    fields.pop("facility", None)
    if fields.get("kind", location.kind) != LocationKind.CELL and location.inmates.exists():
        raise ValidationError({"kind": _("People are assigned here; it must stay a cell.")})
    for name, value in fields.items():
        setattr(location, name, value)
    _check_location_parent(facility=location.facility, parent=location.parent, location=location)
    location.full_clean()
    location.save()
    return location
