"""Each set of roles has one name, in ``custody.roles``: a permission that
builds its own set could drift from the rule it claims to enforce."""

import re
from pathlib import Path

from custody import roles
from custody.models import Role

REPO = Path(__file__).resolve().parent.parent
# A set or tuple literal of two or more roles: ``{Role.X, Role.Y}``, ``(Role.X, Role.Y)``.
ROLE_SET_LITERAL = re.compile(r"[\[({]\s*Role\.[A-Z]+\s*,\s*Role\.[A-Z]+")


def test_every_role_set_is_built_in_the_roles_module_only():
    offenders = []
    for package in ("custody", "alerts", "config"):
        for path in (REPO / package).rglob("*.py"):
            if path == REPO / "custody" / "roles.py" or "migrations" in path.parts:
                continue
            text = path.read_text()
            if ROLE_SET_LITERAL.search(text) or "frozenset({Role." in text:
                offenders.append(str(path.relative_to(REPO)))
    assert not offenders, f"role sets outside custody/roles.py: {offenders}"


def test_the_role_sets_say_what_their_names_say():
    assert set(Role.values) == roles.ALL_ROLES
    assert {"admin"} == roles.ADMIN_ROLES
    assert {"supervisor", "admin"} == roles.SUPERVISING_ROLES
    assert {"guard", "supervisor", "admin"} == roles.CUSTODIAL_ROLES
    assert {"auditor", "supervisor", "admin"} == roles.OVERSIGHT_ROLES
    assert {"auditor"} == roles.READ_ONLY_ROLES
    # An auditor reads everything an overseer reads and writes nothing.
    assert roles.READ_ONLY_ROLES <= roles.OVERSIGHT_ROLES
    assert not roles.READ_ONLY_ROLES & (roles.CUSTODIAL_ROLES | roles.SUPERVISING_ROLES)
