"""Two days of the demo facility as an auditor would find them (``make run``).

Everything goes through the same services as real tablets and readers, at
past times (``now=``), so the record, the ledger and the check-ins agree. Most
of it is ordinary work: four formal counts a day of every unit, each verified
by a second officer. A few traces of the kind the integrity signals look for
are planted, each by a named demo officer, so that every signal has something
to show: a guard who counts by eye, a count marked faster than people can be
walked past, one person marked present and unaccounted for soon after, the
same two officers vouching for each other (on counts, and on departures), a
formal count nobody verified,
a reader with poor matches, a
reader whose clock runs fast, scans that could not be accepted, and alerts
closed with empty words.

The past is written in the order this seed runs, each step at its own time,
so the demo ledger's times are not in sequence order where a live service's
would be (it appends each event when it happens).
"""

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from alerts.models import Alert, AlertKind, AlertStatus, Severity
from alerts.services.recording import alert_event_data, alert_subject
from custody.models import (
    Device,
    DeviceKind,
    Facility,
    Inmate,
    InmateStatus,
    Location,
    Role,
    RollCall,
    User,
)
from custody.services import (
    ledger_append,
    movement_approve,
    movement_cancel,
    movement_request,
    recounts,
)
from custody.services import rollcalls as counts
from custody.services.checkins import Sender, checkins_ingest

DAYS = 2
COUNT_TIMES = (time(6), time(12), time(18), time(22))
SECONDS_PER_PERSON = 9  # an officer walking the landing: about 7 a minute
TOO_FAST_SECONDS = 1  # 60 a minute: nobody was looked at
# Officers on record beside the demo sign-ins; they never sign in.
STAFF = [
    "guardia.ramirez",
    "guardia.tzoc",
    "guardia.orellana",
    "guardia.coc",
    "guardia.mejia",
    "guardia.barrios",
]
# Who counts each unit: one officer per unit, so nobody counts two at once.
COUNTERS = {
    "B": "guardia",
    "C": "guardia.orellana",
    "D": "guardia.coc",
    "E": "guardia.mejia",
    "F": "guardia.barrios",
}
BY_EYE = "guardia.orellana"  # counts and checks without the readers
PAIR = ("guardia.ramirez", "guardia.tzoc")  # always each other's verifier
# Two supervisors who approve each other's court trips (the last ones: cancelled).
MOVEMENT_PAIR = ("supervisor", "supervisora.ixcot")
PAIRED_TRIPS = 6
BOILERPLATE = ["ok", "Visto.", "sin novedad", "resuelto", "OK"]


@dataclass
class Cast:
    officers: dict[str, User]
    readers: dict[str, Device]  # unit code -> its biometric reader
    # The tablet the counts are taken on: only an enrolled tablet records a
    # wristband scan (rfid); a guard's tap is visual.
    tablet: Device | None = None


def seed_demo_history(facility: Facility, *, now: datetime | None = None) -> bool:
    """Plants the history once; False when the facility already has counts, or
    has people admitted since the history would begin (their marks would come
    before their arrival)."""
    now = now or timezone.now()
    begins = now - timedelta(days=DAYS + 1)
    arrived_since = Inmate.objects.filter(
        facility=facility, status=InmateStatus.IN_CUSTODY, admitted_at__gt=begins
    )
    if RollCall.objects.filter(facility=facility).exists() or arrived_since.exists():
        return False
    rng = random.Random(facility.pk)  # noqa: S311 (a demo draw, the same on every machine)
    cast = _cast(facility)
    units = list(Location.objects.filter(facility=facility, kind="unit").order_by("code"))
    today = now.astimezone(facility.tzinfo).date()
    _account_made_by_its_counter(facility, units[0], cast, at=begins)
    for day_back in range(DAYS, 0, -1):
        day = today - timedelta(days=day_back)
        for slot, at in enumerate(COUNT_TIMES):
            start = datetime.combine(day, at, tzinfo=facility.tzinfo)
            for number, unit in enumerate(units):
                # Yesterday's last count of the last unit: nobody ever verified it.
                last = day_back == 1 and slot == len(COUNT_TIMES) - 1 and unit == units[-1]
                _ordinary_count(
                    unit, start, cast, rng, turn=slot + number + day_back, verified=not last
                )
    _present_then_unaccounted(units[0], today, cast, rng)
    _reader_traces(facility, units, cast, now=now - timedelta(hours=30), rng=rng)
    _alerts_closed_with_empty_words(facility, cast, now=now, rng=rng)
    _paired_departures(facility, now=now)
    return True


def _cast(facility: Facility) -> Cast:
    group = Group.objects.get(name=Role.GUARD)
    officers = {u.username: u for u in User.objects.filter(username__in=["guardia", "supervisor"])}
    for username in STAFF:
        officer, created = User.objects.get_or_create(
            username=username, defaults={"first_name": username.split(".")[1].title()}
        )
        if created:
            officer.set_unusable_password()
            officer.save(update_fields=["password"])
            officer.groups.add(group)
            officer.facilities.add(facility)
        officers[username] = officer
    readers = {
        d.location.code: d
        for d in Device.objects.filter(facility=facility, kind=DeviceKind.BIOMETRIC).select_related(
            "location"
        )
        if d.location is not None
    }
    tablet = (
        Device.objects.filter(facility=facility, kind=DeviceKind.TABLET, is_active=True)
        .order_by("name")
        .first()
    )
    return Cast(officers=officers, readers=readers, tablet=tablet)


def _ordinary_count(
    unit, start, cast: Cast, rng, *, turn: int, pace=SECONDS_PER_PERSON, verified=True
):
    """A formal count marked person by person, submitted and (unless told
    otherwise) verified."""
    counter, verifier = _crew(unit, cast, turn)
    method = "visual" if counter.username == BY_EYE or cast.tablet is None else "rfid"
    rollcall, _ = counts.rollcall_start(location=unit, kind="formal", by=counter, now=start)
    roster = list(rollcall.expected.values_list("inmate__booking_number", "status"))
    marks, at = [], start
    for booking, status in roster:
        if status != InmateStatus.IN_CUSTODY:
            continue
        at += timedelta(seconds=pace + rng.randint(0, 4) if pace > 1 else pace)
        marks.append(_mark(booking, "present", method, at))
    _record(rollcall, marks, counter, at, tablet=cast.tablet)
    rollcall = counts.rollcall_submit(rollcall=rollcall, by=counter, now=at)
    if verified:
        _verify_by_recount(rollcall, verifier, at + timedelta(minutes=3))
    return rollcall


def _verify_by_recount(rollcall, verifier, at):
    """The second officer recounts the sample the server draws and finds everyone."""
    verification = recounts.recount_start(rollcall=rollcall, by=verifier, now=at)
    marks = [_mark(row["inmate"], "present", "visual", at) for row in verification.sample]
    recounts.recount_record_marks(rollcall=rollcall, raw_marks=marks, by=verifier, now=at)
    return recounts.rollcall_verify(rollcall=rollcall, by=verifier, now=at)


def _account_made_by_its_counter(facility, unit, cast: Cast, *, at):
    """The first count's counter reset its verifier's account the day before:
    every verification that pair then gives is an approval by a made account."""
    counter, verifier = _crew(unit, cast, DAYS)
    ledger_append(
        facility=facility,
        actor=counter,
        action="user.reset",
        subject=f"user:{verifier.username}",
        data={"role": Role.GUARD, "assigned": True, "password_changed": True},
        at=at,
    )


def _crew(unit, cast: Cast, turn: int) -> tuple[User, User]:
    """(counter, verifier) of a unit's count: unit A's two officers always
    vouch for each other; elsewhere the unit's own officer counts and the
    supervisor or the next unit's officer verifies."""
    officers = cast.officers
    if unit.code == "A" or unit.code not in COUNTERS:
        first, second = officers[PAIR[0]], officers[PAIR[1]]
        return (first, second) if turn % 2 else (second, first)
    codes = sorted(COUNTERS)
    neighbour = COUNTERS[codes[(codes.index(unit.code) + 1) % len(codes)]]
    verifier = officers["supervisor"] if turn % 2 else officers[neighbour]
    return officers[COUNTERS[unit.code]], verifier


def _record(rollcall, marks, by, now, *, tablet):
    for first in range(0, len(marks), 1000):
        counts.rollcall_record_entries(
            rollcall=rollcall,
            raw_entries=marks[first : first + 1000],
            by=by,
            device=tablet,
            now=now,
        )


def _mark(booking, status, method, at):
    return {
        "id": str(uuid.uuid4()),
        "inmate": booking,
        "status": status,
        "method": method,
        "observed_at": at.isoformat(),
    }


def _present_then_unaccounted(unit, today, cast: Cast, rng):
    """Yesterday evening: a count of unit C marked in a rush (every person in
    one second each), then, an hour later, a recount that does not find one
    of the people the rushed count had marked present."""
    unit = Location.objects.filter(facility=unit.facility, kind="unit", code="C").first() or unit
    evening = datetime.combine(today - timedelta(days=1), time(20), tzinfo=unit.facility.tzinfo)
    rushed = _ordinary_count(unit, evening, cast, rng, turn=1, pace=TOO_FAST_SECONDS)
    officer = cast.officers["guardia"]
    recount, _ = counts.rollcall_start(
        location=unit, kind="informal", by=officer, now=evening + timedelta(hours=1)
    )
    roster = list(recount.expected.values_list("inmate__booking_number", flat=True))
    missing = rushed.entries.filter(status="present").order_by("observed_at").last()
    at = evening + timedelta(hours=1)
    marks = []
    for booking in roster:
        at += timedelta(seconds=SECONDS_PER_PERSON)
        status = "absent" if booking == missing.inmate.booking_number else "present"
        marks.append(_mark(booking, status, "rfid" if cast.tablet else "visual", at))
    _record(recount, marks, officer, at, tablet=cast.tablet)
    counts.rollcall_submit(rollcall=recount, by=officer, now=at)


def _reader_traces(facility, units, cast: Cast, *, now, rng):
    """Poor matches at one unit's reader; another reader's clock runs 90 s
    fast, and some of its scans arrive from further ahead; unknown people at a
    third. Units with people in them, busiest first."""
    people = {
        unit.code: list(
            Inmate.objects.filter(cell__parent=unit, status=InmateStatus.IN_CUSTODY)
            .order_by("booking_number")
            .values_list("booking_number", flat=True)[:40]
        )
        for unit in units
    }
    busy = sorted(
        (code for code in people if people[code] and code in cast.readers),
        key=lambda c: -len(people[c]),
    )
    if not busy:
        return
    poor, fast, strangers = (busy[n % len(busy)] for n in range(3))

    def post(unit_code, items, *, at):
        reader = cast.readers[unit_code]
        sender = Sender(
            principal=reader, device=reader, user=None, facility_ids=frozenset({facility.pk})
        )
        checkins_ingest(raw_items=items, sender=sender, now=at)

    def scan(booking, unit_code, at, score):
        return {
            "id": str(uuid.uuid4()),
            "inmate": booking,
            "location": unit_code,
            "method": "fingerprint",
            "score": score,
            "observed_at": at.isoformat(),
        }

    post(
        poor,
        [
            scan(b, poor, now + timedelta(seconds=20 * n), round(rng.uniform(0.52, 0.74), 2))
            for n, b in enumerate(people[poor][:25])
        ],
        at=now + timedelta(minutes=10),
    )
    for n, booking in enumerate(people[fast][:20]):
        sent = now + timedelta(minutes=n)
        post(fast, [scan(booking, fast, sent + timedelta(seconds=90), 0.97)], at=sent)
    ahead = [scan(b, fast, now + timedelta(minutes=15), 0.96) for b in people[fast][20:24]]
    post(fast, ahead, at=now)
    unknown = [
        scan(f"GT-0000-{n:06d}", strangers, now + timedelta(minutes=n), 0.95) for n in range(6)
    ]
    post(strangers, unknown, at=now + timedelta(minutes=8))
    # A guard posts "fingerprints" from their own sign-in: refused, quarantined
    # (method_not_allowed) and listed for the auditor.
    claimant = cast.officers[BY_EYE]
    claims = [
        scan(b, poor, now + timedelta(minutes=20 + n), 0.99) for n, b in enumerate(people[poor][:3])
    ]
    checkins_ingest(
        raw_items=claims,
        sender=Sender(
            principal=claimant, device=None, user=claimant, facility_ids=frozenset({facility.pk})
        ),
        now=now + timedelta(minutes=24),
    )


def _alerts_closed_with_empty_words(facility, cast: Cast, *, now, rng):
    """Missed checks from yesterday, owned and closed by the supervisor; most
    with a real account of what happened, some with nothing at all; and every
    third one closed in the last minutes before it would have climbed past
    them (sitting on alerts)."""
    supervisor = cast.officers["supervisor"]
    people = list(
        Inmate.objects.filter(facility=facility, status=InmateStatus.IN_CUSTODY).order_by("?")[:14]
    )
    with transaction.atomic():
        for number, inmate in enumerate(people):
            opened = now - timedelta(hours=30 - number)
            acknowledged = opened + timedelta(minutes=rng.randint(2, 40))
            # High: thirty minutes to resolve it before it climbs past its owner.
            resolve_by = acknowledged + timedelta(minutes=30)
            late = (25, 29) if number % 3 == 0 else (5, 20)
            resolved = acknowledged + timedelta(minutes=rng.randint(*late))
            resolution = (
                BOILERPLATE[number % len(BOILERPLATE)]
                if number % 2
                else "Visto en el taller por el guardia de turno; el lector del sector estaba "
                "sin red y sus lecturas llegaron tarde."
            )
            alert = Alert.objects.create(
                facility=facility,
                kind=AlertKind.MISSED_CHECKIN,
                severity=Severity.HIGH,
                status=AlertStatus.RESOLVED,
                dedup_key=f"{AlertKind.MISSED_CHECKIN}:demo:{inmate.pk}:{opened:%Y%m%d%H}",
                inmate=inmate,
                location=inmate.cell,
                opened_at=opened,
                acknowledged_at=acknowledged,
                acknowledged_by=supervisor,
                acknowledged_level=0,
                resolve_by=resolve_by,
                resolved_at=resolved,
                resolved_by=supervisor,
                resolution=resolution,
                details={"demo": True},
            )
            for action, at, extra in (
                ("alert.opened", opened, {}),
                ("alert.acknowledged", acknowledged, {}),
                ("alert.resolved", resolved, {"resolution": resolution}),
            ):
                ledger_append(
                    facility=facility,
                    actor=None if action == "alert.opened" else supervisor,
                    action=action,
                    subject=alert_subject(alert),
                    data=alert_event_data(alert, **extra),
                    at=at,
                )


def _paired_departures(facility: Facility, *, now: datetime) -> None:
    """Court trips asked by one supervisor and approved by the other, turn
    about, then called off: the same pair approving each other's departures.
    Made now (the movement services read the clock), so the latest ones."""
    makers = _supervisors(facility)
    if len(makers) < 2:
        return
    people = Inmate.objects.filter(facility=facility, status=InmateStatus.IN_CUSTODY).exclude(
        movements__status__in=["requested", "approved", "departed"]
    )[:PAIRED_TRIPS]
    for n, person in enumerate(people):
        maker, checker = (makers[0], makers[1]) if n % 2 else (makers[1], makers[0])
        trip = movement_request(
            inmate=person,
            kind="court",
            by=maker,
            destination="Juzgado de Mixco",
            expected_back_at=timezone.now() + timedelta(hours=4),
        )
        movement_approve(movement=trip, by=checker)
        movement_cancel(movement=trip, by=maker, reason="Audiencia suspendida")


def _supervisors(facility: Facility) -> list[User]:
    group = Group.objects.get(name=Role.SUPERVISOR)
    found = []
    for username in MOVEMENT_PAIR:
        officer, created = User.objects.get_or_create(
            username=username, defaults={"first_name": username.split(".")[-1].title()}
        )
        if created:
            officer.set_unusable_password()
            officer.save(update_fields=["password"])
            officer.groups.add(group)
            officer.facilities.add(facility)
        if officer.role == Role.SUPERVISOR and facility.pk in set(
            officer.facilities.values_list("pk", flat=True)
        ):
            found.append(officer)
    return found
