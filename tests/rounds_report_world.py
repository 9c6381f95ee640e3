"""A small morning of rounds whose report is worked out by hand
(tests/test_rounds_compliance.py).

Facility time (America/Guatemala, UTC-6); the period is 2026-11-02 06:00 to
12:00; one unit U with three cells:

- C1, standard watch, guard g1: 06:00 then every 50 minutes to 10:10 (too
  regular: five intervals, no spread), then nothing: an open gap of 110 min.
- C2, standard watch, guard g2: 05:30 (before the period), 06:05, 06:40,
  07:55, 08:20, 09:10, 11:30: gaps 35, 35, 75, 25, 50, 140 min.
- C3, special watch, guard g2: 11:30:04 (4 s after g2 scanned C2: not
  plausible), 11:40:04, 11:58:04: gaps 10 and 18 min.
"""

import datetime
import uuid
import zoneinfo
from dataclasses import dataclass

from django.utils import timezone

from custody.models import LocationTag, RoundCheck, WatchLevel
from tests import factories

TZ = zoneinfo.ZoneInfo("America/Guatemala")
DAY = datetime.date(2026, 11, 2)
SINCE = datetime.datetime(2026, 11, 2, 6, 0, tzinfo=TZ)
UNTIL = datetime.datetime(2026, 11, 2, 12, 0, tzinfo=TZ)


def at(hh_mm_ss: str) -> datetime.datetime:
    parts = [int(p) for p in hh_mm_ss.split(":")] + [0]
    return datetime.datetime(2026, 11, 2, parts[0], parts[1], parts[2], tzinfo=TZ)


PLAN = {
    "C1": (
        WatchLevel.STANDARD,
        "g1",
        ["06:00", "06:50", "07:40", "08:30", "09:20", "10:10"],
    ),
    "C2": (
        WatchLevel.STANDARD,
        "g2",
        ["05:30", "06:05", "06:40", "07:55", "08:20", "09:10", "11:30"],
    ),
    "C3": (WatchLevel.SPECIAL, "g2", ["11:30:04", "11:40:04", "11:58:04"]),
}


@dataclass
class RoundsWorld:
    facility: object
    unit: object
    cells: dict
    tags: dict
    users: dict
    device: object


def rounds_world(facility, make_user) -> RoundsWorld:
    unit = factories.LocationFactory(facility=facility, code="U", name="Sector U")
    users = {
        "g1": make_user("guard", facility, username="g1"),
        "g2": make_user("guard", facility, username="g2"),
        "supervisor": make_user("supervisor", facility, username="sup"),
        "auditor": make_user("auditor", facility, username="aud"),
        "admin": make_user("admin", facility, username="adm"),
    }
    device, _key = factories.device(facility, kind="tablet", name="Tableta U")
    cells, tags = {}, {}
    for code, (level, _who, _times) in PLAN.items():
        cells[code] = factories.CellFactory(
            facility=facility, parent=unit, code=code, name=f"Celda {code}", watch_level=level
        )
        tags[code] = LocationTag.objects.create(
            facility=facility,
            location=cells[code],
            uid=f"QR{code}",
            kind="qr",
            registered_at=timezone.now(),
            registered_by=users["admin"],
        )
    return RoundsWorld(facility, unit, cells, tags, users, device)


def plant_checks(world: RoundsWorld) -> list[RoundCheck]:
    """The checks of ``PLAN``, stored as ingestion stores them."""
    checks = []
    for code, (level, who, times) in PLAN.items():
        for when in times:
            scanned = at(when)
            checks.append(
                RoundCheck(
                    id=uuid.uuid4(),
                    facility=world.facility,
                    location=world.cells[code],
                    tag=world.tags[code],
                    officer=world.users[who],
                    device=world.device,
                    scanned_at=scanned,
                    received_at=scanned + datetime.timedelta(seconds=3),
                    watch_level=level,
                    next_due_at=scanned + datetime.timedelta(minutes=30),
                )
            )
    return RoundCheck.objects.bulk_create(checks)
