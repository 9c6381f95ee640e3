"""Timelines of the auditor workspace: a person's custody history filtered by
time and type, who was in a place between two times, what an officer did;
their pages, their API, and the exports of a person's history."""

import csv
import io
import uuid
import zoneinfo
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from alerts.audit import officers
from alerts.audit.pages import timelines as timeline_pages
from alerts.audit.people import PERSON_TYPES, person_timeline
from alerts.audit.period import Period
from alerts.services import alert_acknowledge, alert_resolve
from custody import services
from custody.models import Facility, Inmate, LedgerEvent, Location, Movement, User
from custody.selectors import location_occupancy
from custody.selectors.history import HISTORY_TYPES
from custody.services import rollcalls
from tests import factories
from tests.rollcall_world import verify_by_recount
from tests.second_factor import sign_in

pytestmark = pytest.mark.django_db

NOW = timezone.now().replace(microsecond=0)
T0 = NOW - timedelta(days=2)
H = timedelta(hours=1)
M = timedelta(minutes=1)


@pytest.fixture(autouse=True)
def _frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


@dataclass
class World:
    facility: Facility
    other: Facility
    unit: Location
    c1: Location
    c2: Location
    ana: Inmate
    berta: Inmate
    users: dict

    def __getattr__(self, name):
        users = self.__dict__.get("users", {})
        if name in users:
            return users[name]
        raise AttributeError(name)


@pytest.fixture
def w(facility, other_facility, make_user) -> World:
    """Unit U of two cells; Ana in U-01 and Berta in U-02 since the day
    before T0; officers of each role, and an auditor of another facility."""
    unit = factories.LocationFactory(facility=facility, code="U", kind="unit")
    c1 = factories.CellFactory(facility=facility, code="U-01", parent=unit)
    c2 = factories.CellFactory(facility=facility, code="U-02", parent=unit)
    with time_machine.travel(T0 - timedelta(days=1), tick=False):
        ana = factories.InmateFactory(
            facility=facility, cell=c1, booking_number="GT-1", first_name="Ana", last_name="Paz"
        )
        berta = factories.InmateFactory(
            facility=facility, cell=c2, booking_number="GT-2", first_name="Berta", last_name="Ruiz"
        )
    roles = {
        "aud": "auditor",
        "sup": "supervisor",
        "sup2": "supervisor",
        "guard": "guard",
        "guard2": "guard",
        "admin": "admin",
    }
    users = {name: make_user(role, facility, username=name) for name, role in roles.items()}
    users["outsider"] = make_user("auditor", other_facility, username="outsider")
    return World(facility, other_facility, unit, c1, c2, ana, berta, users)


def checkin(inmate, at, *, location=None, method="fingerprint", by=None, facility=None):
    return factories.CheckInFactory(
        observed_at=at,
        facility=facility or inmate.facility,
        inmate=inmate,
        location=location or inmate.cell,
        method=method,
        score=None if method == "visual" else 0.91,
        recorded_by=by,
    )


def court_trip(inmate, at, officer):
    return Movement.objects.create(
        inmate=inmate,
        facility=inmate.facility,
        kind="court",
        status="completed",
        destination="Juzgado 3",
        requested_by=officer,
        requested_at=at,
        # Every departure has a second officer (the database refuses one alone).
        approved_by=factories.UserFactory(role="supervisor", facilities=[inmate.facility]),
        completed_at=at + 4 * H,
    )


def note(inmate, at, **data):
    return services.ledger_append(
        facility=inmate.facility,
        actor=None,
        action="inmate.note",
        subject=f"inmate:{inmate.booking_number}",
        data=data,
        at=at,
    )


def history(client, query="", booking="GT-1"):
    response = client.get(f"/api/v1/inmates/{booking}/history/{query}")
    assert response.status_code == 200, response.content
    return response.json()


def iso(at, facility) -> str:
    return at.astimezone(facility.tzinfo).isoformat()


def q(**params) -> str:
    from urllib.parse import urlencode

    return "?" + urlencode(params, doseq=True)


def page_client(user) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    sign_in(client, user)
    return client


# --- A person's history: filters -------------------------------------------------


def test_history_keeps_what_happened_from_since_until_before_until(w, api_as):
    """``since`` is inclusive, ``until`` exclusive, on each kind's own time."""
    before = checkin(w.ana, T0 + H)
    at_since = checkin(w.ana, T0 + 2 * H)
    trip = court_trip(w.ana, T0 + 2 * H + 30 * M, w.sup)
    noted = note(w.ana, T0 + 2 * H + 40 * M, text="visita")
    at_until = checkin(w.ana, T0 + 3 * H)
    client = api_as(w.aud)

    window = q(since=iso(T0 + 2 * H, w.facility), until=iso(T0 + 3 * H, w.facility))
    body = history(client, window)
    assert [(e["type"], e["id"]) for e in body["results"]] == [
        ("checkin", str(at_since.id)),
        ("movement", str(trip.id)),
        ("ledger", str(noted.id)),
    ]
    assert body["count"] == 3
    assert str(before.id) not in str(body) and str(at_until.id) not in str(body)

    # The same instants written with another offset mean the same range.
    utc = q(since=(T0 + 2 * H).isoformat(), until=(T0 + 3 * H).isoformat())
    assert history(client, utc)["results"] == body["results"]

    only = history(client, window + "&type=checkin&type=movement")["results"]
    assert [e["type"] for e in only] == ["checkin", "movement"]
    assert [e["type"] for e in history(client, window + "&type=ledger")["results"]] == ["ledger"]
    # Open-ended either way.
    assert history(client, q(since=iso(T0 + 3 * H, w.facility)))["results"][0]["id"] == str(
        at_until.id
    )
    assert str(before.id) in str(history(client, q(until=iso(T0 + 2 * H, w.facility))))


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?since=yesterday", "since"),
        ("?since=2026-11-24T06:00:00", "since"),  # no offset: which zone?
        ("?until=2026-13-01T00:00:00Z", "until"),
        ("?since=0001-01-01T00:00:00%2B14:00", "since"),  # before year 1 in UTC
        ("?since=2026-11-24T06:00:00Z&since=2026-11-25T06:00:00Z", "since"),
        ("?since=2026-11-24T06:00:00Z&until=2026-11-24T06:00:00Z", "until"),
        ("?type=alert", "type"),
        ("?type=checkin&type=nonsense", "type"),
    ],
)
def test_history_refuses_filters_it_cannot_read(w, english_api_as, query, field):
    response = english_api_as(w.aud).get(f"/api/v1/inmates/GT-1/history/{query}")
    assert response.status_code == 400, response.content
    body = response.json()
    assert field in body["errors"] and body["detail"]


def test_a_filtered_page_of_history_costs_the_same_queries_however_long(
    w, api_as, django_assert_num_queries
):
    client = api_as(w.aud)
    query = q(
        since=iso(T0, w.facility),
        until=iso(T0 + 20 * H, w.facility),
        type=["checkin", "ledger", "count_entry", "movement"],
        page_size=20,
    )
    checkin(w.ana, T0 + M)
    with CaptureQueriesContext(connection) as short:
        history(client, query)
    for minute in range(2, 400, 2):
        checkin(w.ana, T0 + minute * M)
    for minute in range(1, 300, 7):
        note(w.ana, T0 + minute * M, n=minute)
    for hour in range(1, 10):
        court_trip(w.ana, T0 + hour * H, w.sup)
    with django_assert_num_queries(len(short)):
        body = history(client, query)
    assert body["count"] > 250 and len(body["results"]) == 20


def test_entry_types_sort_alike_in_python_and_in_the_database():
    """Reading a timeline in chunks compares entry types in Python; the
    database orders the same rows by its own collation: they must agree, in
    the database's default collation and in the linguistic ones."""
    names = sorted(set(HISTORY_TYPES) | set(PERSON_TYPES) | set(officers.ACTIVITY_TYPES))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT collname FROM pg_collation WHERE collname IN "
            "('default', 'und-x-icu', 'en-x-icu', 'es-x-icu', 'en_US.utf8', 'es_ES.utf8')"
        )
        collations = [None] + [row[0] for row in cursor.fetchall()]
        for collation in collations:
            order = f' COLLATE "{collation}"' if collation else ""
            cursor.execute(f"SELECT t FROM unnest(%s::text[]) t ORDER BY t{order}", [names[::-1]])
            assert [row[0] for row in cursor.fetchall()] == names, collation


# --- Who was in a place ------------------------------------------------------------


def move(inmate, cell, at, by):
    with time_machine.travel(at, tick=False):
        return services.inmate_update(inmate=inmate, cell=cell, by=by)


def admit(w, booking, cell, at):
    with time_machine.travel(at, tick=False):
        return factories.InmateFactory(facility=w.facility, cell=cell, booking_number=booking)


def test_who_was_in_a_cell_between_two_times(w):
    since, until = T0, T0 + 6 * H
    # Ana: in U-01 from the day before, moved out inside the period.
    move(w.ana, w.c2, T0 + 2 * H, w.sup)
    # Berta: moved in inside the period, still there.
    move(w.berta, w.c1, T0 + 3 * H, w.sup)
    carla = admit(w, "GT-3", w.c1, T0 - timedelta(days=2))  # there all along
    dora = admit(w, "GT-4", w.c1, T0 - timedelta(days=2))
    move(dora, w.c2, since, w.sup)  # left exactly at the start: not there
    eva = admit(w, "GT-5", w.c2, T0 - H)
    move(eva, w.c1, until, w.sup)  # came exactly at the end: not there
    admit(w, "GT-6", w.c1, since)  # came exactly at the start: there
    gil = admit(w, "GT-7", w.c2, T0 - timedelta(days=2))

    checkin(carla, T0 + 30 * M)
    checkin(carla, T0 + 4 * H, method="visual", by=w.guard)
    checkin(carla, until)  # after the period
    checkin(gil, T0 + H, location=w.c1)  # seen where nobody put him

    occupancy = location_occupancy(location=w.c1, since=since, until=until)
    stays = [(s.booking_number, s.started_at, s.ended_at) for s in occupancy.stays]
    assert stays == [
        ("GT-3", T0 - timedelta(days=2), None),
        ("GT-1", T0 - timedelta(days=1), T0 + 2 * H),
        ("GT-6", since, None),
        ("GT-2", T0 + 3 * H, None),
    ]
    berta_stay = occupancy.stays[-1]
    assert berta_stay.started_by_kind == "cell_move"
    assert Movement.objects.get(pk=berta_stay.started_by).inmate_id == w.berta.pk

    seen = {s.booking_number: s for s in occupancy.sightings}
    assert set(seen) == {"GT-3", "GT-7"}
    assert (seen["GT-3"].checkins, seen["GT-3"].methods) == (2, {"fingerprint": 1, "visual": 1})
    assert (seen["GT-3"].first_seen_at, seen["GT-3"].last_seen_at) == (T0 + 30 * M, T0 + 4 * H)
    assert seen["GT-3"].assigned is True
    assert seen["GT-7"].assigned is False and seen["GT-7"].places == ["U-01"]


def test_a_unit_answers_for_the_cells_inside_it(w):
    gil = admit(w, "GT-7", w.c2, T0 - timedelta(days=2))
    checkin(gil, T0 + H, location=w.c1)
    checkin(w.ana, T0 + 2 * H, location=w.unit)  # the unit's own reader
    occupancy = location_occupancy(location=w.unit, since=T0, until=T0 + 6 * H)
    assert {c.code for c in occupancy.cells} == {"U-01", "U-02"}
    assert {(s.booking_number, s.cell) for s in occupancy.stays} == {
        ("GT-1", "U-01"),
        ("GT-2", "U-02"),
        ("GT-7", "U-02"),
    }
    seen = {s.booking_number: s for s in occupancy.sightings}
    # Gil is in the unit, in the other cell: assigned here, seen in U-01.
    assert seen["GT-7"].assigned and seen["GT-7"].places == ["U-01"]
    assert seen["GT-1"].places == ["U"]


def test_occupants_api_defaults_to_the_last_day_and_refuses_bad_ranges(w, english_api_as):
    checkin(w.ana, NOW - 2 * H)
    checkin(w.ana, NOW - 30 * H)
    client = english_api_as(w.aud)
    url = f"/api/v1/locations/{w.c1.pk}/occupants/"
    body = client.get(url).json()
    assert body["since"] == iso(NOW - 24 * H, w.facility)
    assert body["until"] == iso(NOW, w.facility)
    assert (body["facility"], body["location"], body["cells"]) == (
        w.facility.code,
        "U-01",
        ["U-01"],
    )
    assert [s["inmate"] for s in body["stays"]] == ["GT-1"]
    assert body["stays"][0]["ended_at"] is None
    assert body["seen"][0]["inmate"] == "GT-1" and body["seen"][0]["checkins"] == 1
    assert body["seen"][0]["assigned"] is True

    wide = client.get(url + q(since=iso(NOW - 48 * H, w.facility))).json()
    assert wide["seen"][0]["checkins"] == 2

    for query, field in [
        (q(since="soon"), "since"),
        (q(since=iso(NOW + H, w.facility)), "since"),  # after the default end (now)
        (q(since=iso(NOW - 400 * 24 * H, w.facility)), "since"),  # more than a year
        (q(until=iso(NOW, w.facility), since=iso(NOW, w.facility)), "until"),
    ]:
        response = client.get(url + query)
        assert response.status_code == 400, (query, response.content)
        assert field in response.json()["errors"]
    other = factories.CellFactory(facility=w.other)
    assert client.get(f"/api/v1/locations/{other.pk}/occupants/").status_code == 404


# --- What an officer did -------------------------------------------------------------


def take_count(w, guard, at, *, marks, submit_at=None):
    """A formal count of unit U by ``guard`` at ``at``; ``marks``: (inmate,
    status, method) marked a minute apart; submitted at ``submit_at``."""
    rollcall, _created = rollcalls.rollcall_start(location=w.unit, kind="formal", by=guard, now=at)
    raw = [
        {
            "id": str(uuid.uuid4()),
            "inmate": inmate.booking_number,
            "status": status,
            "method": method,
            "observed_at": (at + (n + 1) * M).isoformat(),
        }
        for n, (inmate, status, method) in enumerate(marks)
    ]
    # A scan is the tablet's evidence: only an enrolled tablet records rfid.
    tablet = None
    if any(method == "rfid" for _i, _s, method in marks):
        tablet, _key = factories.device(w.facility, kind="tablet")
    with time_machine.travel(at + 5 * M, tick=False):
        rollcalls.rollcall_record_entries(
            rollcall=rollcall, raw_entries=raw, by=guard, device=tablet
        )
    if submit_at:
        with time_machine.travel(submit_at, tick=False):
            rollcall = rollcalls.rollcall_submit(rollcall=rollcall, by=guard, now=submit_at)
    return rollcall


def open_alert(w, at, inmate=None):
    return factories.AlertFactory(
        facility=w.facility,
        dedup_key=f"missed_checkin:inmate:{uuid.uuid4()}",
        inmate=inmate or w.ana,
        location=(inmate or w.ana).cell,
        opened_at=at,
    )


@pytest.fixture
def shift(w):
    """One day of work, [T0, T0 + 1 day): what each officer did, and some
    things they did outside it."""
    checkin(w.ana, T0 - H, method="visual", by=w.guard)  # the day before: not counted
    c1 = checkin(w.ana, T0 + 30 * M, method="visual", by=w.guard)
    c2 = checkin(w.berta, T0 + 31 * M, method="visual", by=w.guard)
    c3 = checkin(w.ana, T0 + 6 * H, method="rfid", by=w.guard)
    checkin(w.ana, T0 + 7 * H)  # a reader's: nobody's
    count = take_count(
        w,
        w.guard,
        T0 + H,
        marks=[(w.ana, "present", "visual"), (w.berta, "present", "manual")],
        submit_at=T0 + H + 10 * M,
    )
    other_count = take_count(
        w,
        w.guard2,
        T0 + 3 * H,
        marks=[(w.ana, "present", "manual"), (w.berta, "absent", "visual")],
        submit_at=T0 + 3 * H + 10 * M,
    )
    with time_machine.travel(T0 + 2 * H, tick=False):
        verify_by_recount(count, w.sup, now=T0 + 2 * H)
    alert = open_alert(w, T0 + 4 * H)
    with time_machine.travel(T0 + 4 * H + 5 * M, tick=False):
        alert_acknowledge(alert=alert, by=w.sup)
    with time_machine.travel(T0 + 4 * H + 20 * M, tick=False):
        alert = alert_resolve(alert=alert, by=w.sup, resolution="Seen in the infirmary, fine.")
    with time_machine.travel(T0 + 5 * H, tick=False):
        trip = services.movement_request(
            inmate=w.berta,
            kind="court",
            by=w.sup2,
            destination="Juzgado 3",
            expected_back_at=T0 + 9 * H,
        )
        services.movement_approve(movement=trip, by=w.sup)
    return {
        "checkins": [c1, c2, c3],
        "count": count,
        "other_count": other_count,
        "alert": alert,
        "trip": trip,
    }


DAY = Period(T0, T0 + timedelta(days=1), zoneinfo.ZoneInfo("America/Guatemala"))


def test_an_officers_totals_are_what_they_did_in_the_period(
    w, shift, django_assert_max_num_queries
):
    ids = [w.guard.pk, w.guard2.pk, w.sup.pk, w.sup2.pk]
    with django_assert_max_num_queries(8):
        totals = officers.officer_totals(facility=w.facility, period=DAY, officer_ids=ids)
    guard = totals[w.guard.pk]
    assert (guard.counts_started, guard.counts_submitted, guard.unaccounted) == (1, 1, 0)
    # Three checks of their own and two present marks on their count (each
    # stored as a check-in too): three of the five by eye alone.
    assert (guard.checkins, guard.checkins_visual, guard.visual_share) == (5, 3, 0.6)
    assert (guard.entries, guard.entries_visual) == (2, 1)
    assert guard.counts_verified == guard.alerts_acknowledged == guard.approvals == 0

    assert (totals[w.guard2.pk].counts_submitted, totals[w.guard2.pk].unaccounted) == (1, 1)

    sup = totals[w.sup.pk]
    assert (sup.counts_verified, sup.movements_approved, sup.approvals) == (1, 1, 2)
    assert (sup.alerts_acknowledged, sup.alerts_resolved) == (1, 1)
    assert sup.acknowledge_time == 5 * M
    # The recount that verified the count: the two people found are the
    # verifier's own observations, made by sight.
    assert (sup.checkins, sup.checkins_visual, sup.visual_share) == (2, 2, 1.0)
    assert totals[w.sup2.pk].approvals == 0  # requesting is not approving

    # The same numbers alone, and nothing outside the period.
    assert officers.officer_summary(facility=w.facility, officer=w.guard, period=DAY) == guard
    later = Period(T0 + 12 * H, T0 + timedelta(days=1), DAY.tz)
    nothing = officers.OfficerTotals()
    assert officers.officer_summary(facility=w.facility, officer=w.guard, period=later) == nothing


def test_totals_cost_the_same_queries_for_one_officer_or_many(w, shift, django_assert_num_queries):
    with CaptureQueriesContext(connection) as one:
        officers.officer_totals(facility=w.facility, period=DAY, officer_ids=[w.guard.pk])
    many = list(User.objects.values_list("pk", flat=True))
    with django_assert_num_queries(len(one)):
        officers.officer_totals(facility=w.facility, period=DAY, officer_ids=many)


def activity(client, w, username, query=""):
    response = client.get(
        f"/api/v1/audit/officers/{username}/activity/"
        + q(facility=w.facility.code, since=T0.isoformat(), until=(T0 + 24 * H).isoformat())
        + query
    )
    assert response.status_code == 200, response.content
    return response.json()


def test_an_officers_actions_read_oldest_first_and_page_up(w, shift, api_as):
    client = api_as(w.aud)
    whole = activity(client, w, "guard", "&page_size=500")
    # Each present mark is a count entry and a check-in of the same id, at
    # one instant: the check-in first (by type).
    assert [e["type"] for e in whole["results"]] == [
        "checkin",
        "checkin",
        "count_started",
        "checkin",
        "count_entry",
        "checkin",
        "count_entry",
        "count_submitted",
        "checkin",
    ]
    ids = [e["id"] for e in whole["results"]]
    assert (ids[0], ids[1], ids[-1]) == tuple(str(c.id) for c in shift["checkins"])
    assert ids[3] == ids[4] and ids[5] == ids[6]
    started = whole["results"][2]
    assert started["id"] == str(shift["count"].pk)
    assert started["summary"]["location"] == "U" and started["summary"]["expected"] == 2
    assert whole["results"][7]["summary"]["unaccounted"] == 0
    assert whole["results"][0]["at"] == iso(T0 + 30 * M, w.facility)

    pages, number = [], 1
    while True:
        body = activity(client, w, "guard", f"&page_size=2&page={number}")
        pages += body["results"]
        if not body["next"]:
            break
        number += 1
    assert number == 5 and pages == whole["results"]

    sup = activity(client, w, "sup")["results"]
    assert [e["type"] for e in sup] == [
        "checkin",  # the recount's two found marks
        "checkin",
        "count_verified",
        "alert_acknowledged",
        "alert_resolved",
        "movement_approved",
    ]
    sup = sup[2:]
    verified = sup[0]["summary"]
    assert (verified["started_by"], verified["submitted_by"]) == ("guard", "guard")
    resolved = sup[2]
    assert resolved["summary"]["resolution"] == "Seen in the infirmary, fine."
    assert resolved["summary"]["opened_at"] == iso(T0 + 4 * H, w.facility)
    assert sup[3]["summary"]["requested_by"] == "sup2"
    only = activity(client, w, "sup", "&type=alert_resolved&type=count_verified")["results"]
    assert [e["type"] for e in only] == ["count_verified", "alert_resolved"]


def test_officer_api_summary_and_list(w, shift, api_as, english_api_as):
    client = api_as(w.aud)
    period = q(facility=w.facility.code, since=T0.isoformat(), until=(T0 + 24 * H).isoformat())
    body = client.get(f"/api/v1/audit/officers/guard/{period}").json()
    assert body["officer"] == {"username": "guard", "name": "", "role": "guard", "is_active": True}
    assert body["since"] == iso(T0, w.facility)
    totals = body["totals"]
    assert (totals["checkins"], totals["checkins_visual"], totals["visual_share"]) == (5, 3, 0.6)
    assert (totals["counts_started"], totals["entries"]) == (1, 2)
    sup = client.get(f"/api/v1/audit/officers/sup/{period}").json()["totals"]
    assert sup["acknowledge_seconds"] == 300 and sup["approvals"] == 2

    listed = client.get(f"/api/v1/audit/officers/{period}").json()
    names = [row["username"] for row in listed["results"]]
    assert names == ["admin", "guard", "guard2", "sup", "sup2"]  # auditors are not officers
    by_name = {row["username"]: row["totals"] for row in listed["results"]}
    assert by_name["guard"] == totals

    # One facility, so it may be left out; the default period is the last 30
    # days, which holds the check the day before T0 too.
    assert client.get("/api/v1/audit/officers/guard/").json()["totals"]["checkins"] == 6

    english = english_api_as(w.aud)
    for url, status in [
        ("/api/v1/audit/officers/aud/", 404),  # an auditor is not an officer
        ("/api/v1/audit/officers/nobody/", 404),
        (f"/api/v1/audit/officers/guard/?facility={w.other.code}", 404),
        ("/api/v1/audit/officers/guard/?facility=", 400),
        ("/api/v1/audit/officers/guard/?since=whenever", 400),
        ("/api/v1/audit/officers/guard/?since=2026-01-01&until=2025-01-01", 400),
        ("/api/v1/audit/officers/guard/activity/?type=coffee", 400),
    ]:
        assert english.get(url).status_code == status, url


def test_officers_of_another_facility_are_not_found(w, make_user, api_as):
    stranger = make_user("guard", w.other, username="stranger")
    checkin(w.ana, T0, method="visual", by=stranger, facility=w.facility)
    client = api_as(w.aud)
    for url in ("/api/v1/audit/officers/stranger/", "/api/v1/audit/officers/stranger/activity/"):
        assert client.get(url).status_code == 404
    outsider = api_as(w.outsider)
    assert outsider.get(f"/api/v1/audit/officers/?facility={w.facility.code}").status_code == 404
    assert outsider.get("/api/v1/audit/officers/guard/").status_code == 404


def test_guards_and_devices_are_refused_the_officer_api(w, api_as):
    urls = [
        "/api/v1/audit/officers/",
        "/api/v1/audit/officers/guard/",
        "/api/v1/audit/officers/guard/activity/",
    ]
    _device, key = factories.device(w.facility)
    for url in urls:
        assert api_as(w.guard).get(url).status_code == 403
        assert api_as(device_key=key).get(url).status_code == 403
        assert api_as().get(url).status_code == 401
        for user in (w.aud, w.sup, w.admin):
            assert api_as(user).get(url).status_code == 200, (url, user)


# --- Pages -------------------------------------------------------------------------


def page_urls(w) -> list[str]:
    code = w.facility.code
    return [
        reverse("audit-people", args=[code]),
        reverse("audit-inmate", args=[code, "GT-1"]),
        reverse("audit-locations", args=[code]),
        reverse("audit-location", args=[code, w.c1.pk]),
        reverse("audit-officers", args=[code]),
        reverse("audit-officer", args=[code, "guard"]),
    ]


def test_pages_are_for_auditors_supervisors_and_admins_of_the_facility(w):
    for url in page_urls(w):
        for user in (w.aud, w.sup, w.admin):
            assert page_client(user).get(url).status_code == 200, (url, user)
        assert page_client(w.guard).get(url).status_code == 403, url
        assert page_client(w.outsider).get(url).status_code == 404, url
        assert Client().get(url).status_code == 302, url  # to the sign-in page
    # The export is a POST (it writes its ledger event), kept to the same people.
    url = reverse("audit-inmate-export", args=[w.facility.code, "GT-1", "csv"])
    for user in (w.aud, w.sup, w.admin):
        assert page_client(user).post(url).status_code == 200, user
    assert page_client(w.guard).post(url).status_code == 403
    assert page_client(w.outsider).post(url).status_code == 404
    assert Client().post(url).status_code == 302
    assert page_client(w.aud).get(url).status_code == 405  # never a link followed


def test_another_facilitys_people_places_and_officers_are_not_found(w, make_user):
    elsewhere = factories.InmateFactory(facility=w.other, booking_number="GT-X")
    make_user("guard", w.other, username="stranger")
    auditor = make_user("auditor", w.facility, w.other)  # sees both; asks through this one
    client = page_client(auditor)
    code = w.facility.code
    for url in [
        reverse("audit-inmate", args=[code, elsewhere.booking_number]),
        reverse("audit-location", args=[code, elsewhere.cell_id]),
        reverse("audit-officer", args=[code, "stranger"]),
        reverse("audit-officer", args=[code, w.aud.username]),  # not an officer
        f"/audit/{code}/people/GT-1/export.xls",  # no such format, so no such URL
    ]:
        assert client.get(url).status_code == 404, url
    export_elsewhere = reverse("audit-inmate-export", args=[code, elsewhere.booking_number, "csv"])
    assert client.post(export_elsewhere).status_code == 404


def test_the_people_page_finds_by_booking_number_or_name(w, make_user):
    elsewhere = factories.InmateFactory(facility=w.other, booking_number="GT-9", last_name="Paz")
    receiver = make_user("supervisor", w.other)
    with time_machine.travel(T0, tick=False):
        gone = factories.InmateFactory(
            facility=w.facility,
            cell=w.c2,
            booking_number="GT-8",
            first_name="Luis",
            last_name="Viaja",
        )
        transfer = services.movement_request(
            inmate=gone,
            kind="transfer",
            by=w.sup,
            to_facility=w.other,
            expected_arrival_at=T0 + H,
        )
        services.movement_approve(movement=transfer, by=w.sup2)
        services.movement_depart(movement=transfer, by=w.sup)
        services.movement_arrive(
            movement=transfer, by=receiver, cell=factories.CellFactory(facility=w.other)
        )
    gone.refresh_from_db()
    assert gone.facility == w.other
    client = page_client(w.aud)
    url = reverse("audit-people", args=[w.facility.code])

    def found(query):
        page = client.get(url, {"q": query}).content.decode()
        return {b for b in ("GT-1", "GT-2", "GT-8", "GT-9") if f">{b}<" in page}

    assert found("") == {"GT-1", "GT-2", "GT-8"}  # the transferred one too
    assert found("paz") == {"GT-1"} and elsewhere.booking_number not in found("paz")
    assert found("ana paz") == {"GT-1"}
    assert found("gt-2") == {"GT-2"}
    assert found("nadie") == set()


def test_a_persons_page_shows_each_entry_with_who_did_it_and_links(w, shift, api_as):
    client = page_client(w.aud)
    url = reverse("audit-inmate", args=[w.facility.code, "GT-1"])
    page = client.get(url, {"since": T0.isoformat(), "until": (T0 + 24 * H).isoformat()})
    assert page.status_code == 200
    html = page.content.decode()
    code = w.facility.code
    assert reverse("audit-officer", args=[code, "guard"]) in html  # recorded by
    assert reverse("audit-officer", args=[code, "sup"]) in html  # acknowledged, resolved
    assert reverse("audit-location", args=[code, w.c1.pk]) in html
    assert reverse("counts-count", args=[shift["count"].pk]) in html
    assert "Seen in the infirmary, fine." in html
    alert_row = f'entry-id muted">{shift["alert"].pk}<'
    assert alert_row in html
    # The alert is one row of its own, not three ledger events besides.
    assert "alert.acknowledged" not in html
    assert str(shift["checkins"][0].id) in html
    # The API still shows alerts through their ledger events.
    assert "alert.acknowledged" in str(history(api_as(w.aud)))

    only = client.get(url, {"period": "all", "type": "alert"}).content.decode()
    assert alert_row in only and str(shift["checkins"][0].id) not in only
    assert client.get(url, {"type": "coffee"}).status_code == 400
    assert client.get(url, {"since": "whenever"}).status_code == 400


def test_a_persons_page_costs_the_same_queries_however_long_the_history(
    w, django_assert_num_queries
):
    client = page_client(w.aud)
    url = reverse("audit-inmate", args=[w.facility.code, "GT-1"])
    checkin(w.ana, NOW - H, by=w.guard, method="visual")
    client.get(url)  # sessions and caches warm
    with CaptureQueriesContext(connection) as short:
        assert client.get(url).status_code == 200
    for n in range(1, 300):
        checkin(w.ana, NOW - n * 5 * M, by=w.guard if n % 3 else None)
    for hour in range(2, 12):
        court_trip(w.ana, NOW - hour * H, w.sup)
        open_alert(w, NOW - hour * H - M)
    with django_assert_num_queries(len(short)):
        assert client.get(url).status_code == 200


def test_a_places_page_shows_who_was_assigned_and_who_was_seen(w):
    gil = admit(w, "GT-7", w.c2, T0 - timedelta(days=2))
    checkin(gil, NOW - H, location=w.c1)
    checkin(w.ana, NOW - 2 * H)
    client = page_client(w.aud)
    html = client.get(reverse("audit-location", args=[w.facility.code, w.c1.pk])).content.decode()
    assert "GT-1" in html and "GT-7" in html
    assert "not assigned here" in html
    unit = client.get(reverse("audit-location", args=[w.facility.code, w.unit.pk]))
    assert "U-02" in unit.content.decode() and "GT-2" in unit.content.decode()
    bad = client.get(reverse("audit-location", args=[w.facility.code, w.c1.pk]), {"since": "x"})
    assert bad.status_code == 400


def test_the_officers_page_shows_each_officers_numbers(w, shift, django_assert_max_num_queries):
    client = page_client(w.aud)
    url = reverse("audit-officers", args=[w.facility.code])
    period = {"since": T0.isoformat(), "until": (T0 + 24 * H).isoformat()}
    client.get(url, period)
    # The page, the session, the officers and one query per kind of action.
    with django_assert_max_num_queries(20):
        html = client.get(url, period).content.decode()
    row = html[html.index(">guard<") :]
    row = row[: row.index("</tr>")]
    assert "60 %" in row  # 3 of 5 checks by eye alone
    assert ">aud<" not in html[html.index("<main>") :]  # the header names who is signed in
    officer = client.get(reverse("audit-officer", args=[w.facility.code, "sup"]), period)
    text = officer.content.decode()
    assert "mean 5 min after opening" in text
    assert "Seen in the infirmary, fine." in text


# --- Exports -----------------------------------------------------------------------


def export(client, w, fmt, **params):
    url = reverse("audit-inmate-export", args=[w.facility.code, "GT-1", fmt])
    # A POST (it writes its ledger event); the filters ride in the query, as on the page.
    response = client.post(f"{url}?{urlencode(params)}")
    assert response.status_code == 200, response.content[:500]
    return response


def test_the_csv_of_a_persons_history_has_every_row_of_the_timeline(w, shift, monkeypatch):
    for n in range(12):
        checkin(w.ana, T0 + 8 * H + n * M)
    # Read in chunks of three: each chunk starts after the last row of the one before.
    monkeypatch.setattr(timeline_pages, "EXPORT_CHUNK", 3)
    params = {"since": T0.isoformat(), "until": (T0 + 24 * H).isoformat()}
    response = export(page_client(w.aud), w, "csv", **params)
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    header, rows = rows[0], rows[1:]
    assert len(header) == 8

    timeline = person_timeline(inmate=w.ana, user=w.aud, since=T0, until=T0 + 24 * H)
    expected = timeline[0 : timeline.count()]
    assert len(rows) == len(expected) > 15
    assert [(r[0], r[2]) for r in rows] == [
        (e["entry_at"].astimezone(w.facility.tzinfo).isoformat(timespec="seconds"), e["entry_id"])
        for e in expected
    ]
    resolved = next(r for r in rows if r[2] == str(shift["alert"].pk))
    assert "Seen in the infirmary, fine." in resolved[5] and "sup" in resolved[7]

    event = LedgerEvent.objects.filter(facility=w.facility, action="export.created").get()
    assert (event.actor, event.subject) == ("user:aud", "inmate:GT-1")
    assert event.data["kind"] == "inmate_history" and event.data["format"] == "csv"
    assert event.data["rows"] == len(rows)
    import hashlib

    assert event.data["sha256"] == hashlib.sha256(response.content).hexdigest()


def test_the_pdf_of_a_persons_history_renders_and_is_recorded(w, shift):
    client = page_client(w.sup)
    response = export(client, w, "pdf", period="all")
    assert response["Content-Type"] == "application/pdf"
    assert len(PdfReader(io.BytesIO(response.content)).pages) >= 1
    export(client, w, "csv", type="alert")
    events = LedgerEvent.objects.filter(facility=w.facility, action="export.created")
    assert [(e.data["format"], e.actor) for e in events.order_by("seq")] == [
        ("pdf", "user:sup"),
        ("csv", "user:sup"),
    ]
    whole = events.order_by("seq").first().data
    assert "since" not in whole  # the whole history
    assert events.order_by("seq").last().data["rows"] == 1  # the one alert


def test_a_search_with_a_nul_character_is_searched_without_it(w):
    # PostgreSQL refuses NUL in a query: it must never reach it (a 500 otherwise).
    client = page_client(w.aud)
    url = reverse("audit-people", args=[w.facility.code])
    response = client.get(url, {"q": "An\x00a"})
    assert response.status_code == 200
    assert w.ana.booking_number in response.content.decode()
