"""The rounds compliance report (custody.selectors.round_compliance and the
auditor workspace's page, exports and API) on a morning worked out by hand
(tests/rounds_report_world.py)."""

import csv
import io
from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from pypdf import PdfReader

from alerts.audit.period import Period
from alerts.audit.rounds_report import rounds_report
from custody.models import LedgerEvent, LocationTag
from custody.selectors.round_compliance import round_compliance
from tests import factories
from tests.rounds_report_world import SINCE, TZ, UNTIL, plant_checks, rounds_world

NOON_AFTER = UNTIL + timedelta(hours=1)
PERIOD_QUERY = {"since": "2026-11-02T06:00", "until": "2026-11-02T12:00"}


@pytest.fixture
def world(facility, make_user):
    w = rounds_world(facility, make_user)
    plant_checks(w)
    return w


def minutes(n) -> timedelta:
    return timedelta(minutes=n)


def test_the_report_counts_what_was_worked_out_by_hand(world):
    report = round_compliance(
        facility=world.facility, since=SINCE, until=UNTIL, standard="ca_title15", now=NOON_AFTER
    )
    total = report.total
    # C1: six checks, five on time, one missed in the 110-minute open gap.
    # C2: six in the period, measured from 05:30; 75 and 140 min are late
    # (1 and 2 missed). C3 (special, 15 min): 10 on time, 18 late (1 missed).
    assert (total.checks, total.measured, total.on_time, total.missed) == (15, 13, 10, 5)
    assert total.expected == 18 and round(total.on_time_share, 4) == round(10 / 18, 4)
    assert total.longest == minutes(140)
    assert total.implausible == 1
    assert total.too_regular == 1
    assert report.by_unit == {world.unit.pk: total}

    g1, g2 = world.users["g1"].pk, world.users["g2"].pk
    assert set(report.by_officer) == {g1, g2}
    one, two = report.by_officer[g1], report.by_officer[g2]
    assert (one.checks, one.on_time, one.missed, one.longest) == (6, 5, 1, minutes(110))
    assert (one.too_regular, one.implausible) == (1, 0)
    assert (two.checks, two.on_time, two.missed, two.longest) == (9, 5, 4, minutes(140))
    assert (two.too_regular, two.implausible) == (0, 1)

    # Under the federal standard a special cell may wait 30 minutes: C3 is on time.
    federal = report.by_standard["us_federal"]
    assert (federal.on_time, federal.missed, federal.expected) == (11, 4, 17)


def test_only_the_series_at_a_fixed_interval_is_flagged_too_regular(world):
    report = round_compliance(
        facility=world.facility, since=SINCE, until=UNTIL, standard="ncchc", now=NOON_AFTER
    )
    [shift] = report.regular
    assert shift.cell_code == "C1"  # C2's varied gaps (35 to 140 min) are not
    assert shift.shift_start == SINCE
    assert (shift.intervals, shift.mean, shift.spread) == (5, minutes(50), timedelta(0))
    assert shift.officer_id == world.users["g1"].pk


def test_the_gaps_by_hour_end_at_the_check_that_closed_them(world):
    report = round_compliance(
        facility=world.facility, since=SINCE, until=UNTIL, standard="ca_title15", now=NOON_AFTER
    )
    hours = {hour.hour: hour for hour in report.hours}
    # 11:30 closes C2's 140 minutes; C3's 10 and 18 minutes end in the same
    # hour: 56 minutes on average.
    assert (hours[11].gaps, hours[11].mean, hours[11].longest) == (3, minutes(56), minutes(140))


def test_an_open_gap_runs_only_to_now_while_the_period_is_not_over(world):
    report = round_compliance(
        facility=world.facility,
        since=SINCE,
        until=UNTIL,
        standard="ca_title15",
        now=SINCE + timedelta(hours=4, minutes=30),  # 10:30: C1's gap is 20 min so far
    )
    assert report.by_officer[world.users["g1"].pk].missed == 0


def test_no_checks_makes_an_empty_report(facility):
    report = round_compliance(facility=facility, since=SINCE, until=UNTIL, standard="texas")
    assert report.total.checks == 0 and report.total.on_time_share is None
    assert report.regular == [] and report.hours == []


# --- The workspace: page, exports, API, roles ------------------------------------


def signed_in(user) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    return client


def page_url(world, suffix=""):
    return f"/audit/{world.facility.code}/rounds/{suffix}"


@time_machine.travel(NOON_AFTER, tick=False)
def test_an_auditor_reads_the_page_with_its_chart(world):
    response = signed_in(world.users["auditor"]).get(
        page_url(world), {**PERIOD_QUERY, "standard": "ca_title15"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "round-gaps-title" in html and "<rect" in html
    assert "55.6 %" in html  # 10 of 18
    assert "C1" in html and "g1" in html


@time_machine.travel(NOON_AFTER, tick=False)
def test_the_csv_has_every_table_and_the_export_is_in_the_ledger(world):
    client = signed_in(world.users["auditor"])
    response = client.post(
        page_url(world, "export.csv") + "?since=2026-11-02T06:00&until=2026-11-02T12:00"
    )
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    by_section = {}
    for row in rows[1:]:
        if row:
            by_section.setdefault(row[0], []).append(row[1:])
    standard_rows = next(v for k, v in by_section.items() if k == "By standard")
    title15 = next(r for r in standard_rows if r[0].startswith("California"))
    assert title15[1:6] == ["15", "10", "18", "55.6 %", "5"]
    regular = next(v for k, v in by_section.items() if k == "Too regular")
    assert [r[0] for r in regular] == ["C1"]
    [event] = LedgerEvent.objects.filter(facility=world.facility, action="export.created")
    assert event.data["kind"] == "rounds_compliance" and event.data["format"] == "csv"
    assert event.actor == "user:aud"


@time_machine.travel(NOON_AFTER, tick=False)
def test_the_pdf_says_the_same(world):
    response = signed_in(world.users["supervisor"]).post(
        page_url(world, "export.pdf") + "?since=2026-11-02T06:00&until=2026-11-02T12:00"
    )
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    text = "".join(
        "".join(page.extract_text().split())
        for page in PdfReader(io.BytesIO(response.content)).pages
    )
    assert "55.6%" in text and "C1" in text and "g2" in text
    assert LedgerEvent.objects.filter(action="export.created", data__format="pdf").count() == 1


def test_guards_cannot_see_the_report(world, api_as):
    guard = world.users["g1"]
    assert signed_in(guard).get(page_url(world)).status_code == 403
    assert signed_in(guard).post(page_url(world, "export.csv")).status_code == 403
    answer = api_as(guard).get("/api/v1/audit/rounds/", {"facility": world.facility.code})
    assert answer.status_code == 403
    assert not LedgerEvent.objects.filter(action="export.created").exists()


def test_another_facility_s_report_does_not_exist_for_its_outsiders(world, other_facility):
    outsider = factories.UserFactory(role="auditor", facilities=[other_facility])
    assert signed_in(outsider).get(page_url(world)).status_code == 404


def test_an_unknown_standard_is_a_bad_request(world, api_as):
    client = signed_in(world.users["auditor"])
    assert client.get(page_url(world), {"standard": "nope"}).status_code == 400
    answer = api_as(world.users["auditor"]).get(
        "/api/v1/audit/rounds/", {"facility": world.facility.code, "standard": "nope"}
    )
    assert answer.status_code == 400 and "standard" in answer.json()["errors"]


@time_machine.travel(NOON_AFTER, tick=False)
def test_the_api_gives_the_figures(world, api_as):
    answer = api_as(world.users["auditor"]).get(
        "/api/v1/audit/rounds/",
        {
            "facility": world.facility.code,
            "since": "2026-11-02T06:00",
            "until": "2026-11-02T12:00",
            "standard": "us_federal",
        },
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["standard"] == "us_federal"
    assert body["total"]["on_time"] == 11 and body["total"]["missed"] == 4
    assert body["total"]["longest_gap_seconds"] == 140 * 60
    assert [row["cell"] for row in body["too_regular"]] == ["C1"]
    assert body["too_regular"][0]["officer"] == "g1"
    assert {line["key"] for line in body["by_officer"]} == {"g1", "g2"}


def test_the_report_names_the_cells_no_check_reached(world):
    quiet = factories.CellFactory(facility=world.facility, parent=world.unit, code="C4")
    LocationTag.objects.create(
        facility=world.facility,
        location=quiet,
        uid="QRC4",
        kind="qr",
        registered_at=SINCE - timedelta(days=1),
        registered_by=world.users["admin"],
    )
    bare = factories.CellFactory(facility=world.facility, parent=world.unit, code="C5")
    factories.InmateFactory(facility=world.facility, cell=bare)
    period = Period(since=SINCE, until=UNTIL, tz=TZ)
    report = rounds_report(facility=world.facility, period=period, standard="texas")
    assert [line.key for line in report.officers] == ["g1", "g2"]
    assert report.units[0].name == "U — Sector U"
    assert (report.unchecked, report.untagged) == (["C4"], ["C5"])
