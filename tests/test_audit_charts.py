"""The auditor's overview (alerts per day, time to acknowledge and resolve,
expected vs present per unit) and a unit's counts with their exports: the
numbers come from the database grouped by the facility's local day, the SVG
is well-formed and escaped, and the pages keep a fixed number of queries."""

import csv
import io
import re
import xml.etree.ElementTree as ET
from datetime import datetime, time, timedelta
from html.parser import HTMLParser
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pypdf
import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from alerts.audit import chart_data, charts
from alerts.audit.pages import charts as chart_pages
from alerts.audit.period import Period
from alerts.models import SEVERITY_OF, Alert, AlertKind
from alerts.services import alert_acknowledge, alert_resolve
from custody.models import LedgerEvent
from custody.services import rollcalls
from tests import factories
from tests.rollcall_world import count_world, entry, verify_by_recount
from tests.second_factor import sign_in

pytestmark = pytest.mark.django_db

TZ = ZoneInfo("America/Guatemala")  # the factories' zone: UTC-6, no daylight saving
# Day 0 of the story, far enough back that everything in it has happened.
D = timezone.now().astimezone(TZ).date() - timedelta(days=20)
PERIOD = {
    "since": (D - timedelta(days=1)).isoformat(),
    "until": (D + timedelta(days=1)).isoformat(),
}
SVG = re.compile(r"<svg\b.*?</svg>", re.S)


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(D + timedelta(days=day), time(hour, minute), tzinfo=TZ)


def period() -> Period:
    return Period(since=local(-1, 0), until=local(2, 0), tz=TZ)


# --- The story -------------------------------------------------------------------------


def take_count(w, unit, *, at, absent=(), submit_after=None, verify_by=None, people=None):
    """A count of ``unit`` started at ``at``: everyone present but ``absent``
    (indexes into ``people``), submitted ``submit_after`` later, then verified."""
    guard = w.users["guard"]
    with time_machine.travel(at, tick=False):
        rollcall, _created = rollcalls.rollcall_start(
            location=unit, kind="formal", by=guard, now=at
        )
        marks = [
            entry(person["booking_number"], at=at)
            for index, person in enumerate(people if people is not None else w.people)
            if index not in absent
        ]
        rollcalls.rollcall_record_entries(rollcall=rollcall, raw_entries=marks, by=guard, now=at)
    if submit_after is not None:
        submitted = at + submit_after
        with time_machine.travel(submitted, tick=False):
            rollcall = rollcalls.rollcall_submit(rollcall=rollcall, by=guard, now=submitted)
    if verify_by is not None:
        verified = at + submit_after + timedelta(minutes=20)
        with time_machine.travel(verified, tick=False):
            rollcall = verify_by_recount(rollcall, w.users[verify_by], now=verified)
    return rollcall


def open_alert(facility, kind, at, *, key=None, **fields) -> Alert:
    return factories.AlertFactory(
        facility=facility,
        kind=kind,
        severity=SEVERITY_OF[kind],
        dedup_key=key or f"{kind}:test:{at.isoformat()}",
        opened_at=at,
        **fields,
    )


def acknowledge(alert, by, at):
    with time_machine.travel(at, tick=False):
        return alert_acknowledge(alert=alert, by=by)


def resolve(alert, by, at):
    with time_machine.travel(at, tick=False):
        return alert_resolve(alert=alert, by=by, resolution="Seen in the yard, roll corrected.")


@pytest.fixture
def w(facility, other_facility, make_user):
    """Unit B (six people) and unit BX (one) of one facility. Counts of B:
    one before the period, day 0 at 06:00 all present and verified, day 0 at
    18:00 with one person unaccounted, day 1 at 06:00 cancelled. BX: day 0
    at 07:00, all present. Alerts, with their waits (minutes):

    - missed check-in at 23:50 local on day 0 (already day 1 in UTC): ack 4, resolved 30
    - missed check-in at 00:10 on day 1: ack 10, resolved 120
    - count discrepancy at 12:00 on day 0: ack 20, still acknowledged
    - device offline at 08:00 on day 1: closed by an observation after 60
    - one before the period, one of another facility.
    """
    with time_machine.travel(local(-3, 0), tick=False):
        world = count_world(facility, make_user)
        sup = world.users["supervisor"]
        far_sup = make_user("supervisor", other_facility)
    world.bx_people = [{"booking_number": "GT-BX-1"}]
    take_count(world, world.unit, at=local(-2, 6), submit_after=timedelta(minutes=5))
    world.c1 = take_count(
        world,
        world.unit,
        at=local(0, 6),
        submit_after=timedelta(minutes=5),
        verify_by="supervisor",
    )
    world.c2 = take_count(
        world, world.unit, at=local(0, 18), absent={5}, submit_after=timedelta(minutes=4)
    )
    world.c3 = take_count(world, world.unit, at=local(1, 6))
    with time_machine.travel(local(1, 6, 10), tick=False):
        world.c3 = rollcalls.rollcall_cancel(
            rollcall=world.c3, by=world.users["guard"], reason="Tablet dropped, starting over."
        )
    take_count(
        world,
        world.other_unit,
        at=local(0, 7),
        submit_after=timedelta(minutes=2),
        people=world.bx_people,
    )

    late = open_alert(facility, AlertKind.MISSED_CHECKIN, local(0, 23, 50))
    acknowledge(late, sup, local(0, 23, 54))
    resolve(late, sup, local(1, 0, 20))
    early = open_alert(facility, AlertKind.MISSED_CHECKIN, local(1, 0, 10))
    acknowledge(early, sup, local(1, 0, 20))
    resolve(early, sup, local(1, 2, 10))
    short = open_alert(facility, AlertKind.COUNT_DISCREPANCY, local(0, 12), location=world.unit)
    acknowledge(short, sup, local(0, 12, 20))
    open_alert(
        facility,
        AlertKind.DEVICE_OFFLINE,
        local(1, 8),
        status="resolved",
        resolved_at=local(1, 9),
        resolution="Seen again.",
        resolved_by_observation={"checkin": "x"},
    )
    open_alert(facility, AlertKind.MISSED_CHECKIN, local(-2, 23), key="before")
    far = open_alert(other_facility, AlertKind.MISSED_CHECKIN, local(0, 10), key="far")
    acknowledge(far, far_sup, local(0, 10, 1))
    return world


# --- Chart data ----------------------------------------------------------------------


def test_alerts_are_counted_per_local_day_and_kind(w):
    data = chart_data.alerts_per_day(w.facility, period())
    assert data.days == [D - timedelta(days=1), D, D + timedelta(days=1)]
    assert data.kinds == ["missed_checkin", "count_discrepancy", "device_offline"]
    # 23:50 local on day 0 is day 1 in UTC, and stays on day 0.
    assert data.count(D, "missed_checkin") == 1
    assert data.count(D, "count_discrepancy") == 1
    assert data.count(D + timedelta(days=1), "missed_checkin") == 1
    assert data.count(D + timedelta(days=1), "device_offline") == 1
    assert data.day_total(D - timedelta(days=1)) == 0
    assert data.total == 4


def test_the_day_an_alert_falls_on_follows_the_facilitys_zone(w):
    w.facility.timezone = "UTC"
    w.facility.save()
    utc = Period(since=local(-1, 0), until=local(2, 0), tz=ZoneInfo("UTC"))
    data = chart_data.alerts_per_day(w.facility, utc)
    # 23:50 in Guatemala is 05:50 the next day in UTC.
    assert data.count(D, "missed_checkin") == 0
    assert data.count(D + timedelta(days=1), "missed_checkin") == 2


def test_response_times_give_median_percentile_and_buckets_per_kind(w):
    report = chart_data.response_times(w.facility, period())
    by_kind = {row.kind: row for row in report.kinds}
    assert list(by_kind) == ["missed_checkin", "count_discrepancy", "device_offline"]

    missed = by_kind["missed_checkin"]
    assert (missed.opened, missed.acknowledged, missed.resolved) == (2, 2, 2)
    assert missed.ack_median == timedelta(minutes=7)  # between 4 and 10
    assert missed.ack_p90 == timedelta(minutes=9, seconds=24)  # 4 + 0.9 x 6
    assert missed.resolve_median == timedelta(minutes=75)  # between 30 and 120
    assert missed.resolve_p90 == timedelta(minutes=111)  # 30 + 0.9 x 90
    assert missed.ack_buckets == (1, 1, 0, 0, 0, 0)
    assert missed.resolve_buckets == (0, 0, 1, 1, 0, 0)
    assert (missed.closed_by_observation, missed.unresolved) == (0, 0)

    short = by_kind["count_discrepancy"]
    assert short.ack_median == short.ack_p90 == timedelta(minutes=20)
    assert (short.resolved, short.resolve_median, short.unresolved) == (0, None, 1)

    # Closed by the world: no person's wait to measure.
    offline = by_kind["device_offline"]
    assert (offline.acknowledged, offline.resolved, offline.closed_by_observation) == (0, 0, 1)
    assert offline.ack_median is None and offline.ack_buckets == (0,) * 6

    assert report.ack_buckets == [1, 1, 1, 0, 0, 0]
    assert report.resolve_buckets == [0, 0, 1, 1, 0, 0]
    assert report.opened == 4


def test_expected_vs_present_comes_from_the_settled_counts_of_the_period(w):
    points = chart_data.unit_count_series(w.unit, period())
    assert [(p.at, p.expected, p.present, p.out, p.unaccounted) for p in points] == [
        (local(0, 6, 5), 6, 6, 0, 0),
        (local(0, 18, 4), 6, 5, 0, 1),
    ]
    summaries = {s.unit.code: s for s in chart_data.unit_summaries(w.facility, period())}
    assert list(summaries) == ["B", "BX"]
    b = summaries["B"]
    assert (b.counts, b.with_unaccounted, b.unaccounted, b.last_count_at) == (
        2,
        1,
        1,
        local(0, 18, 4),
    )
    assert (summaries["BX"].counts, summaries["BX"].unaccounted) == (1, 0)
    # Every count started in the period, whatever became of it.
    assert list(chart_data.unit_counts(w.unit, period())) == [w.c1, w.c2, w.c3]


def test_an_empty_period_has_no_numbers(w):
    quiet = Period(since=local(5, 0), until=local(6, 0), tz=TZ)
    assert chart_data.alerts_per_day(w.facility, quiet).total == 0
    assert chart_data.response_times(w.facility, quiet).kinds == []
    assert chart_data.unit_count_series(w.unit, quiet) == []
    assert all(s.counts == 0 for s in chart_data.unit_summaries(w.facility, quiet))


# --- SVG ------------------------------------------------------------------------------


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def texts(root: ET.Element) -> list[str]:
    return ["".join(node.itertext()) for node in root.iter("{http://www.w3.org/2000/svg}text")]


HOSTILE = '<script>alert("x")</script> & Co'


def test_every_chart_is_well_formed_and_escapes_its_labels():
    day = datetime(2026, 3, 10, tzinfo=TZ)
    hostile = charts.Series(HOSTILE, [(day + timedelta(hours=6), 3), (day + timedelta(hours=9), 5)])
    drawn = [
        charts.step_chart(
            chart_id="a",
            title=HOSTILE,
            description=HOSTILE,
            series=[hostile],
            start=day,
            end=day + timedelta(days=1),
            tz=TZ,
            unit_label=HOSTILE,
        ),
        charts.stacked_bar_chart(
            chart_id="b",
            title=HOSTILE,
            description="d",
            categories=[HOSTILE, "2"],
            series=[charts.Series(HOSTILE, [1, 2])],
            unit_label="u",
        ),
        charts.grouped_bar_chart(
            chart_id="c",
            title="t",
            description="d",
            categories=["x", "y"],
            series=[charts.Series(HOSTILE, [1, 0]), charts.Series("two", [0, 4])],
            unit_label="u",
        ),
    ]
    for svg in drawn:
        assert "<script" not in svg
        root = parse(svg)
        assert root.get("role") == "img"
        assert root.get("aria-label")
        assert root.find("{http://www.w3.org/2000/svg}title") is not None
        assert root.find("{http://www.w3.org/2000/svg}desc") is not None
    # The text reads as written: escaped in the markup, not dropped.
    assert HOSTILE in texts(parse(drawn[0]))
    assert parse(drawn[0]).get("aria-label") == HOSTILE
    assert HOSTILE in texts(parse(drawn[1]))


def test_a_chart_with_nothing_to_draw_says_so():
    with translation.override("en"):
        empty = [
            charts.step_chart(
                chart_id="e",
                title="t",
                description="d",
                series=[charts.Series("s", [])],
                start=datetime(2026, 3, 10, tzinfo=TZ),
                end=datetime(2026, 3, 11, tzinfo=TZ),
                tz=TZ,
                unit_label="u",
            ),
            charts.stacked_bar_chart(
                chart_id="f",
                title="t",
                description="d",
                categories=["1", "2"],
                series=[charts.Series("s", [0, 0])],
                unit_label="u",
            ),
            charts.grouped_bar_chart(
                chart_id="g",
                title="t",
                description="d",
                categories=[],
                series=[],
                unit_label="u",
            ),
        ]
    for svg in empty:
        assert texts(parse(svg)) == ["Nothing in this period."]


def test_one_point_and_huge_values_still_draw():
    at = datetime(2026, 3, 10, 6, tzinfo=TZ)
    with translation.override("en"):
        svg = charts.step_chart(
            chart_id="one",
            title="t",
            description="d",
            series=[charts.Series("big", [(at, 10**12)])],
            start=at,
            end=at,
            tz=TZ,
            unit_label="u",
        )
    root = parse(svg)
    circles = list(root.iter("{http://www.w3.org/2000/svg}circle"))
    assert len(circles) == 1
    assert "1,000,000,000,000" in texts(root)
    assert charts.nice_ticks(10**12) == [n * 2 * 10**11 for n in range(6)]
    assert charts.nice_ticks(0) == [0, 1]
    assert charts.nice_ticks(7) == [0, 2, 4, 6, 8]


def test_time_ticks_are_round_in_the_facilitys_zone():
    kolkata = ZoneInfo("Asia/Kolkata")  # UTC+05:30: UTC ticks would end in :30
    start = datetime(2026, 3, 10, tzinfo=kolkata)
    with translation.override("en"):
        svg = charts.step_chart(
            chart_id="z",
            title="t",
            description="d",
            series=[charts.Series("s", [(start + timedelta(hours=5), 2)])],
            start=start.astimezone(ZoneInfo("UTC")),
            end=(start + timedelta(days=1)).astimezone(ZoneInfo("UTC")),
            tz=kolkata,
            unit_label="u",
        )
    labels = [t for t in texts(parse(svg)) if re.fullmatch(r"\d\d:\d\d", t)]
    assert labels[:3] == ["00:00", "03:00", "06:00"]
    assert not any(label.endswith(":30") for label in labels)


# --- The overview page ---------------------------------------------------------------


def get(client, url, **params):
    return client.get(url, {**PERIOD, **params}, HTTP_ACCEPT_LANGUAGE="en")


def export(client, url, **params):
    """An export: a POST (it writes its ledger event), the period in the query."""
    query = urlencode({**PERIOD, **params})
    return client.post(f"{url}?{query}", HTTP_ACCEPT_LANGUAGE="en")


def signed_in(user) -> Client:
    client = Client()
    sign_in(client, user)
    return client


def overview(w) -> str:
    return f"/audit/{w.facility.code}/"


def test_the_overview_draws_three_charts_with_their_numbers(w):
    response = get(signed_in(w.users["auditor"]), overview(w))
    assert response.status_code == 200
    body = response.content.decode()
    svgs = SVG.findall(body)
    assert len(svgs) == 3
    for svg in svgs:
        parse(svg)
    assert 'aria-label="Alerts opened per day, by kind"' in body
    assert "Expected and present in B" in body
    assert body.count('<details class="chart-data">') == 3
    # The numbers beside the alerts chart: one row per day with alerts.
    assert body.count("Missed check-in") >= 2
    assert "7 min" in body and "9 min" in body  # median and p90 to acknowledge
    # Units listed with links to their counts.
    assert f"/audit/{w.facility.code}/units/{w.unit.pk}/counts/?" in body
    assert f"/audit/{w.facility.code}/units/{w.other_unit.pk}/counts/?" in body
    # The rest of the workspace, linked from the page itself (not only the layout).
    more = body.split('id="more-heading"', 1)[1]
    for part in ("people/", "officers/", "integrity/", "ledger/"):
        assert f'href="/audit/{w.facility.code}/{part}"' in more


def test_the_overview_shows_the_unit_asked_for(w):
    client = signed_in(w.users["supervisor"])
    body = get(client, overview(w), unit=str(w.other_unit.pk)).content.decode()
    assert "Expected and present in BX" in body
    bad = get(client, overview(w), unit="999999")
    assert bad.status_code == 400
    assert "Choose one of the units listed." in bad.content.decode()


def test_an_empty_period_says_nothing_happened(w):
    body = get(
        signed_in(w.users["auditor"]),
        overview(w),
        since=(D + timedelta(days=5)).isoformat(),
        until=(D + timedelta(days=6)).isoformat(),
    ).content.decode()
    assert body.count("Nothing in this period.") >= 3
    for svg in SVG.findall(body):
        parse(svg)


def test_a_facility_with_nothing_yet_still_has_an_overview(other_facility, make_user):
    client = signed_in(make_user("auditor", other_facility))
    response = client.get(f"/audit/{other_facility.code}/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    body = response.content.decode()
    assert "This facility has no units to count yet." in body
    assert len(SVG.findall(body)) == 2
    for svg in SVG.findall(body):
        assert texts(parse(svg)) == ["Nothing in this period."]


def test_a_hostile_unit_name_is_shown_not_run(w):
    w.unit.name = '<script>alert("unit")</script>'
    w.unit.save()
    client = signed_in(w.users["auditor"])
    for url in (overview(w), counts_url(w)):
        body = get(client, url).content.decode()
        assert "&lt;script&gt;alert" in body
        assert "<script>alert" not in body
        for svg in SVG.findall(body):
            parse(svg)


def test_the_overview_keeps_a_fixed_number_of_queries(w, django_assert_max_num_queries):
    client = signed_in(w.users["auditor"])
    get(client, overview(w))  # warm the session

    def measure() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert get(client, overview(w)).status_code == 200
        return len(captured)

    before = measure()
    # Much more to show: more alerts of every kind, more counts, one more unit.
    for n, kind in enumerate(AlertKind.values):
        alert = open_alert(w.facility, kind, local(0, 9, n), key=f"more-{n}")
        acknowledge(alert, w.users["supervisor"], local(0, 10, n))
    take_count(w, w.unit, at=local(1, 9), submit_after=timedelta(minutes=3))
    factories.CellFactory(facility=w.facility, code="C-01", parent__code="C")
    assert measure() == before
    with django_assert_max_num_queries(12):
        get(client, overview(w))


def test_a_bad_period_is_a_400_with_the_error_shown(w):
    response = get(signed_in(w.users["auditor"]), overview(w), since="yesterday-ish")
    assert response.status_code == 400
    assert "Give a day (2026-11-01)" in response.content.decode()


# --- A unit's counts --------------------------------------------------------------------


class TableRows(HTMLParser):
    """The body rows of ``<table id="counts">``, as text."""

    def __init__(self):
        super().__init__()
        self.rows, self.inside, self.cell = [], False, None

    def handle_starttag(self, tag, attrs):
        if tag == "table" and ("id", "counts") in attrs:
            self.inside = True
        elif self.inside and tag == "tr":
            self.rows.append([])
        elif self.inside and tag == "td":
            self.cell = ""

    def handle_endtag(self, tag):
        if tag == "table":
            self.inside = False
        elif self.inside and tag == "td":
            self.rows[-1].append(self.cell)
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data


def shown_rows(response) -> list[list[str]]:
    parser = TableRows()
    parser.feed(response.content.decode())
    return [row for row in parser.rows if row]  # the header row has no td


def counts_url(w, unit=None) -> str:
    return f"/audit/{w.facility.code}/units/{(unit or w.unit).pk}/counts/"


@pytest.mark.parametrize("role", ["auditor", "supervisor", "admin"])
def test_oversight_reads_every_count_of_a_unit(w, role):
    response = get(signed_in(w.users[role]), counts_url(w))
    assert response.status_code == 200
    rows = shown_rows(response)
    assert [row[0] for row in rows] == [str(w.c1.pk), str(w.c2.pk), str(w.c3.pk)]
    c1, c2, c3 = rows
    assert c1[1:5] == [
        "Formal count",
        "Verified",
        local(0, 6).strftime("%Y-%m-%d %H:%M:%S"),
        w.users["guard"].username,
    ]
    assert c1[7:13] == [
        local(0, 6, 25).strftime("%Y-%m-%d %H:%M:%S"),
        w.users["supervisor"].username,
        "6",
        "6",
        "0",
        "0",
    ]
    assert c2[2] == "Submitted" and c2[12] == "1"
    assert c2[13].startswith(w.booking(5))
    assert c3[2] == "Cancelled" and c3[17] == "Tablet dropped, starting over."
    assert c3[9:13] == ["6", "", "", ""]
    body = response.content.decode()
    assert len(SVG.findall(body)) == 1
    assert "Expected and present in B" in body


def test_guards_may_not_read_a_units_counts(w):
    assert get(signed_in(w.users["guard"]), counts_url(w)).status_code == 403
    refused = export(signed_in(w.users["guard"]), counts_url(w) + "export.csv")
    assert refused.status_code == 403


def test_a_unit_of_another_facility_or_not_a_unit_is_not_found(w, other_facility, make_user):
    client = signed_in(w.users["auditor"])
    far_unit = factories.LocationFactory(facility=other_facility, kind="unit")
    yard = factories.LocationFactory(facility=w.facility, kind="yard")
    for location in (far_unit, w.cells[0], yard):
        assert get(client, counts_url(w, location)).status_code == 404
        assert export(client, counts_url(w, location) + "export.csv").status_code == 404
    # Nor a unit of this facility under another facility's code.
    outsider = signed_in(make_user("auditor", other_facility))
    assert get(outsider, counts_url(w)).status_code == 404
    assert get(client, counts_url(w) + "export.xlsx").status_code == 404  # no such URL


def test_a_bad_period_on_a_units_counts_is_a_400(w):
    client = signed_in(w.users["auditor"])
    for ask, url in ((get, counts_url(w)), (export, counts_url(w) + "export.csv")):
        response = ask(client, url, since=PERIOD["until"], until=PERIOD["since"])
        assert response.status_code == 400
        assert "The start must come before the end." in response.content.decode()
    assert not LedgerEvent.objects.filter(action="export.created").exists()


def test_the_csv_has_exactly_the_rows_shown_on_every_page(w, monkeypatch):
    monkeypatch.setattr(chart_pages, "PAGE_SIZE", 2)
    client = signed_in(w.users["auditor"])
    first = get(client, counts_url(w))
    assert 'rel="next"' in first.content.decode()
    second = get(client, counts_url(w), page="2")
    shown = shown_rows(first) + shown_rows(second)
    assert len(shown) == 3

    response = export(client, counts_url(w) + "export.csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert f"counts-{w.facility.code}-B-" in response["Content-Disposition"]
    header, *rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert header[:3] == ["Count", "Kind", "Status"]
    assert rows == shown


def test_the_pdf_renders(w):
    response = export(signed_in(w.users["supervisor"]), counts_url(w) + "export.pdf")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    reader = pypdf.PdfReader(io.BytesIO(response.content))
    assert len(reader.pages) >= 1
    assert "Counts of B" in reader.pages[0].extract_text()


def test_a_units_counts_keep_a_fixed_number_of_queries(w):
    client = signed_in(w.users["auditor"])
    get(client, counts_url(w))  # warm the session

    def measure() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert get(client, counts_url(w)).status_code == 200
        return len(captured)

    before = measure()
    for hour in (9, 12, 15):
        take_count(w, w.unit, at=local(1, hour), absent={0}, submit_after=timedelta(minutes=3))
    assert measure() == before


def test_an_export_is_never_a_link_followed(w):
    """A GET cannot write the export's ledger event (a prefetch, an image tag on
    another site): the page offers a form with the CSRF token instead."""
    client = signed_in(w.users["auditor"])
    assert get(client, counts_url(w) + "export.csv").status_code == 405
    page = get(client, counts_url(w)).content.decode()
    assert 'method="post" action="' + counts_url(w) + "export.csv?" in page
    assert "csrfmiddlewaretoken" in page
    assert not LedgerEvent.objects.filter(action="export.created").exists()


@pytest.mark.parametrize("fmt", ["csv", "pdf"])
def test_each_export_is_recorded_in_the_ledger(w, fmt):
    auditor = w.users["auditor"]
    before = LedgerEvent.objects.filter(facility=w.facility, action="export.created").count()
    response = export(signed_in(auditor), counts_url(w) + f"export.{fmt}")
    assert response.status_code == 200
    events = LedgerEvent.objects.filter(facility=w.facility, action="export.created")
    assert events.count() == before + 1
    event = events.latest("seq")
    assert event.subject == "location:B"
    assert event.actor == f"user:{auditor.username}"
    assert event.data["kind"] == "unit_counts"
    assert event.data["format"] == fmt
    assert event.data["rows"] == 3


def test_a_unit_with_no_counts_in_the_period_says_so(w):
    body = get(
        signed_in(w.users["auditor"]),
        counts_url(w),
        since=(D + timedelta(days=5)).isoformat(),
        until=(D + timedelta(days=6)).isoformat(),
    ).content.decode()
    assert "Nothing in this period." in body
    assert "0 counts" in body
