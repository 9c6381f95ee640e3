"""Observation rounds in the demo (``seed_demo``): a printed QR tag on every
cell of FJ2, one person on close watch, and last night's rounds of two
units, one of them falsified, for the compliance report to find.

- Sector A's night was typed in, not walked: every cell "checked" on the
  hour, sweep after sweep, three seconds from one cell to the next, all of
  it received at once at the end of the shift. The report flags its cells
  too regular and its scans implausible.
- Sector B's night was walked (by the supervisor): rounds 20 to 55 minutes
  apart, 12 to 25 seconds per cell, sent as they were made.

Set-based and idempotent: tags only for cells without one (one insert), the
night only when that night holds no round check yet (two inserts). The tags
are stored directly rather than through ``tag_register`` (one call, and
ledger event, per cell): the cells come under the rounds watch at their
first check, so a demo nobody walks does not open a missed_round per cell.
"""

import random
import uuid
from datetime import datetime, time, timedelta

from django.db.models import Exists, OuterRef
from django.utils import timezone

from custody.models import (
    Device,
    DeviceKind,
    Facility,
    Inmate,
    InmateStatus,
    Location,
    LocationKind,
    LocationTag,
    ObservationState,
    RoundCheck,
    RoundObservation,
    TagKind,
    User,
    WatchLevel,
)
from custody.services.inmates import inmate_update
from custody.services.round_tags import new_qr_uid

FALSIFIED_UNIT, WALKED_UNIT = "A", "B"
NIGHT_START, NIGHT_HOURS = time(22, 0), 8
FALSIFIED_STEP = timedelta(seconds=3)  # from one cell to the next: nobody looks that fast
WALK_SECONDS = (12, 25)  # per cell: a look through the hatch at each person
WALK_GAP_MINUTES = (20, 55)  # from one round's start to the next, never before it ended
# Sector A by the demo guard; B by the supervisor, so that one officer is
# never in two units at once.
GUARD, WALKER, ADMIN, TABLET = "guardia", "supervisor", "admin", "Tableta 1"
BATCH = 2000


def rounds_demo_ensure(facility: Facility, *, now: datetime, rng: random.Random) -> dict:
    admin = User.objects.filter(username=ADMIN).first()
    guard = User.objects.filter(username=GUARD).first()
    walker = User.objects.filter(username=WALKER).first() or guard
    tablet = Device.objects.filter(facility=facility, name=TABLET, kind=DeviceKind.TABLET).first()
    if admin is None or guard is None or tablet is None:
        return {"tags": 0, "checks": 0}
    start, end = last_night(facility, now)
    tags = tags_ensure(facility, by=admin, at=start - timedelta(days=1))
    close_watch_ensure(facility, by=admin)
    checks = 0
    if not RoundCheck.objects.filter(
        facility=facility, scanned_at__gte=start, scanned_at__lt=end
    ).exists():
        checks = night_plant(
            facility, start=start, officers=(guard, walker), tablet=tablet, rng=rng
        )
    return {"tags": tags, "checks": checks}


def last_night(facility: Facility, now: datetime) -> tuple[datetime, datetime]:
    """The last night shift (22:00 to 06:00, facility time) over before ``now``."""
    local = timezone.localtime(now, facility.tzinfo)
    day = local.date() - timedelta(days=1)
    start = datetime.combine(day, NIGHT_START, tzinfo=facility.tzinfo)
    end = start + timedelta(hours=NIGHT_HOURS)
    if end > now:
        start, end = start - timedelta(days=1), end - timedelta(days=1)
    return start, end


def tags_ensure(facility: Facility, *, by, at: datetime) -> int:
    """A printed QR tag (random uid, ``new_qr_uid``) on each cell without an active tag."""
    active = LocationTag.objects.filter(location_id=OuterRef("pk"), retired_at__isnull=True)
    bare = Location.objects.filter(facility=facility, kind=LocationKind.CELL).exclude(
        Exists(active)
    )
    made = LocationTag.objects.bulk_create(
        LocationTag(
            facility=facility,
            location=cell,
            uid=new_qr_uid(),
            kind=TagKind.QR,
            label="Hoja QR",
            registered_at=at,
            registered_by=by,
        )
        for cell in bare.only("pk")
    )
    return len(made)


def close_watch_ensure(facility: Facility, *, by) -> None:
    """One person of the falsified unit on close watch (through the service:
    their own round deadline starts now), unless someone already is."""
    if Inmate.objects.filter(facility=facility, watch_level__in=WatchLevel.values).exists():
        return
    person = (
        Inmate.objects.filter(
            facility=facility,
            status=InmateStatus.IN_CUSTODY,
            cell__parent__code=FALSIFIED_UNIT,
        )
        .order_by("cell__code", "booking_number")
        .first()
    )
    if person is not None:
        inmate_update(inmate=person, by=by, watch_level=WatchLevel.CLOSE)


def night_plant(facility, *, start, officers, tablet, rng: random.Random) -> int:
    cells = list(
        Location.objects.filter(
            facility=facility,
            kind=LocationKind.CELL,
            parent__code__in=[FALSIFIED_UNIT, WALKED_UNIT],
        )
        .order_by("code")
        .values_list("pk", "code", "parent__code", "watch_level")
    )
    tags = dict(
        LocationTag.objects.filter(
            location_id__in=[pk for pk, *_rest in cells], retired_at__isnull=True
        ).values_list("location_id", "pk")
    )
    people: dict[int, list[int]] = {}
    for pk, cell_id in Inmate.objects.filter(
        cell_id__in=[pk for pk, *_rest in cells], status=InmateStatus.IN_CUSTODY
    ).values_list("pk", "cell_id"):
        people.setdefault(cell_id, []).append(pk)
    end = start + timedelta(hours=NIGHT_HOURS)
    scans = []  # (cell pk, level, scanned_at, received_at, officer)
    for unit in (FALSIFIED_UNIT, WALKED_UNIT):
        ours = [c for c in cells if c[2] == unit]
        sweep = start
        while sweep < end:
            at = sweep
            for pk, _code, _unit, level in ours:
                if unit == FALSIFIED_UNIT:
                    scans.append((pk, level, at, end + timedelta(minutes=5), officers[0]))
                    at += FALSIFIED_STEP
                else:
                    at += timedelta(seconds=rng.randint(*WALK_SECONDS))
                    received = at + timedelta(seconds=rng.randint(2, 9))
                    scans.append((pk, level, at, received, officers[1]))
            if unit == FALSIFIED_UNIT:
                sweep += timedelta(hours=1)
            else:
                gap = timedelta(minutes=rng.randint(*WALK_GAP_MINUTES))
                sweep = max(sweep + gap, at + timedelta(minutes=1))
    previous: dict[int, datetime] = {}
    checks, observations = [], []
    for pk, level, scanned, received, officer in sorted(scans, key=lambda s: s[2]):
        if pk not in tags:
            continue
        before = previous.get(pk)
        previous[pk] = scanned
        check = RoundCheck(
            id=uuid.uuid4(),
            facility=facility,
            location_id=pk,
            tag_id=tags[pk],
            officer=officer,
            device=tablet,
            scanned_at=scanned,
            received_at=received,
            watch_level=level,
            next_due_at=scanned + timedelta(minutes=45),
            interval_seconds=int((scanned - before).total_seconds()) if before else None,
        )
        checks.append(check)
        observations += [
            RoundObservation(
                round_check=check,
                inmate_id=inmate_id,
                state=ObservationState.SEEN_ALIVE,
                facility=facility,
                observed_at=scanned,
            )
            for inmate_id in people.get(pk, [])
        ]
    RoundCheck.objects.bulk_create(checks, batch_size=BATCH)
    RoundObservation.objects.bulk_create(observations, batch_size=BATCH)
    return len(checks)
