"""Writes to the custody record. Each function states the rule it enforces.

Keyword-only arguments, one transaction each; views, admin and commands call
these rather than saving models themselves.
"""

from custody.services.access import (
    device_create,
    device_rotate_key,
    device_update,
    role_groups_ensure,
    user_access_snapshot,
    user_create,
    user_record_change,
    user_reset,
    user_update,
)
from custody.services.account_record import account_event, national_chain
from custody.services.account_rules import user_change_check, user_covered_by
from custody.services.facilities import (
    facility_create,
    facility_update,
    location_create,
    location_update,
)
from custody.services.inmates import (
    inmate_admit,
    inmate_update,
    inmates_admit_bulk,
    next_due_after,
)
from custody.services.ledger import (
    PendingEvent,
    actor_label,
    ledger_append,
    ledger_append_many,
    ledger_verify,
)
from custody.services.movement_extensions import (
    extension_approve,
    extension_reject,
    extension_request,
)
from custody.services.movements import (
    inmate_declare_absent,
    movement_approve,
    movement_arrive,
    movement_cancel,
    movement_depart,
    movement_request,
)

__all__ = [
    "PendingEvent",
    "account_event",
    "actor_label",
    "device_create",
    "device_rotate_key",
    "device_update",
    "extension_approve",
    "extension_reject",
    "extension_request",
    "facility_create",
    "facility_update",
    "inmate_admit",
    "inmate_declare_absent",
    "inmate_update",
    "inmates_admit_bulk",
    "ledger_append",
    "ledger_append_many",
    "ledger_verify",
    "location_create",
    "location_update",
    "movement_approve",
    "movement_arrive",
    "movement_cancel",
    "movement_depart",
    "movement_request",
    "national_chain",
    "next_due_after",
    "role_groups_ensure",
    "user_access_snapshot",
    "user_change_check",
    "user_covered_by",
    "user_create",
    "user_record_change",
    "user_reset",
    "user_update",
]
