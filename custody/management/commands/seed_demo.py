"""Loads a demo facility shaped like a real one: Fraijanes II.

Six housing units of cells, a yard, a workshop and an infirmary; about 2,000
people in custody with maximum security concentrated in two units; one
biometric reader per unit and two tablets; one sign-in per role.

Idempotent: everything is looked up by its natural key (facility and location
codes, booking numbers, device names, usernames) and only what is missing is
created, so ``make run`` can call it on every start. Deterministic: fixed name
lists and one ``random.Random(2025)``, drawn in the same order on every run.
"""

import random
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from custody import services
from custody.demo_rounds import rounds_demo_ensure
from custody.management.demo_command import DemoCommand
from custody.models import (
    CountSchedule,
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
)
from custody.services.checkins import MAX_BATCH, Sender, checkins_ingest

SEED = 2025
DEFAULT_INMATES = 2000
BOOKING_PREFIX = "GT-2025-"

FACILITY = {
    "code": "FJ2",
    "name": "Centro de Detención Fraijanes II",
    "timezone": "America/Guatemala",
}

# Unit code -> capacity range of its cells. A and B hold maximum security, in
# smaller cells; the rest are the crowded general sectors.
UNITS = {
    "A": (4, 6),
    "B": (4, 6),
    "C": (6, 8),
    "D": (6, 8),
    "E": (6, 8),
    "F": (6, 8),
}
CELLS_PER_UNIT = 60
OTHER_LOCATIONS = [
    ("PATIO", "Patio central", LocationKind.YARD),
    ("TALLER", "Taller de carpintería", LocationKind.WORKSHOP),
    ("ENFERMERIA", "Enfermería", LocationKind.INFIRMARY),
    # Where the newly admitted wait for a cell (the roll's "reception").
    ("RECEPCION", "Recepción", LocationKind.RECEPTION),
]

# Share of the population per level, and where each level is housed: first
# choice first, the next unit takes whoever does not fit.
LEVEL_SHARES = [
    (SecurityLevel.MAXIMUM, 0.20),
    (SecurityLevel.MEDIUM, 0.50),
    (SecurityLevel.MINIMUM, 0.30),
]
HOUSING = {
    SecurityLevel.MAXIMUM: ["A", "B", "C", "D", "E", "F"],
    SecurityLevel.MEDIUM: ["C", "D", "E", "B", "A", "F"],
    SecurityLevel.MINIMUM: ["F", "E", "D", "C", "B", "A"],
}
# The demo's people arrived this long ago (plus their stagger), before the
# days of past that ``seed_demo_history`` plants.
ADMITTED_DAYS_AGO = timedelta(days=3)
# Deadlines are spread over this share of each level's interval before now,
# so they fall due one by one and the earliest is still some minutes away.
STAGGER = (0.0, 0.9)

TABLETS = ["Tableta 1", "Tableta 2"]

# Fixed demo sign-ins; each password passes Django's default validators
# (checked on every run, before it is set).
DEMO_USERS = [
    ("guardia", Role.GUARD, "guardia-demo-2026!"),
    ("supervisor", Role.SUPERVISOR, "supervisor-demo-2026!"),
    ("auditor", Role.AUDITOR, "auditor-demo-2026!"),
    ("admin", Role.ADMIN, "admin-demo-2026!"),
]

# Fraijanes II is a men's prison; given names and both surnames (paternal,
# maternal) as is usual in Guatemala, Mayan surnames included.
FIRST_NAMES = [
    "José", "Juan", "Luis", "Carlos", "Jorge", "Mario", "Óscar", "Edgar", "Marvin",
    "Byron", "Erick", "Kevin", "Brayan", "Wilson", "Selvin", "Elmer", "Otto", "Hugo",
    "Rony", "Walter", "Cristian", "Henry", "Julio", "Fredy", "Mynor", "Elder", "Gerson",
    "Jonathan", "Edwin", "Rudy", "Manuel", "Francisco", "Pedro", "Miguel", "Ángel",
    "Estuardo", "Rolando", "Sergio", "Víctor", "Josué", "Alejandro", "Diego", "Héctor",
    "Rigoberto", "Amílcar", "Baudilio", "Eswin", "Anderson", "Nery", "Axel",
]  # fmt: skip
SURNAMES = [
    "López", "García", "Pérez", "Hernández", "Rodríguez", "Morales", "González",
    "Martínez", "Ramírez", "Castillo", "Ramos", "Juárez", "Méndez", "Cruz", "Reyes",
    "Orellana", "Chávez", "Barrios", "Monterroso", "Estrada", "Contreras", "Mejía",
    "Aguilar", "Alvarado", "Velásquez", "Gómez", "Sánchez", "Fuentes", "Recinos",
    "Solares", "Cifuentes", "Godoy", "Xicará", "Cojtí", "Ajú", "Tzoc", "Coc", "Caal",
    "Choc", "Pop", "Tum", "Sic", "Yax", "Quiej", "Batz", "Chen", "Ixcot", "Cux",
]  # fmt: skip


@dataclass(frozen=True)
class Person:
    booking_number: str
    first_name: str
    last_name: str
    security_level: str
    stagger: float  # share of the level's interval since admission


@dataclass
class Outcome:
    """What one run found and did, for the report printed at the end."""

    facility: Facility
    facility_created: bool = False
    locations_created: int = 0
    inmates_created: int = 0
    devices: list = field(default_factory=list)  # (device, key, or None if it existed)
    users: list = field(default_factory=list)  # (username, role, password, or None if kept)
    rounds: dict = field(default_factory=dict)  # custody.demo_rounds: tags and checks made


class Command(DemoCommand):
    help = "Load the Fraijanes II demo facility (idempotent; prints demo sign-ins and keys)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--inmates",
            type=int,
            default=DEFAULT_INMATES,
            help=f"People in custody to seed (default {DEFAULT_INMATES}).",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="Seed even though the database holds other facilities (never in production).",
        )

    def handle(self, *args, inmates: int, force: bool = False, **options):
        if inmates < 0:
            raise CommandError("--inmates must be zero or more.")
        if not force and Facility.objects.exclude(code=FACILITY["code"]).exists():
            # Fake people and known passwords must never land in a real record.
            raise CommandError(
                "This database already holds real facilities; seed_demo is for demo "
                "databases only. Use --force if you really mean it."
            )
        started = time.monotonic()
        try:
            # One transaction: a failed run leaves nothing half-seeded, and
            # device keys are printed only once they are committed.
            with transaction.atomic():
                outcome = seed(inmates=inmates, now=timezone.now())
        except ValidationError as exc:
            raise CommandError(f"Demo data rejected: {'; '.join(exc.messages)}") from exc
        self.report(outcome, seconds=time.monotonic() - started)

    # --- Output ------------------------------------------------------------

    def report(self, outcome: Outcome, *, seconds: float):
        facility = outcome.facility
        out = self.stdout
        state = "created" if outcome.facility_created else "already there"
        out.write(self.style.MIGRATE_HEADING(f"Facility {facility} ({state})"))
        self.report_record(outcome)
        self.report_devices(outcome.devices)
        self.report_users(outcome.users)
        out.write(self.style.SUCCESS(f"Demo data ready in {seconds:.1f} s."))

    def report_record(self, outcome: Outcome):
        facility = outcome.facility
        kinds = dict(
            facility.locations.values_list("kind").annotate(n=Count("id")).order_by("kind")
        )
        by_level = dict(
            facility.inmates.filter(status=InmateStatus.IN_CUSTODY)
            .values_list("security_level")
            .annotate(n=Count("id"))
            .order_by("security_level")
        )
        self.stdout.write(
            f"  Locations: {kinds.get(LocationKind.UNIT, 0)} units, "
            f"{kinds.get(LocationKind.CELL, 0)} cells, "
            f"{sum(kinds.values())} in all ({outcome.locations_created} new)"
        )
        levels = ", ".join(f"{level} {by_level.get(level, 0)}" for level, _ in LEVEL_SHARES)
        self.stdout.write(
            f"  In custody: {sum(by_level.values())} ({levels}); "
            f"{outcome.inmates_created} admitted now"
        )
        self.stdout.write(
            f"  Rounds: {outcome.rounds.get('tags', 0)} cell tags and "
            f"{outcome.rounds.get('checks', 0)} round checks of last night planted now"
        )

    def report_devices(self, devices):
        self.stdout.write(self.style.MIGRATE_HEADING("Devices"))
        rows = [("name", "kind", "location", "id", "key")]
        for device, key in devices:
            where = device.location.code if device.location else "-"
            shown = key or "(exists; key not shown, it is stored hashed)"
            rows.append((device.name, device.kind, where, str(device.pk), shown))
        self.write_table(rows)
        if any(key for _, key in devices):
            self.stdout.write(
                self.style.WARNING("  Device keys are shown only this once: copy them now.")
            )
        if any(key is None for _, key in devices):
            self.stdout.write(
                "  Need a key? Rotate one in the Django admin (Devices, 'Issue new keys';\n"
                "  a superuser: `python manage.py createsuperuser`), or register another\n"
                "  device with its own key: `python manage.py create_device --facility FJ2\n"
                "  --name NAME --kind biometric|tablet [--location CODE]`."
            )

    def report_users(self, users):
        self.stdout.write(self.style.MIGRATE_HEADING("Demo sign-ins (facility FJ2)"))
        rows = [("username", "role", "password")]
        for username, role, password in users:
            rows.append((username, role, password or "(superuser; left unchanged)"))
        self.write_table(rows)

    def write_table(self, rows):
        widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            cells = (str(value).ljust(width) for value, width in zip(row, widths, strict=True))
            self.stdout.write("  " + "  ".join(cells).rstrip())


# --- Seeding (no output; returns what it did) -------------------------------


def seed(*, inmates: int, now: datetime) -> Outcome:
    # The draws happen in the same order whatever is already stored, so a
    # fresh database always gets the same people in the same cells.
    rng = random.Random(SEED)  # noqa: S311 - demo data, not secrets
    facility, created = facility_ensure()
    outcome = Outcome(facility=facility, facility_created=created)
    units, cells, outcome.locations_created = locations_ensure(facility, rng)
    people = [person_draw(rng, number) for number in range(1, inmates + 1)]
    placed = inmates_ensure(facility, cells, people, rng, now)
    outcome.inmates_created = len(placed)
    outcome.devices = devices_ensure(facility, units)
    last_sightings_post(facility, placed, now)
    outcome.users = users_ensure(facility)
    count_schedules_ensure(facility)
    # Its own draw: the rounds never shift the people's draws above.
    outcome.rounds = rounds_demo_ensure(facility, now=now, rng=random.Random(SEED + 1))  # noqa: S311
    return outcome


# Formal counts of every unit, in the facility's time (typical of the region).
COUNT_TIMES = ("06:00", "12:00", "18:00", "22:00")


def count_schedules_ensure(facility: Facility) -> None:
    """Four formal counts a day of every unit; left as they are if any exist
    (they are the operator's to change)."""
    if CountSchedule.objects.filter(facility=facility).exists():
        return
    CountSchedule.objects.bulk_create(
        CountSchedule(
            facility=facility,
            time_of_day=datetime.strptime(at, "%H:%M").time(),
            kind="formal",
            grace_minutes=15,
        )
        for at in COUNT_TIMES
    )


def facility_ensure() -> tuple[Facility, bool]:
    # An existing FJ2 is used as it is: its intervals and grace stay the operator's.
    facility = Facility.objects.filter(code=FACILITY["code"]).first()
    if facility is not None:
        return facility, False
    return services.facility_create(**FACILITY), True


def locations_ensure(facility: Facility, rng: random.Random):
    """Units, their cells and the shared spaces; returns units and cells by unit code."""
    existing = {location.code: location for location in facility.locations.all()}
    before = len(existing)

    def ensure(code, **fields):
        if code not in existing:
            existing[code] = services.location_create(facility=facility, code=code, **fields)
        return existing[code]

    units, cells = {}, {}
    for unit_code, (low, high) in UNITS.items():
        unit = ensure(unit_code, name=f"Sector {unit_code}", kind=LocationKind.UNIT)
        units[unit_code] = unit
        cells[unit_code] = [
            ensure(
                f"{unit_code}-{number:02d}",
                name=f"Sector {unit_code}, celda {number}",
                kind=LocationKind.CELL,
                parent=unit,
                # Drawn even when the cell exists, to keep the draw order fixed.
                capacity=rng.randint(low, high),
            )
            for number in range(1, CELLS_PER_UNIT + 1)
        ]
    for code, name, kind in OTHER_LOCATIONS:
        ensure(code, name=name, kind=kind)
    return units, cells, len(existing) - before


def person_draw(rng: random.Random, number: int) -> Person:
    level = level_for(rng.random())
    first = rng.choice(FIRST_NAMES)
    if rng.random() < 0.4:  # many Guatemalans use two given names
        first = f"{first} {rng.choice(FIRST_NAMES)}"
    return Person(
        booking_number=f"{BOOKING_PREFIX}{number:06d}",
        first_name=first,
        last_name=f"{rng.choice(SURNAMES)} {rng.choice(SURNAMES)}",
        security_level=level,
        stagger=rng.uniform(*STAGGER),
    )


def level_for(roll: float) -> str:
    """The security level a roll in [0, 1) falls on, by LEVEL_SHARES."""
    for level, share in LEVEL_SHARES:
        if roll < share:
            return level
        roll -= share
    return LEVEL_SHARES[-1][0]  # rounding left the roll past the last share


def inmates_ensure(facility, cells, people, rng, now) -> list[tuple[Person, Location]]:
    """Admits whoever of ``people`` is not booked yet, into cells with room,
    some days ago (``ADMITTED_DAYS_AGO``): the demo's past (``seed_demo_history``)
    happens after they arrived. Answers who was admitted, and where."""
    booked = set(
        Inmate.objects.filter(booking_number__startswith=BOOKING_PREFIX).values_list(
            "booking_number", flat=True
        )
    )
    new = [person for person in people if person.booking_number not in booked]
    placed = cells_assign(cells, new, rng)
    rows = [
        {
            "booking_number": person.booking_number,
            "first_name": person.first_name,
            "last_name": person.last_name,
            "security_level": person.security_level,
            "cell": cell,
            "admitted_at": now
            - ADMITTED_DAYS_AGO
            - facility.check_interval(person.security_level) * person.stagger,
        }
        for person, cell in placed
    ]
    services.inmates_admit_bulk(facility=facility, rows=rows, admitted_at=now)
    return placed


def last_sightings_post(facility, placed, now) -> None:
    """Each new person's last scan, by their unit's reader, spread over the
    share ``STAGGER`` of their level's interval before now: their checks fall
    due one by one, the earliest some minutes away, as readers would have left
    them. Posted through ingestion like any reader's scans."""
    readers = {
        device.location_id: device
        for device in facility.devices.filter(kind=DeviceKind.BIOMETRIC, location__isnull=False)
    }
    by_reader = defaultdict(list)
    for person, cell in placed:
        reader = readers[cell.parent_id]
        seen = now - facility.check_interval(person.security_level) * person.stagger
        by_reader[reader].append(
            {
                "id": str(uuid.uuid4()),
                "inmate": person.booking_number,
                "location": reader.location.code,
                "method": "fingerprint",
                "score": 0.97,
                "observed_at": seen.isoformat(),
            }
        )
    for reader, scans in by_reader.items():
        sender = Sender(
            principal=reader, device=reader, user=None, facility_ids=frozenset({facility.pk})
        )
        for first in range(0, len(scans), MAX_BATCH):
            checkins_ingest(raw_items=scans[first : first + MAX_BATCH], sender=sender, now=now)


def cells_assign(cells, people, rng) -> list[tuple[Person, Location]]:
    """A cell for each person: their level's units in order of preference,
    never above a cell's capacity (counting whoever is already in it)."""
    free = free_places(cells, rng)
    available = sum(len(places) for places in free.values())
    if len(people) > available:
        raise CommandError(
            f"Room for {available} more people in the demo cells; asked for {len(people)}."
        )
    placed = []
    for level, _ in LEVEL_SHARES:
        for person in people:
            if person.security_level == level:
                unit = next(code for code in HOUSING[level] if free[code])
                placed.append((person, free[unit].pop()))
    return placed


def free_places(cells, rng) -> dict[str, list[Location]]:
    """Per unit, each cell repeated once per free place, shuffled so a unit
    fills its cells unevenly, as a real one does."""
    occupied = dict(
        Inmate.objects.filter(
            cell__in=[cell for unit in cells.values() for cell in unit],
            status=InmateStatus.IN_CUSTODY,
        )
        .values_list("cell")
        .annotate(n=Count("id"))
        .order_by()
    )
    free = {}
    for unit_code, unit_cells in cells.items():
        places = [
            cell
            for cell in unit_cells
            for _ in range(max(0, (cell.capacity or 0) - occupied.get(cell.pk, 0)))
        ]
        rng.shuffle(places)
        free[unit_code] = places
    return free


# What the demo's readers declare (services.evidence): fingerprints and
# wristband tags, from their unit and the cells under it.
READER_METHODS = ["fingerprint", "rfid"]


def devices_ensure(facility, units) -> list[tuple[Device, str | None]]:
    """A biometric reader in each unit and two tablets; keys only for new ones."""
    plan = [
        (f"Lector biométrico {code}", DeviceKind.BIOMETRIC, unit, READER_METHODS)
        for code, unit in units.items()
    ] + [(name, DeviceKind.TABLET, None, []) for name in TABLETS]
    existing = {device.name: device for device in facility.devices.select_related("location")}
    devices = []
    for name, kind, location, methods in plan:
        if name in existing:
            devices.append((existing[name], None))
        else:
            devices.append(
                services.device_create(
                    facility=facility, name=name, kind=kind, location=location, methods=methods
                )
            )
    return devices


def users_ensure(facility) -> list[tuple[str, str, str | None]]:
    """One sign-in per role, reset on every run to the printed password, its
    role and FJ2 only. A superuser of the same name is never touched: its
    password is someone's real one."""
    users = []
    for username, role, password in DEMO_USERS:
        user = User.objects.filter(username=username).first()
        validate_password(password, user or User(username=username))
        if user is None:
            services.user_create(
                username=username, password=password, role=role, facilities=[facility]
            )
        elif user.is_superuser:
            password = None
        else:
            services.user_reset(user=user, role=role, password=password, facilities=[facility])
        users.append((username, role, password))
    return users
