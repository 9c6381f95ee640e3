"""The live headcount (docs/api.md "Headcount"; definitions in selectors.facility_headcount)."""

import uuid
from datetime import timedelta
from types import SimpleNamespace

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from custody import selectors, services
from custody.models import Inmate, InmateStatus, LocationKind, MovementKind, SecurityLevel
from tests import factories

pytestmark = pytest.mark.django_db

T0 = "2026-11-24 14:00:00+00:00"  # 08:00 in Guatemala (UTC-6, no DST)
INTERVAL = timedelta(hours=1)  # medium security, the facility's default
GRACE = timedelta(seconds=300)  # the facility's default


def url(facility):
    return f"/api/v1/facilities/{facility.code}/headcount/"


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def w(clock, facility, other_facility, make_user, api_as):
    """Unit A (cells A-01, A-02), unit B (cell B-01), a cell with no unit
    (ISO-1), an empty unit C; a guard, two supervisors, and a supervisor of
    the other facility (who receives transfers)."""
    unit_a = factories.LocationFactory(facility=facility, code="A", kind=LocationKind.UNIT)
    unit_b = factories.LocationFactory(facility=facility, code="B", kind=LocationKind.UNIT)
    factories.LocationFactory(facility=facility, code="C", kind=LocationKind.UNIT)
    guard = make_user("guard", facility)
    return SimpleNamespace(
        facility=facility,
        other=other_facility,
        a1=factories.CellFactory(facility=facility, code="A-01", parent=unit_a),
        a2=factories.CellFactory(facility=facility, code="A-02", parent=unit_a),
        b1=factories.CellFactory(facility=facility, code="B-01", parent=unit_b),
        iso=factories.CellFactory(facility=facility, code="ISO-1", parent=None),
        z1=factories.CellFactory(facility=other_facility, code="Z-01"),
        guard=guard,
        sup=make_user("supervisor", facility),
        sup2=make_user("supervisor", facility),
        dest=make_user("supervisor", other_facility),
        client=api_as(guard),
    )


def admit(w, cell, **kwargs):
    return factories.InmateFactory(facility=w.facility, cell=cell, **kwargs)


def headcount(w, facility=None):
    response = w.client.get(url(facility or w.facility))
    assert response.status_code == 200, response.content
    return response.json()


def totals(body):
    return {k: body[k] for k in ("expected", "present", "out_authorized", "unaccounted")}


def rows(body):
    return {
        row["location"]: (
            row["expected"],
            row["present"],
            row["out_authorized"],
            row["unaccounted"],
        )
        for row in body["by_location"]
    }


def go_out(w, inmate, kind=MovementKind.COURT):
    movement = services.movement_request(
        inmate=inmate,
        kind=kind,
        by=w.sup,
        destination="Juzgado de Mixco",
        expected_back_at=timezone.now() + timedelta(hours=4),
    )
    services.movement_approve(movement=movement, by=w.sup2)  # every departure: two officers
    services.movement_depart(movement=movement, by=w.sup)
    return movement


def transfer_out(w, inmate):
    movement = services.movement_request(
        inmate=inmate,
        kind=MovementKind.TRANSFER,
        by=w.sup,
        to_facility=w.other,
        expected_arrival_at=timezone.now() + timedelta(hours=6),
    )
    services.movement_approve(movement=movement, by=w.sup2)
    services.movement_depart(movement=movement, by=w.sup)
    return movement


def release(w, inmate):
    movement = services.movement_request(inmate=inmate, kind=MovementKind.RELEASE, by=w.sup)
    services.movement_approve(movement=movement, by=w.sup2)
    services.movement_depart(movement=movement, by=w.sup)


def check_in(w, inmate, cell):
    answer = w.client.post(
        "/api/v1/checkins/",
        [
            {
                "id": str(uuid.uuid4()),
                "inmate": inmate.booking_number,
                "location": cell.code,
                "method": "visual",
                "observed_at": timezone.now().isoformat(),
            }
        ],
        format="json",
    )
    assert answer.json()["accepted"] == 1, answer.content


# --- The contract ----------------------------------------------------------------


def test_people_seen_on_schedule_are_present_in_their_unit(w):
    admit(w, w.a1)
    admit(w, w.a2)
    admit(w, w.iso)

    body = headcount(w)

    assert body == {
        "facility": w.facility.code,
        "timezone": "America/Guatemala",
        "expected": 3,
        "present": 3,
        "out_authorized": 0,
        "unaccounted": 0,
        "in_transit": 0,
        # Seen by a guard's eyes only: present, and nobody's identity proven.
        "identity_verified": 0,
        # A cell's unit is its parent; a cell with no parent is its own unit.
        # Unit B and C hold nobody expected: not listed. Ordered by code.
        # Never counted by roll call: no last count yet.
        "by_location": [
            {
                "location": "A",
                "expected": 2,
                "present": 2,
                "out_authorized": 0,
                "unaccounted": 0,
                "identity_verified": 0,
                "last_count_at": None,
                "last_cleared_count_at": None,
            },
            {
                "location": "ISO-1",
                "expected": 1,
                "present": 1,
                "out_authorized": 0,
                "unaccounted": 0,
                "identity_verified": 0,
                "last_count_at": None,
                "last_cleared_count_at": None,
            },
        ],
        "as_of": "2026-11-24T08:00:00-06:00",
    }


def test_as_of_is_in_the_counted_facilitys_zone_not_the_callers(w, make_user, api_as):
    w.other.timezone = "Europe/Madrid"
    w.other.save()
    client = api_as(make_user("auditor", w.facility, w.other))
    assert client.get(url(w.facility)).json()["as_of"] == "2026-11-24T08:00:00-06:00"
    body = client.get(url(w.other)).json()
    assert (body["timezone"], body["as_of"]) == ("Europe/Madrid", "2026-11-24T15:00:00+01:00")


def test_empty_facility_counts_zero(w):
    body = headcount(w)
    assert totals(body) == {"expected": 0, "present": 0, "out_authorized": 0, "unaccounted": 0}
    assert body["by_location"] == []


# --- Overdue and the grace period ------------------------------------------------


def test_past_the_deadline_plus_grace_a_person_is_unaccounted(w, clock):
    admit(w, w.a1)  # seen at admission: due at T0 + 1 h

    clock.shift(INTERVAL + GRACE - timedelta(seconds=1))  # just inside the grace
    assert totals(headcount(w))["present"] == 1

    clock.shift(timedelta(seconds=1))  # exactly at deadline + grace: still present
    assert totals(headcount(w)) == {
        "expected": 1,
        "present": 1,
        "out_authorized": 0,
        "unaccounted": 0,
    }

    clock.shift(timedelta(seconds=1))  # one second past it
    body = headcount(w)
    assert totals(body) == {"expected": 1, "present": 0, "out_authorized": 0, "unaccounted": 1}
    assert rows(body) == {"A": (1, 0, 0, 1)}


def test_a_facility_with_a_longer_grace_waits_longer(w, clock):
    w.facility.grace_seconds = 900
    w.facility.save()
    admit(w, w.a1)
    clock.shift(INTERVAL + timedelta(seconds=900))
    assert totals(headcount(w))["present"] == 1
    clock.shift(timedelta(seconds=1))
    assert totals(headcount(w))["unaccounted"] == 1


def test_a_positive_observation_makes_an_overdue_person_present_again(w, clock):
    inmate = admit(w, w.a1)
    clock.shift(INTERVAL + GRACE + timedelta(minutes=10))
    assert totals(headcount(w))["unaccounted"] == 1

    check_in(w, inmate, w.a1)

    assert totals(headcount(w)) == {
        "expected": 1,
        "present": 1,
        "out_authorized": 0,
        "unaccounted": 0,
    }


# --- Who is on the count --------------------------------------------------------


def test_out_on_an_authorised_movement_is_expected_but_not_unaccounted(w, clock):
    admit(w, w.a1)
    away = admit(w, w.a1)
    go_out(w, away)

    body = headcount(w)
    assert totals(body) == {"expected": 2, "present": 1, "out_authorized": 1, "unaccounted": 0}
    # The cell is kept while away, so they stay on their unit's count.
    assert rows(body) == {"A": (2, 1, 1, 0)}

    # No check-in deadline while away: hours later they are still accounted for.
    clock.shift(timedelta(hours=3))
    assert totals(headcount(w)) == {
        "expected": 2,
        "present": 0,
        "out_authorized": 1,
        "unaccounted": 1,
    }


def test_in_transit_is_on_neither_facilitys_count_until_it_arrives(w, api_as):
    admit(w, w.a1)
    moving = admit(w, w.b1)
    movement = transfer_out(w, moving)

    origin = headcount(w)
    assert totals(origin) == {"expected": 1, "present": 1, "out_authorized": 0, "unaccounted": 0}
    assert origin["in_transit"] == 1
    assert rows(origin) == {"A": (1, 1, 0, 0)}  # unit B is empty now
    dest_client = api_as(w.dest)
    destination = dest_client.get(url(w.other)).json()
    assert (destination["expected"], destination["in_transit"]) == (0, 0)

    services.movement_arrive(movement=movement, by=w.dest, cell=w.z1)

    assert headcount(w)["in_transit"] == 0
    destination = dest_client.get(url(w.other)).json()
    assert totals(destination) == {
        "expected": 1,
        "present": 1,
        "out_authorized": 0,
        "unaccounted": 0,
    }
    assert rows(destination) == {w.z1.parent.code: (1, 1, 0, 0)}


def test_released_and_deceased_people_are_not_counted(w):
    admit(w, w.a1)
    release(w, admit(w, w.b1))
    dead = admit(w, w.b1)
    Inmate.objects.filter(pk=dead.pk).update(
        status=InmateStatus.DECEASED, cell=None, next_due_at=None
    )

    body = headcount(w)
    assert totals(body) == {"expected": 1, "present": 1, "out_authorized": 0, "unaccounted": 0}
    assert rows(body) == {"A": (1, 1, 0, 0)}


def test_missing_and_escaped_people_are_unaccounted(w):
    # The alerting side sets these statuses; here, directly.
    missing = admit(w, w.a1)
    escaped = admit(w, w.b1)
    escaped_no_cell = admit(w, w.b1)
    Inmate.objects.filter(pk=missing.pk).update(status=InmateStatus.MISSING)
    Inmate.objects.filter(pk=escaped.pk).update(status=InmateStatus.ESCAPED)
    Inmate.objects.filter(pk=escaped_no_cell.pk).update(status=InmateStatus.ESCAPED, cell=None)

    body = headcount(w)
    assert totals(body) == {"expected": 3, "present": 0, "out_authorized": 0, "unaccounted": 3}
    # Someone with no cell has no unit: a last row without a location, so the
    # rows always add up to the totals.
    assert [row["location"] for row in body["by_location"]] == ["A", "B", None]
    assert rows(body) == {"A": (1, 0, 0, 1), "B": (1, 0, 0, 1), None: (1, 0, 0, 1)}


def test_per_unit_numbers_add_up_to_the_totals(w, clock):
    admit(w, w.a1)  # these two will be overdue
    admit(w, w.b1)
    clock.shift(INTERVAL)
    # Admitted an hour later, so still on schedule when the others are overdue.
    admit(w, w.a2)
    admit(w, w.iso)
    go_out(w, admit(w, w.a2), kind=MovementKind.MEDICAL)
    go_out(w, admit(w, w.b1))
    transfer_out(w, admit(w, w.a1))
    release(w, admit(w, w.b1))
    escaped = admit(w, w.b1)
    Inmate.objects.filter(pk=escaped.pk).update(status=InmateStatus.ESCAPED)
    clock.shift(GRACE + timedelta(seconds=1))

    body = headcount(w)

    assert rows(body) == {
        # expected, present, out_authorized, unaccounted
        "A": (3, 1, 1, 1),  # overdue, on schedule, out (medical); the transfer is gone
        "B": (3, 0, 1, 2),  # overdue, out (court), escaped; the released one is gone
        "ISO-1": (1, 1, 0, 0),
    }
    assert [row["location"] for row in body["by_location"]] == ["A", "B", "ISO-1"]
    assert totals(body) == {"expected": 7, "present": 2, "out_authorized": 2, "unaccounted": 3}
    assert body["in_transit"] == 1
    for key in ("expected", "present", "out_authorized", "unaccounted"):
        assert body[key] == sum(row[key] for row in body["by_location"])


def test_another_facilitys_people_are_not_counted(w):
    admit(w, w.a1)
    factories.InmateFactory(facility=w.other, cell=w.z1)
    assert headcount(w)["expected"] == 1


# --- Who may ask ----------------------------------------------------------------


@pytest.mark.parametrize("role", ["guard", "supervisor", "auditor", "admin"])
def test_every_role_of_the_facility_reads_it(w, make_user, api_as, role):
    admit(w, w.a1)
    response = api_as(make_user(role, w.facility)).get(url(w.facility))
    assert response.status_code == 200
    assert response.json()["expected"] == 1


def test_another_facilitys_headcount_answers_404(w, make_user, api_as):
    factories.InmateFactory(facility=w.other, cell=w.z1)
    for role in ["guard", "supervisor", "auditor", "admin"]:
        response = api_as(make_user(role, w.facility)).get(url(w.other))
        assert response.status_code == 404, role
        assert "detail" in response.json()
    assert w.client.get("/api/v1/facilities/NOPE/headcount/").status_code == 404


def test_devices_and_anonymous_callers_are_refused(w, api_as):
    _device, key = factories.device(w.facility)
    assert api_as(device_key=key).get(url(w.facility)).status_code == 403
    assert api_as().get(url(w.facility)).status_code == 401


def test_writes_are_not_allowed(w, make_user, api_as):
    admin = api_as(make_user("admin", w.facility))
    assert admin.post(url(w.facility), {}, format="json").status_code == 405


def test_the_schema_documents_the_response(w, make_user, api_as):
    schema = api_as(make_user("admin", w.facility)).get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/facilities/{code}/headcount/"]["get"]
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    component = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert {"expected", "present", "out_authorized", "unaccounted", "by_location", "as_of"} <= set(
        component["required"]
    )
    assert component["properties"]["as_of"]["format"] == "date-time"
    assert [p["name"] for p in operation.get("parameters", [])] == ["code"]  # no filters, no pages
    assert "404" in operation["responses"]


# --- Cost -----------------------------------------------------------------------


def populate(facility, cells, n):
    """``n`` people over the ``cells``; a third of them overdue, a tenth out and
    one missing, so every filter has rows to count."""
    now = timezone.now()
    services.inmates_admit_bulk(
        facility=facility,
        rows=[
            {
                "booking_number": f"GT-{facility.code}-{i:05d}",
                "first_name": "Ana",
                "last_name": "López",
                "security_level": SecurityLevel.MEDIUM,
                "cell": cells[i % len(cells)],
                "admitted_at": now - (2 * INTERVAL if i % 3 == 0 else timedelta(0)),
            }
            for i in range(n)
        ],
    )
    people = Inmate.objects.filter(facility=facility).order_by("pk")
    Inmate.objects.filter(pk__in=people.values("pk")[: max(1, n // 10)]).update(
        status=InmateStatus.OUT_AUTHORIZED, next_due_at=None
    )
    Inmate.objects.filter(pk=people.last().pk).update(status=InmateStatus.MISSING)


@pytest.mark.parametrize("n", [3, 300])
def test_the_selector_is_two_queries_whatever_the_size(w, django_assert_num_queries, n):
    populate(w.facility, [w.a1, w.a2, w.b1, w.iso], n)
    with django_assert_num_queries(2):  # the people, and the units' last roll calls
        result = selectors.facility_headcount(facility=w.facility)
    assert result.expected == n
    assert result.present + result.out_authorized + result.unaccounted == n
    assert result.unaccounted > 0 and result.out_authorized > 0
    assert sum(row.expected for row in result.by_location) == n


def test_the_endpoint_costs_the_same_for_3_or_300_people(w, make_user, api_as):
    def queries_for(facility, n):
        client = api_as(make_user("supervisor", facility))
        client.get(url(facility))  # warm up: first-use caches (content types, groups)
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url(facility)).json()["expected"] == n
        return len(ctx.captured_queries)

    populate(w.facility, [w.a1, w.a2, w.b1, w.iso], 3)
    big = factories.FacilityFactory()
    cells = [factories.CellFactory(facility=big) for _ in range(20)]
    populate(big, cells, 300)
    assert queries_for(big, 300) == queries_for(w.facility, 3)
