"""The establishment roll: its identities hold for every unit at every moment
of a simulated day, a past time's roll is what the roll said then, and the
endpoint refuses bad input."""

from dataclasses import asdict
from datetime import datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from custody import services
from custody.models import Inmate, LocationKind, Movement, MovementKind
from custody.selectors.headcount import EXPECTED_STATUSES
from custody.selectors.roll import establishment_roll
from tests import factories

pytestmark = pytest.mark.django_db

TZ = ZoneInfo("America/Guatemala")
DAY = datetime(2026, 11, 24, tzinfo=TZ)  # local midnight, 06:00 UTC


def local(hour, minute=0, day=DAY):
    return day + timedelta(hours=hour, minutes=minute)


@pytest.fixture
def w(facility, other_facility, make_user):
    place = factories.LocationFactory
    with time_machine.travel(local(-20), tick=False):
        a = place(facility=facility, code="A", kind=LocationKind.UNIT)
        b = place(facility=facility, code="B", kind=LocationKind.UNIT)
        w = SimpleNamespace(
            facility=facility,
            other=other_facility,
            a1=factories.CellFactory(facility=facility, code="A-01", parent=a, capacity=2),
            a2=factories.CellFactory(facility=facility, code="A-02", parent=a, capacity=2),
            b1=factories.CellFactory(facility=facility, code="B-01", parent=b, capacity=3),
            reception=place(facility=facility, code="REC", kind=LocationKind.RECEPTION),
            yard=place(facility=facility, code="PATIO", kind=LocationKind.YARD),
            infirmary=place(facility=facility, code="ENF", kind=LocationKind.INFIRMARY),
            z1=factories.CellFactory(facility=other_facility, code="Z-01"),
            sup=make_user("supervisor", facility),
            sup2=make_user("supervisor", facility),
            osup=make_user("supervisor", other_facility),
            osup2=make_user("supervisor", other_facility),
        )
        w.p = {}
        for name, cell in (("p1", w.a1), ("p2", w.a1), ("p3", w.a2), ("p4", w.b1), ("p5", w.b1)):
            w.p[name] = factories.InmateFactory(facility=facility, cell=cell, booking_number=name)
        w.p["p7"] = factories.InmateFactory(facility=other_facility, cell=w.z1, booking_number="p7")
    return w


def outing(w, name, kind, *, to_location=None, hours=12):
    inmate = Inmate.objects.get(booking_number=name)
    movement = services.movement_request(
        inmate=inmate,
        kind=kind,
        by=w.sup,
        to_location=to_location,
        expected_back_at=timezone.now() + timedelta(hours=hours),
    )
    services.movement_approve(movement=movement, by=w.sup2)
    return services.movement_depart(movement=movement, by=w.sup)


def figures(roll):
    return [asdict(r) for r in (roll.total, *roll.units)]


def assert_identities(roll):
    for r in (roll.total, *roll.units):
        label = r.code or "facility"
        assert r.current_roll == r.in_cell + r.out_of_cell_inside + r.reception + r.no_cell, label
        assert r.unlock_roll == r.current_roll - r.arrived_today + r.out_today, label
        assert r.arrived_today == sum(r.arrived_by_kind.values()), label
        assert r.out_today == sum(r.out_by_kind.values()), label
        assert r.out_of_cell_inside == sum(r.out_of_cell_by_kind.values()), label
        assert r.net_vacancies == r.operational_capacity - r.current_roll, label
    for name in ("unlock_roll", "current_roll", "in_cell", "reception", "away", "occupancy"):
        assert getattr(roll.total, name) == sum(getattr(u, name) for u in roll.units), name
    # The record's present state agrees with the history the roll reads.
    expected = Inmate.objects.filter(facility=roll.facility, status__in=EXPECTED_STATUSES)
    if roll.at >= local(23, 59) or abs((roll.at - datetime.now(TZ)).total_seconds()) < 1:
        assert roll.total.current_roll + roll.total.away == expected.count()


def test_the_roll_adds_up_for_every_unit_at_every_moment_of_a_day(w):
    with time_machine.travel(local(-2), tick=False) as clock:
        outing(w, "p5", MovementKind.COURT)  # at court overnight: off the unlock roll
        seen = {}

        def check(hour, minute=0):
            clock.move_to(local(hour, minute))
            roll = establishment_roll(facility=w.facility)
            assert_identities(roll)
            seen[roll.at] = figures(roll)
            return roll

        roll = check(6)
        assert (roll.total.unlock_roll, roll.total.current_roll, roll.total.away) == (4, 4, 1)

        clock.move_to(local(7))
        p6 = services.inmate_admit(
            facility=w.facility,
            booking_number="p6",
            first_name="Ana",
            last_name="Paz",
            security_level="medium",
            cell=w.reception,
            by=w.sup,
        )
        roll = check(7, 1)
        assert roll.total.reception == 1 and roll.total.arrived_by_kind == {"admission": 1}

        clock.move_to(local(8))
        p1_court = outing(w, "p1", MovementKind.COURT)
        check(8, 1)

        clock.move_to(local(9))
        services.inmate_update(inmate=p6, by=w.sup, cell=w.a2)  # celled: a cell move
        roll = check(9, 1)
        assert roll.total.reception == 0
        unit_a = next(u for u in roll.units if u.code == "A")
        assert unit_a.arrived_by_kind == {"cell_move": 1}  # from reception, its own unit

        clock.move_to(local(9, 30))
        services.inmate_update(inmate=Inmate.objects.get(booking_number="p3"), by=w.sup, cell=w.b1)
        roll = check(9, 31)
        unit_b = next(u for u in roll.units if u.code == "B")
        assert unit_b.arrived_by_kind == {"cell_move": 1}
        assert "cell_move" not in roll.total.arrived_by_kind  # inside the facility

        clock.move_to(local(10))
        court = Movement.objects.get(inmate__booking_number="p5", kind=MovementKind.COURT)
        services.movement_arrive(movement=court, by=w.sup)
        check(10, 1)

        clock.move_to(local(10, 30))
        outing(w, "p4", MovementKind.MEDICAL, to_location=w.infirmary)  # inside the walls
        check(10, 31)

        clock.move_to(local(11))
        release = services.movement_request(
            inmate=Inmate.objects.get(booking_number="p2"), kind=MovementKind.RELEASE, by=w.sup
        )
        services.movement_approve(movement=release, by=w.sup2)
        services.movement_depart(movement=release, by=w.sup)
        check(11, 1)

        clock.move_to(local(11, 30))
        transfer = services.movement_request(
            inmate=w.p["p7"],
            kind=MovementKind.TRANSFER,
            by=w.osup,
            to_facility=w.facility,
            expected_arrival_at=local(18),
        )
        services.movement_approve(movement=transfer, by=w.osup2)
        services.movement_depart(movement=transfer, by=w.osup)
        clock.move_to(local(12))
        services.movement_arrive(movement=transfer, by=w.sup, cell=w.a1)
        check(12, 1)

        clock.move_to(local(13))
        p7 = Inmate.objects.get(booking_number="p7")
        Movement.objects.create(  # what an internal movement leaves on the record
            inmate=p7,
            facility=w.facility,
            kind=MovementKind.INTERNAL,
            status="departed",
            from_location=w.a1,
            to_location=w.yard,
            expected_back_at=local(14),
            requested_by=w.sup,
            requested_at=local(13),
            approved_by=w.sup,
            approved_at=local(13),
            departed_by=w.sup,
            departed_at=local(13),
        )
        roll = check(13, 1)

        total = roll.total
        assert total.unlock_roll == 4  # p1, p2, p3, p4 (p5 at court)
        assert total.arrived_by_kind == {"admission": 1, "court": 1, "transfer": 1}
        assert total.out_by_kind == {"court": 1, "release": 1}
        assert total.current_roll == 5  # p3, p4, p5, p6, p7
        assert (total.in_cell, total.reception) == (3, 0)
        assert total.out_of_cell_by_kind == {"infirmary": 1, "yard": 1}
        assert total.away == 1 and p1_court.status == "departed"

        # Any past moment's roll, from the history, is what the roll said then.
        clock.move_to(local(23, 59))
        for at, then in seen.items():
            assert figures(establishment_roll(facility=w.facility, at=at)) == then, at
        # The next day starts from the evening's roll.
        clock.move_to(local(30))
        tomorrow = establishment_roll(facility=w.facility)
        assert_identities(tomorrow)
        assert tomorrow.total.unlock_roll == tomorrow.total.current_roll == 5


def test_capacity_sums_its_cells_and_names_the_overcrowded_ones(w):
    with time_machine.travel(local(8), tick=False):
        # A cell made to hold more than its certified two (an override) shows.
        Inmate.objects.filter(booking_number="p3").update(cell=w.a1)
        type(w.a1).objects.filter(pk=w.a1.pk).update(operational_capacity=1)
        roll = establishment_roll(facility=w.facility)
    unit_a = next(u for u in roll.units if u.code == "A")
    assert (unit_a.certified_capacity, unit_a.operational_capacity) == (4, 3)
    assert unit_a.net_vacancies == 3 - 3
    # The history still puts p3 in A-02: the roll reads assignments, not the column.
    assert unit_a.overcrowded_cells == [{"cell": "A-01", "occupancy": 2, "operational_capacity": 1}]
    assert roll.total.certified_capacity == 7


def test_the_roll_takes_a_fixed_number_of_queries_whatever_the_day(w):
    with time_machine.travel(local(12), tick=False), CaptureQueriesContext(connection) as queries:
        establishment_roll(facility=w.facility)
    assert len(queries) == 4


def test_the_roll_endpoint_answers_now_and_any_past_time(w, api_as, make_user):
    guard = make_user("guard", w.facility)
    with time_machine.travel(local(12), tick=False):
        now = api_as(guard).get(f"/api/v1/facilities/{w.facility.code}/roll/")
        past = api_as(guard).get(
            f"/api/v1/facilities/{w.facility.code}/roll/",
            {"at": local(-1).isoformat()},
        )
    assert now.status_code == 200, now.content
    body = now.json()
    assert body["total"]["current_roll"] == 5 and body["timezone"] == "America/Guatemala"
    assert body["day_start"].startswith("2026-11-24T00:00:00-06:00")
    assert [u["unit"] for u in body["units"]] == ["A", "B", "REC"]
    assert set(body["total"]) >= {
        "unlock_roll",
        "arrived_today",
        "out_by_kind",
        "out_of_cell_by_kind",
        "net_vacancies",
        "overcrowded",
    }
    assert past.status_code == 200 and past.json()["day_start"].startswith("2026-11-23")


@pytest.mark.parametrize(
    "query",
    [
        {"at": "yesterday"},
        {"at": "2026-11-24T06:00:00"},  # no offset
        {"at": "2099-01-01T00:00:00Z"},  # the future
        {"at": ["2026-11-24T06:00:00Z", "2026-11-24T07:00:00Z"]},
    ],
)
def test_the_roll_refuses_a_bad_time_with_a_400(w, api_as, query):
    with time_machine.travel(local(12), tick=False):
        answer = api_as(w.sup).get(f"/api/v1/facilities/{w.facility.code}/roll/", query)
    assert answer.status_code == 400 and "at" in answer.json()["errors"]


def test_another_facility_s_roll_is_not_found(w, api_as):
    answer = api_as(w.osup).get(f"/api/v1/facilities/{w.facility.code}/roll/")
    assert answer.status_code == 404


def test_the_roll_page_shows_now_and_a_past_local_time_and_refuses_a_bad_one(w, client, make_user):
    from tests.second_factor import sign_in

    sign_in(client, w.sup)
    page = f"/roll/{w.facility.code}/"
    with time_machine.travel(local(12), tick=False):
        now = client.get(page, HTTP_ACCEPT_LANGUAGE="es")
        past = client.get(page, {"at": "2026-11-23T20:00"})
        bad = client.get(page, {"at": "ayer"})
        future = client.get(page, {"at": "2026-12-30T08:00"})
    assert now.status_code == 200
    text = now.content.decode()
    assert "Recuento al desbloqueo" in text and "Plazas libres netas" in text
    assert past.status_code == 200 and 'value="2026-11-23T20:00"' in past.content.decode()
    assert bad.status_code == 400 and future.status_code == 400
    sign_in(client, make_user("guard", w.facility))
    assert client.get(page).status_code == 403


def test_the_dashboard_warns_of_an_overcrowded_cell_and_unit(w, client):
    from tests.second_factor import sign_in

    Inmate.objects.filter(booking_number="p3").update(cell=w.a1)  # 3 in a cell for 2
    type(w.a2).objects.filter(pk=w.a2.pk).update(operational_capacity=0)  # unit A: 3 for 2
    sign_in(client, w.sup)
    live = f"/dashboard/{w.facility.code}/live/"
    text = client.get(live, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Cell A-01: 3 people for 2 places" in text
    assert "Unit A: 3 people for 2 places" in text
    Inmate.objects.filter(booking_number="p3").update(cell=w.a2)
    type(w.a2).objects.filter(pk=w.a2.pk).update(operational_capacity=None)
    assert "crowding" not in client.get(live).content.decode()


def test_the_roll_s_queries_have_indexes_to_use_at_any_time(w):
    """The state at a time and the day's events each have an index to read
    (the planner picks sequential scans on a table this small; without them
    it must show an index, or there is none to use)."""
    from custody.selectors import roll

    params = {"f": w.facility.pk, "t": local(12), "away": list(roll.AWAY_KINDS)}
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        cursor.execute("EXPLAIN " + roll.HELD_AT_SQL, params)
        state = "\n".join(row[0] for row in cursor.fetchall())
        day = {"f": w.facility.pk, "s": local(0), "u": local(12), "outings": ["court"]}
        cursor.execute("EXPLAIN " + roll.EVENTS_SQL, day)
        events = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("RESET enable_seqscan")
    assert "assignment_cell_ended" in state or "assignment_cell_time" in state, state
    assert "movement_completed_time" in state or "movement_departed_time" in state, state
    assert "Seq Scan on custody_cellassignment" not in state
    assert "Seq Scan on custody_movement" not in state
    for index in ("assignment_cell_time", "assignment_cell_ended"):
        assert index in events, events
    assert "movement_completed_time" in events or "movement_departed_time" in events, events
    assert "Seq Scan on custody_cellassignment" not in events
    assert "Seq Scan on custody_movement" not in events
