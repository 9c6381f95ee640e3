"""Reads of the custody record, always scoped to what the caller may see."""

from custody.selectors import due
from custody.selectors.checkins import checkin_list, quarantine_list
from custody.selectors.headcount import facility_headcount
from custody.selectors.history import Timeline, inmate_history, timeline_entry
from custody.selectors.ledger import (
    ledger_around,
    ledger_chain,
    ledger_chain_owners,
    ledger_event_list,
    ledger_facilities,
    ledger_head,
    ledger_recent,
)
from custody.selectors.movements import (
    cell_assignment_list,
    internal_unpaired,
    movement_list,
    movement_session_list,
)
from custody.selectors.occupancy import location_occupancy
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
    "Timeline",
    "cell_assignment_list",
    "checkin_list",
    "device_list",
    "due",
    "facilities_visible_to",
    "facility_headcount",
    "facility_overview",
    "inmate_history",
    "inmate_list",
    "internal_unpaired",
    "ledger_around",
    "ledger_chain",
    "ledger_chain_owners",
    "ledger_event_list",
    "ledger_facilities",
    "ledger_head",
    "ledger_recent",
    "location_list",
    "location_occupancy",
    "movement_list",
    "movement_session_list",
    "quarantine_list",
    "timeline_entry",
    "user_list",
    "visible_facility_ids",
]
