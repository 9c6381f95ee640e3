"""Readers for the demo (``make run`` sets ``DEMO_READERS=1``): every unit's
reader scans the people of its unit as their checks fall due, except twenty
who stop being seen, one or two at a time, as at Fraijanes II in 2025.

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


def demo_readers_tick(*, now: datetime | None = None) -> dict[str, int]:
    """Scans everyone due within the next two periods, save the vanished."""
    now = now or timezone.now()
    facility = Facility.objects.filter(code=DEMO_FACILITY).first()
    if facility is None:
        return {"posted": 0}
    vanished = {i for i, at in vanishing_schedule(facility).items() if at <= now}
    horizon = now + timedelta(seconds=2 * settings.RECONCILE_EVERY_SECONDS)
    due = (
        Inmate.objects.filter(
            facility=facility, status=InmateStatus.IN_CUSTODY, next_due_at__lte=horizon
        )
        .exclude(pk__in=vanished)
        .values_list("pk", "booking_number", "cell__code", "cell__parent_id")
    )
    readers = {
        d.location_id: d
        for d in Device.objects.filter(
            facility=facility, kind=DeviceKind.BIOMETRIC, is_active=True
        ).select_related("location")
    }
    by_reader: dict[Device, list[dict]] = {}
    for _pk, booking_number, cell_code, unit_id in due:
        reader = readers.get(unit_id)
        if reader is None:
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
    # Readers with nobody due still say they are alive.
    Device.objects.filter(facility=facility, is_active=True).update(last_heartbeat_at=now)
    return {"posted": posted, "vanished": len(vanished)}
