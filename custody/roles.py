"""Every set of roles the service checks, named once.

Permissions, services and pages read their sets from here, so a rule such as
"only a supervisor or an administrator approves a movement" has one name
wherever it is enforced. A role is a group name (``custody.models.Role``).
"""

from custody.models import Role

ALL_ROLES = frozenset(Role.values)

# Administrators alone: facilities, people's accounts, devices.
ADMIN_ROLES = frozenset({Role.ADMIN})

# Those who answer for the record: approve movements, verify and cancel counts,
# act on alerts, edit count schedules.
SUPERVISING_ROLES = frozenset({Role.SUPERVISOR, Role.ADMIN})

# Those who keep custody day to day: take counts and post check-ins. Auditors
# change nothing, so these are also the officers the audit workspace watches.
CUSTODIAL_ROLES = frozenset({Role.GUARD, Role.SUPERVISOR, Role.ADMIN})

# Those who may read the ledger, the quarantine and the auditor workspace;
# guards are the people these read about.
OVERSIGHT_ROLES = frozenset({Role.AUDITOR, Role.SUPERVISOR, Role.ADMIN})

# Those who may list a place's tags (custody.api.rounds): whoever prints or
# audits them, never guards, since a uid read off a list could be typed
# instead of scanned.
TAG_READER_ROLES = frozenset({Role.ADMIN, Role.AUDITOR})

# Roles that read and never write, whatever a view's ``write_roles`` say: an
# auditor's word must not be able to change the record it audits.
READ_ONLY_ROLES = frozenset({Role.AUDITOR})
