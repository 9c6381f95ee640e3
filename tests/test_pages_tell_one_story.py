"""The dashboard, the count screen, /counts/ and the schedules board agree
with each other and say what they mean: a unit's last count beside its live
headcount, an alert's actions before any list of names, times older than
today with their date, the number a guard confirms the number recorded, and
where a person scanned on the wrong count belongs (Django test client; the
layout itself is tests/test_layout_browser.py's).
"""

import re
import zoneinfo
from datetime import datetime, time, timedelta

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone, translation

from alerts.services import reconcile_facility
from custody.models import CountSchedule, Inmate
from custody.services import rollcalls
from custody.templatetags.facility_time import when_text
from tests import factories
from tests.rollcall_world import count_world, entry
from tests.second_factor import sign_in

pytestmark = pytest.mark.django_db

GUATEMALA = zoneinfo.ZoneInfo("America/Guatemala")


@pytest.fixture
def w(facility, make_user):
    return count_world(facility, make_user, people=8)


def as_user(client, user):
    sign_in(client, user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def count_of(w, *, present=(), absent=(), submit=True):
    guard = w.users["guard"]
    rollcall, _ = rollcalls.rollcall_start(location=w.unit, kind="formal", by=guard)
    marks = [entry(w.booking(n)) for n in present] + [entry(w.booking(n), "absent") for n in absent]
    rollcalls.rollcall_record_entries(rollcall=rollcall, raw_entries=marks, by=guard)
    if submit:
        rollcall = rollcalls.rollcall_submit(rollcall=rollcall, by=guard)
    return rollcall


# --- One way to write a time ---------------------------------------------------


def test_a_time_carries_its_date_only_when_it_is_not_today_in_the_facility():
    now = datetime(2026, 12, 3, 10, 0, tzinfo=GUATEMALA)
    with translation.override("en"):
        assert when_text(now - timedelta(hours=3), "America/Guatemala", now=now) == "07:00"
        # 22:53 yesterday is not 22:53 today.
        assert when_text(now - timedelta(hours=11, minutes=7), "America/Guatemala", now=now) == (
            "2 Dec 22:53"
        )
        assert when_text(now - timedelta(days=365), "America/Guatemala", now=now) == (
            "3 Dec 2025 10:00"
        )
        # 03:00 UTC on the 3rd is still the 2nd in Guatemala.
        utc = datetime(2026, 12, 3, 3, 0, tzinfo=zoneinfo.ZoneInfo("UTC"))
        assert when_text(utc, "America/Guatemala", now=now) == "2 Dec 21:00"
        assert when_text(None, "America/Guatemala") == ""


# --- The dashboard -----------------------------------------------------------------


def test_a_units_row_shows_what_its_last_count_found_beside_the_live_headcount(w, client):
    rollcall = count_of(w, present=range(2), absent=[2])
    html = as_user(client, w.users["supervisor"]).get(f"/dashboard/{w.facility.code}/")
    html = html.content.decode()
    row = re.search(r'<th scope="row">B</th>(.*?)</tr>', html, re.S).group(1)
    live = re.findall(r'<td class="num[^"]*">(\d+)</td>', row)
    assert live == ["8", "8", "0", "0"]  # everyone checked in on time
    result = re.search(r'<td class="last-count">(.*?)</td>', row, re.S).group(1)
    assert 'class="count-result unaccounted"' in result
    assert re.search(r"6 unaccounted\s*· <time", result)
    assert f'href="/counts/{rollcall.pk}/"' in result
    assert "Now, from check-ins" in html and "Last count" in html


def test_a_count_alert_with_many_names_shows_its_actions_first_and_links_the_list(w, client):
    rollcall = count_of(w, present=[0])
    reconcile_facility(facility=w.facility)
    html = as_user(client, w.users["supervisor"]).get(f"/dashboard/{w.facility.code}/")
    card = re.search(r'<article class="card alert-card.*?</article>', html.content.decode(), re.S)
    card = card.group(0)
    assert "7 people not accounted for." in card
    assert w.booking(5) not in card  # no wall of names
    assert f'href="/counts/{rollcall.pk}/"' in card and "See all 7 on the count" in card
    assert card.index("Acknowledge") < card.index("not accounted for")
    # The count the link opens lists them all.
    screen = client.get(f"/counts/{rollcall.pk}/").content.decode()
    assert all(w.booking(n) in screen for n in range(1, 8))


def test_a_count_alert_with_few_names_names_them(w, client):
    count_of(w, present=range(6))
    reconcile_facility(facility=w.facility)
    html = as_user(client, w.users["supervisor"]).get(f"/dashboard/{w.facility.code}/")
    card = re.search(r'<article class="card alert-card.*?</article>', html.content.decode(), re.S)
    assert w.booking(6) in card.group(0) and w.booking(7) in card.group(0)


# --- The count screen --------------------------------------------------------------


def test_the_count_screen_says_that_tapping_a_card_marks_present(w, client):
    rollcall = count_of(w, submit=False)
    html = as_user(client, w.users["guard"]).get(f"/counts/{rollcall.pk}/").content.decode()
    assert 'id="tap-hint"' in html and "to mark them <strong>present</strong>" in html
    # Someone who may only look is not told to tap.
    auditor = as_user(client, w.users["auditor"]).get(f"/counts/{rollcall.pk}/")
    assert 'id="tap-hint"' not in auditor.content.decode()


def test_who_is_left_is_a_list_of_links_folded_when_long(w, client):
    rollcall = count_of(w, submit=False)
    html = as_user(client, w.users["guard"]).get(f"/counts/{rollcall.pk}/").content.decode()
    left = re.search(r'<details class="left-to-count"([^>]*)>', html).group(1)
    assert "open" in left  # 8 people: short enough to show
    assert html.count('<li><a href="#tile-') == 8


def test_the_number_confirmed_before_submitting_is_the_number_recorded(w, api_as):
    """One marked absent is unaccounted too: the confirmation once counted
    only the unmarked (5 here) while the result said 6."""
    rollcall = count_of(w, present=range(2), absent=[2], submit=False)
    client = api_as(w.users["guard"])
    totals = client.get(f"/api/v1/rollcalls/{rollcall.pk}/").json()["totals"]
    assert totals["unmarked"] == 5
    assert totals["would_be_unaccounted"] == 6
    submitted = client.post(f"/api/v1/rollcalls/{rollcall.pk}/submit/").json()
    assert submitted["totals"]["unaccounted"] == 6
    assert submitted["totals"]["would_be_unaccounted"] is None


def test_the_recount_button_comes_before_the_list_of_the_unaccounted(w, client):
    rollcall = count_of(w, present=[0])
    html = as_user(client, w.users["guard"]).get(f"/counts/{rollcall.pk}/").content.decode()
    assert html.index('id="recount-button"') < html.index('<table class="unaccounted">')


def test_a_scan_of_someone_from_another_unit_says_where_they_belong(w, client):
    rollcall = count_of(w, submit=False)
    guard = as_user(client, w.users["guard"])
    answer = guard.get(f"/counts/{rollcall.pk}/where/", {"inmate": "gt-bx-1"})
    assert answer.status_code == 200
    assert answer.json()["unit"] == "BX" and answer.json()["cell"] == "BX-01"
    assert "belongs to unit BX, cell BX-01" in answer.json()["message"]
    # Without JavaScript, the refused mark says it too.
    refused = guard.post(
        f"/counts/{rollcall.pk}/mark/",
        {
            "entry_id": "6f1c1b1e-8a7e-4d4e-9d8a-2f6f1a1b2c3d",
            "inmate": "GT-BX-1",
            "status": "present",
        },
    )
    assert refused.status_code == 400
    assert "belongs to unit BX, cell BX-01" in refused.content.decode()


def test_where_someone_belongs_stays_within_the_officers_facilities(w, client, other_facility):
    elsewhere = factories.InmateFactory(facility=other_facility, booking_number="GT-ELSEWHERE")
    rollcall = count_of(w, submit=False)
    guard = as_user(client, w.users["guard"])
    answer = guard.get(f"/counts/{rollcall.pk}/where/", {"inmate": elsewhere.booking_number})
    nobody = guard.get(f"/counts/{rollcall.pk}/where/", {"inmate": "GT-NOBODY"})
    assert answer.status_code == nobody.status_code == 404
    assert answer.json() == nobody.json()
    refused = guard.post(
        f"/counts/{rollcall.pk}/mark/",
        {
            "entry_id": "0b7e4b2a-1c1d-4e5f-8a9b-0c1d2e3f4a5b",
            "inmate": "GT-ELSEWHERE",
            "status": "present",
        },
    )
    assert refused.status_code == 400 and "not on this count" in refused.content.decode()
    assert other_facility.code not in refused.content.decode()
    assert Inmate.objects.get(pk=elsewhere.pk).cell.code not in refused.content.decode()


# --- /counts/ and the schedules board -----------------------------------------------


def test_the_counts_board_dates_an_old_count_and_shows_the_next_one_due(w, client):
    today = timezone.localdate(timezone=GUATEMALA)
    yesterday_night = datetime.combine(today - timedelta(days=1), time(22, 53), tzinfo=GUATEMALA)
    with time_machine.travel(yesterday_night, tick=False):
        count_of(w, present=range(8))
        CountSchedule.objects.create(facility=w.facility, location=w.unit, time_of_day=time(6))
    morning = datetime.combine(today, time(5, 0), tzinfo=GUATEMALA)
    with time_machine.travel(morning, tick=False):
        html = as_user(client, w.users["guard"]).get("/counts/").content.decode()
    card = re.search(r'data-unit="B">(.*?)</li>', html, re.S).group(1)
    with translation.override("en"):
        day = yesterday_night.strftime("%-d %b")
    assert f"Last count {day} 22:53" in card
    assert "Next count due 06:00" in card
    other = re.search(r'data-unit="BX">(.*?)</li>', html, re.S).group(1)
    assert "No count scheduled" in other  # the schedule is B's alone


def test_the_schedules_board_explains_from_tomorrow_once(w, client):
    today = timezone.localdate(timezone=GUATEMALA)
    noon = datetime.combine(today, time(12, 0), tzinfo=GUATEMALA)
    with time_machine.travel(noon, tick=False):
        for hour in (6, 9):
            CountSchedule.objects.create(facility=w.facility, time_of_day=time(hour))
        html = as_user(client, w.users["supervisor"]).get(f"/counts/schedules/{w.facility.code}/")
    html = html.content.decode()
    assert html.count('data-state="not_owed"') == 4  # two times, two units
    assert html.count('id="not-owed-legend"') == 1
    assert "the first one owed is tomorrow" in html
