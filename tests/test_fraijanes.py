"""Fraijanes II, as a test: twenty people walk out one or two at a time and
the service names each of them within one reconcile period.

One maximum-security facility of 2,000 people in four units. Each unit's
reader posts its scans through the real ingestion service every five minutes,
a sixth of the unit at a time, so everyone is seen every thirty minutes (the
default interval for maximum security, with five minutes of grace). Over three
simulated hours twenty people stop being seen, at fourteen different moments.

The clock moves from event to event (time_machine): a pass every five minutes
when the readers post, and a pass at each vanished person's deadline and one
reconcile period after it, at each alert's escalation time and when a
supervisor acknowledges. Nothing can fire between those instants, so this is
what a pass every ``RECONCILE_EVERY_SECONDS`` would see, at a fraction of the
cost.
"""

import heapq
import random
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone

from alerts.models import (
    Alert,
    AlertKind,
    AlertStatus,
    DeliveryStatus,
    Notification,
    NotificationChannel,
)
from alerts.services import (
    InvalidResolution,
    alert_acknowledge,
    alert_resolve,
    deliver_due,
    reconcile_facility,
)
from custody import services
from custody.authentication import DevicePrincipal
from custody.models import Inmate, LocationKind, SecurityLevel
from custody.services.checkins import ACCEPTED, Sender, checkins_ingest
from tests import factories

pytestmark = pytest.mark.django_db

T0 = timezone.now().replace(second=0, microsecond=0) - timedelta(days=1)
UNITS = "ABCD"
CELLS_PER_UNIT = 125
CELL_CAPACITY = 4  # 4 units x 125 cells x 4 = 2,000 people
STEP = timedelta(minutes=5)  # the readers post, and a pass runs
GROUPS = 6  # a sixth of each unit every STEP: everyone once per 30 min
SCAN_LAG = timedelta(seconds=20)  # a scan reaches the server 20 s after it is made
END = T0 + timedelta(hours=3, minutes=15)
INTERVAL = timedelta(minutes=30)  # docs/architecture.md: maximum security
GRACE = timedelta(minutes=5)
# (minutes after T0, how many walk out then): 20 people at 14 moments.
WALKOUTS = [(40, 1), (47, 2), (54, 1), (61, 1), (68, 2), (75, 1), (82, 2)]
WALKOUTS += [(89, 1), (96, 1), (103, 2), (110, 1), (117, 2), (124, 1), (131, 2)]
CHANNELS = {0: "jefe.unidad@fraijanes.gt", 1: "director@fraijanes.gt", 2: "nacional@sp.gob.gt"}


@dataclass
class Person:
    pk: int
    booking_number: str
    cell: str
    unit: str
    group: int
    gone_at: object = None  # first scheduled scan they are not there for
    last_seen: object = None


@dataclass
class Prison:
    facility: object
    senders: dict  # unit code -> Sender of that unit's reader
    people: list[Person]
    supervisor: object
    gone: dict[int, Person] = field(default_factory=dict)


def build_prison() -> Prison:
    with time_machine.travel(T0, tick=False):
        facility = factories.FacilityFactory(code="FJ2", name="Fraijanes II")
        rows, people_cells = [], []
        senders = {}
        for letter in UNITS:
            unit = factories.LocationFactory(
                facility=facility, code=f"S{letter}", name=f"Sector {letter}"
            )
            for number in range(1, CELLS_PER_UNIT + 1):
                cell = factories.CellFactory(
                    facility=facility,
                    parent=unit,
                    code=f"{letter}-{number:03d}",
                    kind=LocationKind.CELL,
                    capacity=CELL_CAPACITY,
                )
                for bed in range(CELL_CAPACITY):
                    rows.append(
                        {
                            "booking_number": f"FJ2-{letter}{number:03d}{bed}",
                            "first_name": "Recluso",
                            "last_name": f"{letter}{number:03d}-{bed}",
                            "security_level": SecurityLevel.MAXIMUM,
                            "cell": cell,
                        }
                    )
                    people_cells.append((cell.code, f"S{letter}"))
            device, _key = factories.device(facility, name=f"lector-{letter}", location=unit)
            senders[f"S{letter}"] = Sender(
                principal=DevicePrincipal(device),
                device=device,
                user=None,
                facility_ids=frozenset({facility.pk}),
            )
        admitted = services.inmates_admit_bulk(facility=facility, rows=rows, admitted_at=T0)
        assert admitted == len(rows) == 2000
        for level, address in CHANNELS.items():
            NotificationChannel.objects.create(
                facility=facility, level=level, name=f"nivel {level}", kind="email", target=address
            )
        supervisor = factories.UserFactory(role="supervisor", facilities=[facility])
    ids = dict(Inmate.objects.filter(facility=facility).values_list("booking_number", "id"))
    people = [
        Person(ids[row["booking_number"]], row["booking_number"], cell, unit, index % GROUPS)
        for index, (row, (cell, unit)) in enumerate(zip(rows, people_cells, strict=True))
    ]
    return Prison(facility, senders, people, supervisor)


def plan_walkouts(prison: Prison) -> None:
    """Twenty people, one or two at a time, from every unit and group."""
    chosen = random.Random(2025).sample(prison.people, sum(n for _, n in WALKOUTS))
    moments = [T0 + timedelta(minutes=m) for m, n in WALKOUTS for _ in range(n)]
    for person, moment in zip(chosen, moments, strict=True):
        person.gone_at = moment
        prison.gone[person.pk] = person


def post_scans(prison: Prison, at) -> None:
    """The group due at ``at`` is scanned (everyone not gone), each unit's
    reader posting its own people in one batch."""
    group = round((at - T0) / STEP - 1) % GROUPS
    observed = at - SCAN_LAG
    batches = defaultdict(list)
    for person in prison.people:
        if person.group != group or (person.gone_at and person.gone_at <= at):
            continue
        person.last_seen = observed
        batches[person.unit].append(
            {
                "id": str(uuid.uuid4()),
                "inmate": person.booking_number,
                "location": person.cell,
                "method": "fingerprint",
                "score": 0.97,
                "observed_at": observed.isoformat(),
            }
        )
    # Every reader posts every STEP (so none goes silent long enough to be offline).
    assert set(batches) == set(prison.senders)
    for unit, items in batches.items():
        result = checkins_ingest(raw_items=items, sender=prison.senders[unit], now=at)
        assert result.count(ACCEPTED) == len(items), [i.errors for i in result.items if i.errors]


class Clock:
    """The instants the story visits, in order, each at most once."""

    def __init__(self):
        self._heap, self._seen = [], set()

    def at(self, moment):
        if moment <= END and moment not in self._seen:
            self._seen.add(moment)
            heapq.heappush(self._heap, moment)

    def __iter__(self):
        while self._heap:
            yield heapq.heappop(self._heap)


def run_story(prison: Prison):
    """Runs the three hours; returns the acknowledged alerts by the level
    they were acknowledged at."""
    period = timedelta(seconds=settings.RECONCILE_EVERY_SECONDS)
    clock = Clock()
    moment = T0 + STEP
    while moment <= END:
        clock.at(moment)
        moment += STEP
    deadlines_known = set()
    acks = {}  # moment -> alert id to acknowledge then
    acknowledged = {}  # level at acknowledgement -> alert id

    for now in clock:
        with time_machine.travel(now, tick=False):
            if (now - T0) % STEP == timedelta(0):
                post_scans(prison, now)
            if now in acks:
                alert = Alert.objects.get(pk=acks[now])
                acknowledged[alert.escalation_level] = alert.pk
                alert_acknowledge(alert=alert, by=prison.supervisor)
            reconcile_facility(facility=prison.facility, now=now)
            deliver_due(now=now)

        # Everyone who walked out: a pass exactly at their deadline (must not
        # fire yet) and one reconcile period later (must have fired).
        for person in prison.gone.values():
            if person.pk not in deadlines_known and person.gone_at <= now:
                deadlines_known.add(person.pk)
                deadline = (person.last_seen or T0) + INTERVAL + GRACE
                clock.at(deadline)
                clock.at(deadline + period)
        # Each alert's next rung is visited when it is due.
        for alert_id, escalate_at in Alert.objects.filter(
            status=AlertStatus.OPEN, next_escalation_at__isnull=False
        ).values_list("id", "next_escalation_at"):
            clock.at(escalate_at)
        # A supervisor owns the first alert within two minutes, and the second
        # only after it climbed once.
        opened = list(Alert.objects.order_by("opened_at", "id")[:2])
        for alert, after in zip(opened, (timedelta(minutes=2), timedelta(minutes=7)), strict=False):
            if alert.opened_at + after not in acks:
                acks[alert.opened_at + after] = alert.pk
                clock.at(alert.opened_at + after)
    return acknowledged


def test_twenty_people_who_walk_out_one_or_two_at_a_time_are_each_named_at_once(mailoutbox, api_as):
    prison = build_prison()
    plan_walkouts(prison)
    period = timedelta(seconds=settings.RECONCILE_EVERY_SECONDS)

    acknowledged = run_story(prison)

    # Exactly twenty alerts, one per person who walked out, none for anyone else.
    alerts = list(Alert.objects.select_related("inmate").order_by("opened_at", "id"))
    assert [a.kind for a in alerts] == [AlertKind.MISSED_CHECKIN] * 20
    assert sorted(a.inmate_id for a in alerts) == sorted(prison.gone)
    for alert in alerts:
        person = prison.gone[alert.inmate_id]
        # Due one interval after they were last seen; named within one period
        # of the deadline, never before it.
        assert alert.due_at == person.last_seen + INTERVAL
        late = alert.opened_at - (alert.due_at + GRACE)
        assert timedelta(0) < late <= period, (person.booking_number, late)
        assert alert.severity == "high"
        assert alert.location.code == person.cell

    # Unacknowledged alerts climbed the default ladder on time and each rung heard.
    assert set(acknowledged) == {0, 1}
    owned = set(acknowledged.values())
    for alert in alerts:
        steps = list(
            Notification.objects.filter(alert=alert)
            .order_by("created_at", "level")
            .values_list("event", "level", "created_at", "status", "channel__target")
        )
        assert {status for *_, status, _target in steps} == {DeliveryStatus.SENT}
        expected = [
            ("opened", 0, alert.opened_at, DeliveryStatus.SENT, CHANNELS[0]),
            ("escalated", 1, alert.opened_at + timedelta(minutes=5), "sent", CHANNELS[1]),
            ("escalated", 2, alert.opened_at + timedelta(minutes=15), "sent", CHANNELS[2]),
        ]
        mails = [m.to for m in mailoutbox if alert.inmate.booking_number in m.subject]
        if alert.pk in owned:
            level = alert.escalation_level
            assert acknowledged[level] == alert.pk
            assert alert.status == AlertStatus.ACKNOWLEDGED
            assert alert.acknowledged_by == prison.supervisor
            assert alert.next_escalation_at is None
            # It stopped where it was owned: nothing more climbed or was sent.
            assert steps == expected[: level + 1]
            assert mails == [[CHANNELS[n]] for n in range(level + 1)]
        else:
            assert alert.status == AlertStatus.OPEN
            assert alert.escalation_level == 2 and alert.next_escalation_at is None
            assert steps == expected
            assert mails == [[CHANNELS[0]], [CHANNELS[1]], [CHANNELS[2]]]
    assert len(mailoutbox) == 18 * 3 + 1 + 2

    # Closing one needs a written reason, in the service and in the API.
    alert = alerts[-1]
    for reason in ("", "   ", "visto", None):
        with pytest.raises(InvalidResolution):
            alert_resolve(alert=alert, by=prison.supervisor, resolution=reason)
    api = api_as(prison.supervisor)
    url = f"/api/v1/alerts/{alert.pk}/resolve/"
    for body in ({}, {"resolution": ""}, {"resolution": "visto"}):
        response = api.post(url, body, format="json")
        assert response.status_code == 400, body
        assert response.json()["errors"]["resolution"], body
    alert.refresh_from_db()
    assert alert.status == AlertStatus.OPEN and alert.resolved_at is None

    reason = "Fuga confirmada: celda vacía, aviso a PNC y Ministerio Público"
    response = api.post(url, {"resolution": reason}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "resolved"
    assert response.json()["resolved_by"] == prison.supervisor.username
    alert.refresh_from_db()
    assert alert.resolution == reason and alert.resolved_by == prison.supervisor
    # Everyone who heard of it hears it is over.
    sent_before = len(mailoutbox)
    assert deliver_due()["sent"] == 3
    assert sorted(m.to[0] for m in mailoutbox[sent_before:]) == sorted(CHANNELS.values())

    assert services.ledger_verify(facility=prison.facility).ok
