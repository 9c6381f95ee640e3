"""The record of who is where.

Business rules live in ``services`` (writes) and ``selectors`` (reads);
models hold fields, constraints and small derived properties only.
"""

from custody.models.checkins import (
    MAX_CHECKIN_AGE,
    CheckIn,
    CheckInMethod,
    QuarantinedCheckIn,
)
from custody.models.ledger import GENESIS_HASH, LedgerEvent, LedgerHead
from custody.models.movements import (
    CellAssignment,
    Movement,
    MovementKind,
    MovementStatus,
)
from custody.models.records import (
    CLOCK_SKEW,
    CODE_VALIDATOR,
    DEFAULT_CHECK_INTERVAL_SECONDS,
    DEVICE_KEY_PREFIX,
    MAX_CHECK_INTERVAL_SECONDS,
    MAX_GRACE_SECONDS,
    MIN_CHECK_INTERVAL_SECONDS,
    Device,
    DeviceKind,
    Facility,
    Inmate,
    InmateStatus,
    Location,
    LocationKind,
    Role,
    SecurityLevel,
    User,
    default_check_intervals,
    hash_device_key,
    validate_check_intervals,
    validate_timezone,
)

__all__ = [
    "CLOCK_SKEW",
    "CODE_VALIDATOR",
    "DEFAULT_CHECK_INTERVAL_SECONDS",
    "DEVICE_KEY_PREFIX",
    "GENESIS_HASH",
    "MAX_CHECKIN_AGE",
    "MAX_CHECK_INTERVAL_SECONDS",
    "MAX_GRACE_SECONDS",
    "MIN_CHECK_INTERVAL_SECONDS",
    "CellAssignment",
    "CheckIn",
    "CheckInMethod",
    "Device",
    "DeviceKind",
    "Facility",
    "Inmate",
    "InmateStatus",
    "LedgerEvent",
    "LedgerHead",
    "Location",
    "LocationKind",
    "Movement",
    "MovementKind",
    "MovementStatus",
    "QuarantinedCheckIn",
    "Role",
    "SecurityLevel",
    "User",
    "default_check_intervals",
    "hash_device_key",
    "validate_check_intervals",
    "validate_timezone",
]
