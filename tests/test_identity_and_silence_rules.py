"""identity_unverified and unit_silent: the attack each rule exists for, and
the honest day that must stay quiet (docs/architecture.md's table)."""

import re
import uuid
from datetime import timedelta
from types import SimpleNamespace

import pytest
import time_machine
from django.db import connection, transaction
from django.utils import timezone

from alerts.models import Alert, AlertKind, AlertStatus, ReconcilerState
from alerts.rules_identity import IdentityUnverified
from alerts.rules_unit_silent import UnitSilent
from alerts.services import reconcile as reconcile_service
from alerts.services import reconcile_facility
from custody.models import Device, Inmate, LocationKind
from custody.selectors import watch
from tests import factories
from tests.alerting import reconcile, scan
from tests.concurrent import race, token_client
from tests.second_factor import sign_in

pytestmark = pytest.mark.django_db

T0 = timezone.now().replace(microsecond=0) - timedelta(days=4)
LIMIT = timedelta(minutes=10)  # device_offline_after_seconds by default


def _world(facility, make_user=None):
    """Unit A (cells A-01, A-02) with three readers (at the unit's door and in
    each cell) and three medium-security people in A-01 (seen every 60 min,
    5 min grace); unit B (cell B-01) with a reader and nobody in it."""
    with time_machine.travel(T0, tick=False):
        unit = factories.LocationFactory(facility=facility, code="A", kind=LocationKind.UNIT)
        a1 = factories.CellFactory(facility=facility, code="A-01", parent=unit)
        a2 = factories.CellFactory(facility=facility, code="A-02", parent=unit)
        empty = factories.LocationFactory(facility=facility, code="B", kind=LocationKind.UNIT)
        b1 = factories.CellFactory(facility=facility, code="B-01", parent=empty)
        pairs = [factories.device(facility, location=place) for place in (unit, a1, a2)]
        spare, spare_key = factories.device(facility, location=b1)
        people = [
            factories.InmateFactory(
                facility=facility, cell=a1, booking_number=f"{facility.code}-{n}", admitted_at=T0
            )
            for n in range(3)
        ]
    return SimpleNamespace(
        facility=facility,
        unit=unit,
        a1=a1,
        a2=a2,
        empty=empty,
        readers=[d for d, _ in pairs],
        keys=[k for _, k in pairs],
        spare=spare,
        spare_key=spare_key,
        people=people,
        guard=make_user("guard", facility) if make_user else None,
    )


@pytest.fixture
def w(facility, make_user):
    return _world(facility, make_user)


def alerts(kind, **filters):
    return list(Alert.objects.filter(kind=kind, **filters).order_by("id"))


def hear(devices, at):
    Device.objects.filter(pk__in=[d.pk for d in devices]).update(last_heartbeat_at=at)


def visual(client, inmate, location, at):
    """A guard's visual check, posted from the tablet as it is made."""
    with time_machine.travel(at, tick=False):
        response = client.post(
            "/api/v1/checkins/",
            {
                "id": str(uuid.uuid4()),
                "inmate": inmate.booking_number,
                "location": location.code,
                "method": "visual",
                "observed_at": at.isoformat(),
            },
            format="json",
        )
    assert response.json()["accepted"] == 1, response.content


# --- identity_unverified -------------------------------------------------------


def test_visual_checks_alone_for_25_hours_raise_identity_unverified(w):
    """Fraijanes II, 8 October: every deadline met by a guard's eyes, and
    nobody proved who was in the cell."""
    person = w.people[0]
    guard = token_client(w.guard)
    for hour in range(26):
        visual(guard, person, w.a1, T0 + timedelta(hours=hour, minutes=1))
    assert reconcile(w.facility, T0 + timedelta(hours=24)).opened is not None
    assert alerts(AlertKind.IDENTITY_UNVERIFIED, inmate=person) == []  # exactly the window
    reconcile(w.facility, T0 + timedelta(hours=25))
    [alert] = alerts(AlertKind.IDENTITY_UNVERIFIED, inmate=person)
    assert alert.severity == "high" and alert.status == AlertStatus.OPEN
    assert alert.location == w.a1 and alert.due_at == T0 + timedelta(hours=24)
    assert alert.details["identity_verified_at"] is None
    # Seen on schedule all along: no missed check-in hid the gap.
    assert alerts(AlertKind.MISSED_CHECKIN, inmate=person) == []
    # A later pass opens nothing more; a wristband read proves nothing.
    scan(w.keys[1], person, w.a1, T0 + timedelta(hours=25, minutes=2), method="rfid")
    reconcile(w.facility, T0 + timedelta(hours=25, minutes=3))
    alert.refresh_from_db()
    assert alert.status == AlertStatus.OPEN
    assert len(alerts(AlertKind.IDENTITY_UNVERIFIED, inmate=person)) == 1
    # The next fingerprint closes it, and the record says which scan did.
    scan(w.keys[1], person, w.a1, T0 + timedelta(hours=25, minutes=4))
    reconcile(w.facility, T0 + timedelta(hours=25, minutes=5))
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED and alert.resolved_by is None
    assert alert.resolved_by_observation["method"] == "fingerprint"
    assert alert.resolved_by_observation["location"] == "A-01"
    assert alert.resolution


def test_a_fingerprint_every_day_raises_no_identity_alert(w):
    person = w.people[0]
    for hours in (20, 43, 66):
        scan(w.keys[0], person, w.a1, T0 + timedelta(hours=hours))
    for hours in (25, 44, 67, 86):
        reconcile(w.facility, T0 + timedelta(hours=hours))
    assert alerts(AlertKind.IDENTITY_UNVERIFIED, inmate=person) == []
    assert Inmate.objects.get(pk=person.pk).identity_verified_at == T0 + timedelta(hours=66)


def test_a_buffered_fingerprint_older_than_the_last_visual_still_proves_identity(w):
    person = w.people[0]
    visual(token_client(w.guard), person, w.a1, T0 + timedelta(hours=2))
    scan(w.keys[0], person, w.a1, T0 + timedelta(hours=1), method="rfid")
    person.refresh_from_db()
    assert person.identity_verified_at is None  # a tag is no proof
    # The reader was offline; its buffered scan of an hour ago arrives now.
    with time_machine.travel(T0 + timedelta(hours=3), tick=False):
        response = token_client(device_key=w.keys[0]).post(
            "/api/v1/checkins/",
            {
                "id": str(uuid.uuid4()),
                "inmate": person.booking_number,
                "location": "A-01",
                "method": "iris",
                "observed_at": (T0 + timedelta(hours=1, minutes=30)).isoformat(),
            },
            format="json",
        )
    assert response.json()["accepted"] == 1
    person.refresh_from_db()
    assert person.identity_verified_at == T0 + timedelta(hours=1, minutes=30)
    assert person.last_seen_at == T0 + timedelta(hours=2)  # nothing moved back


def test_the_deploy_gives_each_unproven_person_one_window_not_an_alert_at_once(w):
    """The migration sets the watch's start to the deploy for running
    facilities: people never proven get one whole window from there."""
    deployed = T0 + timedelta(hours=30)
    ReconcilerState.objects.create(facility=w.facility, identity_watch_since=deployed)
    reconcile(w.facility, deployed + timedelta(hours=23))
    assert alerts(AlertKind.IDENTITY_UNVERIFIED) == []
    reconcile(w.facility, deployed + timedelta(hours=24, seconds=1))
    assert len(alerts(AlertKind.IDENTITY_UNVERIFIED)) == 3


def test_a_person_resolving_the_alert_by_hand_is_no_proof(w, settings):
    from alerts.services import alert_resolve

    sup = factories.UserFactory(role="supervisor", facilities=[w.facility])
    person = w.people[0]
    reconcile(w.facility, T0 + timedelta(hours=25))
    [alert] = alerts(AlertKind.IDENTITY_UNVERIFIED, inmate=person)
    with time_machine.travel(T0 + timedelta(hours=25, minutes=1), tick=False):
        alert_resolve(alert=alert, by=sup, resolution="Lo vi en su celda.")
    later = (
        T0
        + timedelta(hours=25, minutes=1)
        + timedelta(seconds=settings.ALERT_REALERT_AFTER_SECONDS)
    )
    reconcile(w.facility, later + timedelta(seconds=1))
    reopened = alerts(AlertKind.IDENTITY_UNVERIFIED, inmate=person, status=AlertStatus.OPEN)
    assert len(reopened) == 1 and reopened[0].pk != alert.pk


def test_the_identity_due_query_uses_its_partial_index(facility):
    """O(what is due): the rule's query reads ``inmate_identity_due``."""
    first = factories.InmateFactory(facility=facility)
    copies = []
    for n in range(300):
        copy = Inmate.objects.get(pk=first.pk)
        copy.pk, copy.booking_number = None, f"IDV-{n}"
        copy.identity_verified_at = timezone.now()
        copies.append(copy)
    Inmate.objects.bulk_create(copies)
    query = watch.inmates_identity_due_query(
        facility=facility, proven_before=timezone.now() - timedelta(days=1)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE custody_inmate")
        cursor.execute("SET enable_seqscan = off")
        plan = query.explain()
        cursor.execute("RESET enable_seqscan")
    assert "inmate_identity_due" in plan


# --- unit_silent -----------------------------------------------------------------


def test_a_units_readers_jammed_raise_one_unit_silent_and_the_rest_link_to_it(w):
    """MI3: every reader of a unit quiet at once is one alarm, not N."""
    hear([*w.readers, w.spare], T0)
    reconcile(w.facility, T0 + LIMIT)  # exactly the limit: the near miss
    assert alerts(AlertKind.UNIT_SILENT) == []
    hear([w.spare], T0 + LIMIT)
    reconcile(w.facility, T0 + LIMIT + timedelta(seconds=1))
    [silence] = alerts(AlertKind.UNIT_SILENT)
    assert silence.severity == "critical" and silence.location == w.unit
    assert silence.details["unit"] == "A" and silence.details["readers_silent"] is True
    assert sorted(r["name"] for r in silence.details["readers"]) == sorted(
        d.name for d in w.readers
    )
    offline = alerts(AlertKind.DEVICE_OFFLINE)
    assert {a.device_id for a in offline} == {d.pk for d in w.readers}
    assert all(a.details["unit_silent_alert"] == silence.pk for a in offline)
    # The people's deadlines pass while it is open: their alerts point at it.
    reconcile(w.facility, T0 + timedelta(minutes=65, seconds=1))
    missed = alerts(AlertKind.MISSED_CHECKIN)
    assert len(missed) == 3
    assert all(a.details["unit_silent_alert"] == silence.pk for a in missed)
    assert len(alerts(AlertKind.UNIT_SILENT)) == 1
    # A reader scans again: the unit is heard, and the record says by whom.
    back = T0 + timedelta(minutes=70)
    scan(w.keys[1], w.people[0], w.a1, back)
    reconcile(w.facility, back + timedelta(seconds=10))
    silence.refresh_from_db()
    assert silence.status == AlertStatus.RESOLVED and silence.resolved_by is None
    heard = silence.resolved_by_observation
    assert [r["name"] for r in heard["readers_heard"]] == [w.readers[1].name]
    assert heard["observed_at"] == back.isoformat()


def test_readers_that_answer_but_hear_nobody_while_people_fall_due_are_a_silent_unit(w):
    """A jammer that lets heartbeats through: the readers look alive, and
    every scan of the unit stops."""
    at = T0 + timedelta(minutes=65, seconds=1)  # the three people are past due
    hear([*w.readers, w.spare], at)
    reconcile(w.facility, at)
    [silence] = alerts(AlertKind.UNIT_SILENT)
    assert silence.details["readers_silent"] is False
    assert silence.details["nobody_observed"] is True
    assert silence.details["people_overdue"] == 3
    assert alerts(AlertKind.DEVICE_OFFLINE) == []


def test_one_person_late_in_a_unit_that_answers_is_a_missed_checkin_only(w):
    at = T0 + timedelta(minutes=65, seconds=1)
    for person in w.people[1:]:
        scan(w.keys[0], person, w.a1, at - timedelta(minutes=20))
    hear([*w.readers, w.spare], at)
    reconcile(w.facility, at)
    assert [a.inmate for a in alerts(AlertKind.MISSED_CHECKIN)] == [w.people[0]]
    assert alerts(AlertKind.UNIT_SILENT) == []


def test_one_reader_of_three_down_is_device_offline_only(w):
    at = T0 + LIMIT + timedelta(seconds=1)
    hear([w.readers[0]], T0)
    hear([*w.readers[1:], w.spare], at)
    reconcile(w.facility, at)
    [offline] = alerts(AlertKind.DEVICE_OFFLINE)
    assert offline.device == w.readers[0] and "unit_silent_alert" not in offline.details
    assert alerts(AlertKind.UNIT_SILENT) == []


def test_a_unit_with_nobody_expected_raises_no_unit_silent(w):
    at = T0 + LIMIT + timedelta(seconds=1)
    hear(w.readers, at)
    hear([w.spare], T0)  # unit B's only reader, and nobody lives in B
    reconcile(w.facility, at)
    [offline] = alerts(AlertKind.DEVICE_OFFLINE)
    assert offline.device == w.spare
    assert alerts(AlertKind.UNIT_SILENT) == []


def test_a_unit_silent_pass_costs_the_same_queries_for_3_or_30_people(db):
    from django.test.utils import CaptureQueriesContext

    def queries(people):
        world = _world(factories.FacilityFactory())
        with time_machine.travel(T0, tick=False):
            for _ in range(people - 3):
                factories.InmateFactory(facility=world.facility, cell=world.a2, admitted_at=T0)
        with CaptureQueriesContext(connection) as captured:
            reconcile(world.facility, T0 + timedelta(hours=25))
        kinds = {a.kind for a in Alert.objects.filter(facility=world.facility)}
        assert {AlertKind.UNIT_SILENT, AlertKind.IDENTITY_UNVERIFIED} <= kinds
        return len(captured)

    assert queries(3) == queries(30)


def test_the_unit_probe_stops_at_the_first_check_in_of_each_unit(facility):
    """O(what is due): whether anyone was seen in a unit walks
    ``checkin_location_time`` (on each monthly partition, its copy) and
    stops at the first row, one LIMIT 1 per unit."""
    people = [factories.InmateFactory(facility=facility) for _ in range(2)]
    now = timezone.now()
    for person in people:
        factories.CheckInFactory.create_batch(
            150, inmate=person, observed_at=now - timedelta(hours=30)
        )
    units = {p.cell.parent_id: ([p.cell_id, p.cell.parent_id], now - LIMIT) for p in people}
    [first, second] = watch.units_heard_queries(units=units, now=now)
    query = first.union(second, all=True)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE custody_checkin")
        cursor.execute("SET enable_seqscan = off")
        plan = query.explain()
        cursor.execute("RESET enable_seqscan")
        cursor.execute(
            "SELECT c.relname FROM pg_class c WHERE c.relname = 'checkin_location_time' "
            "UNION SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'checkin_location_time'"
        )
        names = {row[0] for row in cursor.fetchall()}
    assert any(name in plan for name in names), plan
    assert plan.count("Limit") == 2, plan
    assert watch.units_heard_since(units=units, now=now) == {}  # nobody seen in the window


# --- two passes at once ------------------------------------------------------------


def _open_without_the_lock(facility, now):
    """``reconcile._open`` for the two rules, as a second worker that slipped
    past the pass's state-row lock would call it."""
    with transaction.atomic():
        context = reconcile_service._context(facility, ReconcilerState(facility=facility), now)
        findings = IdentityUnverified().find(context) + UnitSilent().find(context)
        return reconcile_service._open(facility, findings, [], now)


@pytest.mark.django_db(transaction=True)
def test_two_passes_at_once_open_each_new_alert_exactly_once():
    now = T0 + timedelta(hours=25)
    locked, bare = _world(factories.FacilityFactory()), _world(factories.FacilityFactory())
    hear([*locked.readers, *bare.readers], T0)
    with time_machine.travel(now, tick=False):
        passes = race([lambda: reconcile_facility(facility=locked.facility, now=now)] * 2)
        # Past the state-row lock, the partial unique index is the last word.
        opened = race(
            [
                lambda: _open_without_the_lock(bare.facility, now),
                lambda: _open_without_the_lock(bare.facility, now + timedelta(microseconds=1)),
            ]
        )
    assert None not in passes and None not in opened
    # Whatever else the full pass opened (readers, missed check-ins), once.
    assert (
        sum(len(r.opened) for r in passes) == Alert.objects.filter(facility=locked.facility).count()
    )
    assert sum(len(o) for o in opened) == 4
    for world in (locked, bare):
        assert len(alerts(AlertKind.UNIT_SILENT, facility=world.facility)) == 1
        assert len(alerts(AlertKind.IDENTITY_UNVERIFIED, facility=world.facility)) == 3


# --- what the supervisor and the API see -------------------------------------------


def test_the_headcount_says_how_many_were_proven_by_biometrics(w, api_as):
    now = T0 + timedelta(hours=30)
    scan(w.keys[1], w.people[0], w.a1, now - timedelta(hours=1))  # proven
    scan(w.keys[1], w.people[1], w.a1, now - timedelta(hours=25))  # proven, too long ago
    scan(w.keys[1], w.people[2], w.a1, now - timedelta(minutes=5), method="rfid")  # a tag
    client = api_as(factories.UserFactory(role="auditor", facilities=[w.facility]))
    with time_machine.travel(now, tick=False):
        body = client.get(f"/api/v1/facilities/{w.facility.code}/headcount/").json()
    assert body["identity_verified"] == 1
    [unit] = body["by_location"]
    # Present by the tag, too; proven only by the fingerprint.
    assert (unit["location"], unit["present"], unit["identity_verified"]) == ("A", 2, 1)


def test_the_dashboard_puts_the_silenced_unit_first_and_counts_the_proven(client, w):
    hear([w.spare], T0 + timedelta(hours=25))
    reconcile(w.facility, T0 + timedelta(hours=25))
    sup = factories.UserFactory(role="supervisor", facilities=[w.facility])
    with time_machine.travel(T0 + timedelta(hours=25), tick=False):
        sign_in(client, sup)
        response = client.get(
            f"/dashboard/{w.facility.code}/live/", HTTP_HX_REQUEST="true", HTTP_ACCEPT_LANGUAGE="es"
        )
    html = response.content.decode()
    kinds = re.findall(r'<strong class="kind">([^<]+)</strong>', html)
    assert kinds[0] == "Sector en silencio" and "Identidad no verificada" in kinds
    [silence] = alerts(AlertKind.UNIT_SILENT)
    assert w.readers[0].name in html and f'href="#alert-{silence.pk}"' in html
    assert "Identidad verificada" in html
    assert '<td class="num" title=' in html  # 0 proven of 0 present: nothing to flag


@pytest.mark.parametrize("value", [59, 0, -1, "a day", None])
def test_the_identity_window_is_at_least_a_minute(w, api_as, value):
    admin = factories.UserFactory(role="admin", facilities=[w.facility])
    response = api_as(admin).patch(
        f"/api/v1/facilities/{w.facility.code}/", {"identity_window_seconds": value}, format="json"
    )
    assert response.status_code == 400
    assert "identity_window_seconds" in response.json()["errors"]


def test_the_identity_window_is_read_and_written_through_the_facility(w, api_as):
    admin = factories.UserFactory(role="admin", facilities=[w.facility])
    url = f"/api/v1/facilities/{w.facility.code}/"
    assert api_as(admin).get(url).json()["identity_window_seconds"] == 86_400
    response = api_as(admin).patch(url, {"identity_window_seconds": 60}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["identity_window_seconds"] == 60
