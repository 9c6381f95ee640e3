"""A unit with tagged cells, people in them, a tablet and officers: rounds tests."""

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils import timezone

from custody.models import Device, Facility, Location
from custody.services import round_tags
from tests import factories


@dataclass
class RoundsWorld:
    facility: Facility
    unit: Location
    other_unit: Location
    cells: list
    tags: dict = field(default_factory=dict)  # cell code -> uid
    people: dict = field(default_factory=dict)  # cell code -> [Inmate]
    users: dict = field(default_factory=dict)
    tablet: Device | None = None
    tablet_key: str = ""


def rounds_world(facility, make_user, *, cells: int = 3, per_cell: int = 2) -> RoundsWorld:
    unit = factories.LocationFactory(facility=facility, code="R", kind="unit")
    other = factories.LocationFactory(facility=facility, code="RX", kind="unit")
    made = [
        factories.CellFactory(facility=facility, parent=unit, code=f"R-{n:02d}")
        for n in range(1, cells + 1)
    ]
    made.append(factories.CellFactory(facility=facility, parent=other, code="RX-01"))
    world = RoundsWorld(facility=facility, unit=unit, other_unit=other, cells=made)
    for name, role in [
        ("guard", "guard"),
        ("guard2", "guard"),
        ("supervisor", "supervisor"),
        ("supervisor2", "supervisor"),
        ("auditor", "auditor"),
        ("admin", "admin"),
    ]:
        world.users[name] = make_user(role, facility)
    for index, cell in enumerate(made):
        # Registered days ago, so that tests may post checks of the past hours.
        tag = round_tags.tag_register(
            location=cell,
            kind="rfid",
            uid=f"04:A2:{index:02X}:FF",
            by=world.users["admin"],
            now=timezone.now() - timedelta(days=4),
        )
        world.tags[cell.code] = tag.uid
        world.people[cell.code] = [
            factories.InmateFactory(
                facility=facility, cell=cell, booking_number=f"R-{cell.code}-{n}"
            )
            for n in range(per_cell)
        ]
    world.tablet, world.tablet_key = factories.device(facility, kind="tablet", name="ronda-1")
    return world


def check(
    world: RoundsWorld,
    cell_code: str,
    *,
    at: datetime | None = None,
    state: str = "seen_alive",
    tag: str | None = None,
    observations=None,
    item_id: str | None = None,
) -> dict:
    """One round check item: the cell's tag and everyone in it observed."""
    if observations is None:
        observations = [
            {"inmate": p.booking_number, "state": state} for p in world.people.get(cell_code, [])
        ]
    return {
        "id": item_id or str(uuid.uuid4()),
        "tag": world.tags[cell_code] if tag is None else tag,
        "scanned_at": (at or timezone.now()).isoformat(),
        "observations": observations,
    }
