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

Two supervisors own the alerts: an honest one takes the first two, and a
corrupt one acknowledges every other alert two minutes after it opens and
then sits on it. Owning an alert does not stop its clock: thirty minutes
later (high severity) it climbs past its owner, and every rung it reaches and
the owner's own rung are told who sits on it; at the top the national
authority hears again every fifteen minutes until it is resolved.
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
    UNRESOLVED,
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
from custody.models import Inmate, LedgerEvent, LocationKind, SecurityLevel
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
TOP = 2
RESOLVE_WITHIN = timedelta(minutes=30)  # high severity, by default
REPEAT_EVERY = timedelta(minutes=15)


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
    sitter: object
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
        sitter = factories.UserFactory(
            role="supervisor", facilities=[facility], username="sentado.siempre"
        )
    ids = dict(Inmate.objects.filter(facility=facility).values_list("booking_number", "id"))
    people = [
        Person(ids[row["booking_number"]], row["booking_number"], cell, unit, index % GROUPS)
        for index, (row, (cell, unit)) in enumerate(zip(rows, people_cells, strict=True))
    ]
    return Prison(facility, senders, people, supervisor, sitter)


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
    """Runs the three hours; returns each alert's (owner, level, time) of
    acknowledgement."""
    period = timedelta(seconds=settings.RECONCILE_EVERY_SECONDS)
    clock = Clock()
    moment = T0 + STEP
    while moment <= END:
        clock.at(moment)
        moment += STEP
    deadlines_known = set()
    acks = defaultdict(list)  # moment -> (alert id, who) to acknowledge then
    acknowledged = {}  # alert id -> (owner, level, at)

    for now in clock:
        with time_machine.travel(now, tick=False):
            if (now - T0) % STEP == timedelta(0):
                post_scans(prison, now)
            for alert_id, who in acks.pop(now, []):
                alert = Alert.objects.get(pk=alert_id)
                acknowledged[alert.pk] = (who, alert.escalation_level, now)
                alert_acknowledge(alert=alert, by=who)
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
        # Each alert's clock (open or owned) is visited when it is due.
        for alert_id, escalate_at in Alert.objects.filter(
            status__in=UNRESOLVED, next_escalation_at__isnull=False
        ).values_list("id", "next_escalation_at"):
            clock.at(escalate_at)
        # The honest supervisor owns the first alert within two minutes, and
        # the second only after it climbed once; the sitter owns every other
        # one two minutes after it opens.
        for n, alert in enumerate(Alert.objects.order_by("opened_at", "id")):
            who, after = (
                [
                    (prison.supervisor, timedelta(minutes=2)),
                    (prison.supervisor, timedelta(minutes=7)),
                ][n]
                if n < 2
                else (prison.sitter, timedelta(minutes=2))
            )
            moment = alert.opened_at + after
            if alert.pk not in acknowledged and (alert.pk, who) not in acks[moment]:
                acks[moment].append((alert.pk, who))
                clock.at(moment)
    return acknowledged


def expected_steps(alert, owner_level: int, owned_at) -> list[tuple]:
    """(event, level, round, created_at, channel) of every message the story
    must have sent about ``alert``, owned at ``owner_level`` at ``owned_at``
    and never resolved: the ladder's clock as docs/architecture.md tells it."""
    steps = [("opened", 0, 0, alert.opened_at, CHANNELS[0])]
    if owner_level == 1:
        steps.append(("escalated", 1, 0, alert.opened_at + timedelta(minutes=5), CHANNELS[1]))
    level, at, round_ = owner_level, owned_at + RESOLVE_WITHIN, 0
    while at <= END:
        if level < TOP:
            level, wait = level + 1, RESOLVE_WITHIN
        else:
            round_, wait = round_ + 1, REPEAT_EVERY
        for heard in sorted({level, owner_level}):
            steps.append(("overdue", level, round_, at, CHANNELS[heard]))
        at += wait
    return sorted(steps)


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

    # Everyone owned, nobody resolved: each alert climbed past its owner on
    # schedule, the top rung heard again every fifteen minutes, and every
    # rung reached and the owner's own rung were told who sits on it.
    assert len(acknowledged) == 20
    owners = {who for who, _level, _at in acknowledged.values()}
    assert owners == {prison.supervisor, prison.sitter}
    climbed_to_top = 0
    for alert in alerts:
        who, owner_level, owned_at = acknowledged[alert.pk]
        assert alert.status == AlertStatus.ACKNOWLEDGED and alert.acknowledged_by == who
        assert alert.acknowledged_level == owner_level
        steps = sorted(
            Notification.objects.filter(alert=alert).values_list(
                "event", "level", "round", "created_at", "channel__target"
            )
        )
        assert steps == expected_steps(alert, owner_level, owned_at), alert.inmate.booking_number
        assert set(Notification.objects.filter(alert=alert).values_list("status", flat=True)) == {
            DeliveryStatus.SENT
        }
        mails = [m for m in mailoutbox if alert.inmate.booking_number in m.subject]
        assert sorted(m.to[0] for m in mails) == sorted(step[-1] for step in steps)
        overdue = [m for m in mails if "sin resolver" in m.body]
        assert len(overdue) == len([s for s in steps if s[0] == "overdue"])
        assert all(f"Asumida por {who.username} el " in m.body for m in overdue)
        assert alert.escalation_level == max(step[1] for step in steps)
        climbed_to_top += alert.escalation_level == TOP
    assert climbed_to_top >= 10  # most were sat on long enough to reach the nation
    assert len(mailoutbox) == Notification.objects.count()
    sat_on = [a for a in alerts if acknowledged[a.pk][0] == prison.sitter]
    assert len(sat_on) == 18 and all(
        LedgerEvent.objects.filter(
            action="alert.escalated", data__alert=a.pk, data__acknowledged_by="sentado.siempre"
        ).exists()
        for a in sat_on
        if a.escalation_level > 0
    )

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
    assert alert.status == AlertStatus.ACKNOWLEDGED and alert.resolved_at is None

    reason = "Fuga confirmada: celda vacía, aviso a PNC y Ministerio Público"
    response = api.post(url, {"resolution": reason}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "resolved"
    assert response.json()["resolved_by"] == prison.supervisor.username
    alert.refresh_from_db()
    assert alert.resolution == reason and alert.resolved_by == prison.supervisor
    # Everyone who heard of it hears it is over.
    heard = set(
        alert.notifications.exclude(event="resolved").values_list("channel__target", flat=True)
    )
    sent_before = len(mailoutbox)
    assert deliver_due()["sent"] == len(heard)
    assert sorted(m.to[0] for m in mailoutbox[sent_before:]) == sorted(heard)

    assert services.ledger_verify(facility=prison.facility).ok
