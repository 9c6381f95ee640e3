"""Readers for the demo (``make run`` sets ``DEMO_READERS=1``): every unit's
reader scans the people of its unit as their checks fall due, except twenty
who stop being seen, one or two at a time, as at Fraijanes II in 2025. The
first of them goes while every reader of their unit is jammed (as MI3's
were): the unit is silent for ``JAM``, longer than a reader's limit, so the
demo shows one ``unit_silent`` alarm with the readers' and people's alerts
linked to it, closing when the readers come back.

Never scheduled unless ``DEMO_READERS`` is on; it posts through the same
ingestion service as a real reader, so everything downstream is real.
"""

import random
import uuid
from datetime import datetime, timedelta
from types import SimpleNamespace

from django.conf import settings
from django.utils import timezone

from custody.models import Device, DeviceKind, Facility, Inmate, InmateStatus
from custody.services.checkins import Sender, checkins_ingest

DEMO_FACILITY = "FJ2"
VANISHING = 20
FIRST_VANISHES_AFTER = timedelta(minutes=5)
VANISH_EVERY = timedelta(minutes=7)  # two people per step, then one: never all at once
BATCH = 500
JAM = timedelta(minutes=15)  # the readers' limit is 10 minutes by default


def vanishing_schedule(facility: Facility) -> dict[int, datetime]:
    """Inmate id → when they stop being seen, fixed for a facility (seeded by
    its id) and counted from when the demo readers first ran."""
    ids = sorted(
        Inmate.objects.filter(facility=facility, status=InmateStatus.IN_CUSTODY).values_list(
            "pk", flat=True
        )
    )
    chosen = random.Random(facility.pk).sample(ids, min(VANISHING, len(ids)))  # noqa: S311 (a demo draw)
    start = facility.created_at + FIRST_VANISHES_AFTER
    return {
        inmate_id: start + VANISH_EVERY * (index * 2 // 3)  # pairs and singles
        for index, inmate_id in enumerate(chosen)
    }


def jam_of(facility: Facility, schedule: dict[int, datetime]) -> tuple[int | None, datetime]:
    """(unit id, start) of the jam: the unit of the first person to vanish,
    from the moment they do."""
    if not schedule:
        return None, facility.created_at
    first = min(schedule, key=lambda pk: (schedule[pk], pk))
    unit_id = Inmate.objects.filter(pk=first).values_list("cell__parent_id", flat=True).first()
    return unit_id, schedule[first]


def demo_readers_tick(*, now: datetime | None = None) -> dict[str, int]:
    """Scans everyone due within the next two periods, save the vanished."""
    now = now or timezone.now()
    facility = Facility.objects.filter(code=DEMO_FACILITY).first()
    if facility is None:
        return {"posted": 0}
    schedule = vanishing_schedule(facility)
    vanished = {i for i, at in schedule.items() if at <= now}
    jam_unit, jam_from = jam_of(facility, schedule)
    jammed = jam_unit if jam_from <= now < jam_from + JAM else None
    horizon = now + timedelta(seconds=2 * settings.RECONCILE_EVERY_SECONDS)
    present = Inmate.objects.filter(facility=facility, status=InmateStatus.IN_CUSTODY).exclude(
        pk__in=vanished
    )
    fields = ("pk", "booking_number", "cell__code", "cell__parent_id")
    due = list(present.filter(next_due_at__lte=horizon).values_list(*fields))
    # A reader also scans whoever passes it: the next person due in each unit,
    # every tick. Without it a small unit whose people fell due together would
    # hear nobody for a while, and two who vanished there would read as the
    # unit's silence (unit_silent) instead of their own missed check-ins.
    scanned = {row[0] for row in due}
    due += [
        row
        for row in present.order_by("cell__parent_id", "next_due_at")
        .distinct("cell__parent_id")
        .values_list(*fields)
        if row[0] not in scanned
    ]
    readers = {
        d.location_id: d
        for d in Device.objects.filter(
            facility=facility, kind=DeviceKind.BIOMETRIC, is_active=True
        ).select_related("location")
    }
    by_reader: dict[Device, list[dict]] = {}
    for _pk, booking_number, cell_code, unit_id in due:
        reader = readers.get(unit_id)
        if reader is None or unit_id == jammed:
            continue
        by_reader.setdefault(reader, []).append(
            {
                "id": str(uuid.uuid4()),
                "inmate": booking_number,
                "location": cell_code,
                "method": "fingerprint",
                "observed_at": now.isoformat(),
                "score": 0.97,
            }
        )
    posted = 0
    for reader, items in by_reader.items():
        sender = Sender(
            principal=SimpleNamespace(device=reader, is_authenticated=True),
            device=reader,
            user=None,
            facility_ids=frozenset({facility.pk}),
        )
        for start in range(0, len(items), BATCH):
            checkins_ingest(raw_items=items[start : start + BATCH], sender=sender, now=now)
            posted += len(items[start : start + BATCH])
    # Readers with nobody due still say they are alive; a jammed one cannot.
    alive = Device.objects.filter(facility=facility, is_active=True)
    if jammed is not None:
        alive = alive.exclude(location_id=jammed)
    alive.update(last_heartbeat_at=now)
    return {"posted": posted, "vanished": len(vanished), "jammed": jammed is not None}
