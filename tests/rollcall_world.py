"""A unit to count: two units of cells, people in them, officers of each role."""

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from custody.models import Facility, Location
from custody.services import recounts
from tests import factories


@dataclass
class CountWorld:
    facility: Facility
    unit: Location
    other_unit: Location
    cells: list
    people: list = field(default_factory=list)
    users: dict = field(default_factory=dict)

    def booking(self, index: int) -> str:
        return self.people[index]["booking_number"]


def count_world(facility, make_user, *, people: int = 6, unit_code: str = "B") -> CountWorld:
    unit = factories.LocationFactory(facility=facility, code=unit_code, kind="unit")
    other = factories.LocationFactory(facility=facility, code=f"{unit_code}X", kind="unit")
    cells = [
        factories.CellFactory(facility=facility, parent=unit, code=f"{unit_code}-{n:02d}")
        for n in range(1, 4)
    ]
    other_cell = factories.CellFactory(facility=facility, parent=other, code=f"{unit_code}X-01")
    world = CountWorld(facility=facility, unit=unit, other_unit=other, cells=[*cells, other_cell])
    for n in range(people):
        inmate = factories.InmateFactory(
            facility=facility, cell=cells[n % len(cells)], booking_number=f"GT-{unit_code}-{n:04d}"
        )
        world.people.append({"booking_number": inmate.booking_number, "inmate": inmate})
    # Someone in the other unit: never on this unit's roster.
    factories.InmateFactory(facility=facility, cell=other_cell, booking_number=f"GT-{unit_code}X-1")
    for name, role in [
        ("guard", "guard"),
        ("guard2", "guard"),
        ("supervisor", "supervisor"),
        ("auditor", "auditor"),
        ("admin", "admin"),
    ]:
        world.users[name] = make_user(role, facility)
    return world


def entry(
    booking: str, status: str = "present", *, method: str = "visual", at: datetime | None = None
):
    return {
        "id": str(uuid.uuid4()),
        "inmate": booking,
        "status": status,
        "method": method,
        "observed_at": (at or timezone.now()).isoformat(),
    }


def verify_by_recount(rollcall, by, *, now=None, not_found=()):
    """A second officer's whole verification: the server draws the sample, the
    officer marks each drawn person (found, unless in ``not_found``), then
    finishes. Answers the count as the service leaves it."""
    now = now or timezone.now()
    verification = recounts.recount_start(rollcall=rollcall, by=by, now=now)
    recounts.recount_record_marks(
        rollcall=rollcall,
        raw_marks=[
            entry(
                row["inmate"],
                "absent" if row["inmate"] in not_found else "present",
                at=now,
            )
            for row in verification.sample
        ],
        by=by,
        now=now,
    )
    return recounts.rollcall_verify(rollcall=rollcall, by=by, now=now)
