"""Reads of the custody record, always scoped to what the caller may see."""

from custody.selectors.checkins import checkin_list, quarantine_list
from custody.selectors.records import (
    device_list,
    facilities_visible_to,
    facility_overview,
    inmate_list,
    location_list,
    user_list,
    visible_facility_ids,
)

__all__ = [
    "checkin_list",
    "device_list",
    "facilities_visible_to",
    "facility_overview",
    "inmate_list",
    "location_list",
    "quarantine_list",
    "user_list",
    "visible_facility_ids",
]
