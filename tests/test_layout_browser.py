"""No page scrolls sideways, and the header stays on one line on a tablet:
every main page in real Chromium, at 800x1280 (a tablet held upright) and
1440x900 (a desk), as a supervisor and as a guard, with data large enough to
push a layout out of shape (a count of 120 that found 112 unaccounted, long
names, many units on the schedules board).

Needs Debian's chromium and chromium-driver, like the tablet's browser test.
Screenshots go to var/test-artifacts/layout-*.png.
"""

from datetime import time, timedelta

import pytest
from django.utils import timezone
from selenium.webdriver.common.by import By

from custody.models import CountSchedule, Inmate, Location, RollCall
from custody.services import rollcalls
from tests import factories
from tests.alerting import reconcile
from tests.rollcall_world import count_world, entry
from tests.test_tablet_browser import browser, screenshot, sign_in, wait_until  # noqa: F401

pytestmark = pytest.mark.slow

SIZES = {"tablet": (800, 1280), "desk": (1440, 900)}
LONG_NAMES = [
    ("María de los Ángeles Guadalupe", "Hernández Castellanos de la Cruz"),
    ("Juan Bautista Maximiliano", "Villatoro Sandoval Quiñónez Barrios"),
]
PEOPLE = 120
PRESENT = 8  # and one marked absent: 112 unaccounted


def _world(facility, make_user):
    world = count_world(facility, make_user, people=PEOPLE)
    for (first, last), person in zip(LONG_NAMES, world.people, strict=False):
        Inmate.objects.filter(pk=person["inmate"].pk).update(first_name=first, last_name=last)
    # A wide schedules board: many units, each with its own counts.
    for n in range(8):
        unit = factories.LocationFactory(facility=facility, code=f"SECTOR-{n:02d}", kind="unit")
        factories.CellFactory(facility=facility, parent=unit, code=f"SECTOR-{n:02d}-C1")
        for hour in (6, 12, 18):
            CountSchedule.objects.create(facility=facility, location=unit, time_of_day=time(hour))
    CountSchedule.objects.create(facility=facility, time_of_day=time(21, 30))
    guard = world.users["guard"]
    rollcall, _ = rollcalls.rollcall_start(location=world.unit, kind="formal", by=guard)
    marks = [entry(world.booking(n)) for n in range(PRESENT)]
    marks.append(entry(world.booking(PRESENT), "absent"))
    rollcalls.rollcall_record_entries(rollcall=rollcall, raw_entries=marks, by=guard)
    rollcall = rollcalls.rollcall_submit(rollcall=rollcall, by=guard)
    assert rollcall.unaccounted_count == PEOPLE - PRESENT
    reconcile(facility, timezone.now() + timedelta(seconds=1))
    world.rollcall = rollcall
    return world


@pytest.fixture
def world(live_server, facility, make_user):
    return _world(facility, make_user)


def resize(driver, width, height):
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )


def sideways_overflow(driver) -> int:
    """How many pixels the page is wider than the window (0: none)."""
    return driver.execute_script(
        "return document.documentElement.scrollWidth - window.innerWidth"
    )


def header_lines(driver) -> int:
    """How many rows the header's items take (1: all on one line)."""
    return driver.execute_script(
        """
        var items = document.querySelectorAll('.bar > .brand, .bar nav > *');
        var tops = new Set();
        items.forEach(function (item) {
          var box = item.getBoundingClientRect();
          if (box.width) tops.add(Math.round(box.top + box.height / 2));
        });
        return tops.size;
        """
    )


def pages(world, role):
    code = world.facility.code
    booking = world.booking(0)
    common = {
        "dashboard": f"/dashboard/{code}/",
        "counts": "/counts/",
        "count": f"/counts/{world.rollcall.pk}/",
    }
    if role == "guard":
        return common
    return {
        **common,
        "schedules": f"/counts/schedules/{code}/",
        "audit": f"/audit/{code}/",
        "people": f"/audit/{code}/people/",
        "inmate": f"/audit/{code}/people/{booking}/",
    }


def check_every_page(driver, base, world, role) -> list[str]:
    problems = []
    for size, (width, height) in SIZES.items():
        resize(driver, width, height)
        for name, path in pages(world, role).items():
            driver.get(base + path)
            wait_until(driver, lambda: driver.find_elements(By.TAG_NAME, "h1"), f"{path}: no h1")
            overflow = sideways_overflow(driver)
            if overflow > 0:
                problems.append(f"{role} {size} {path}: {overflow} px wider than the window")
            if size == "tablet" and (lines := header_lines(driver)) != 1:
                problems.append(f"{role} {size} {path}: the header takes {lines} lines")
            screenshot(driver, f"layout-{role}-{size}-{name}.png")
    return problems


@pytest.mark.parametrize("role", ["supervisor", "guard"])
def test_no_page_scrolls_sideways_and_the_header_holds_one_line(
    browser,  # noqa: F811
    live_server,
    world,
    role,
):
    sign_in(browser, live_server.url, world.users[role])
    assert check_every_page(browser, live_server.url, world, role) == []


def test_the_count_screen_confirms_the_number_the_result_then_shows(
    browser,  # noqa: F811
    live_server,
    world,
):
    """The confirmation and the result come from the same settlement: one
    person marked absent is unaccounted in both."""
    guard = world.users["guard"]
    recount, _ = rollcalls.rollcall_start(
        location=world.unit, kind="formal", by=guard, recount_of=world.rollcall
    )
    marks = [entry(world.booking(n)) for n in range(PRESENT)]
    marks.append(entry(world.booking(PRESENT), "absent"))
    rollcalls.rollcall_record_entries(rollcall=recount, raw_entries=marks, by=guard)
    sign_in(browser, live_server.url, guard)
    resize(browser, *SIZES["tablet"])
    browser.get(f"{live_server.url}/counts/{recount.pk}/")
    submit = browser.find_element(By.ID, "submit-button")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", submit)
    submit.click()
    note = browser.find_element(By.ID, "submit-note")
    wait_until(browser, lambda: "112" in note.text, f"the confirmation says {note.text!r}")
    screenshot(browser, "layout-count-confirm.png")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", submit)
    submit.click()
    wait_until(
        browser,
        lambda: RollCall.objects.get(pk=recount.pk).status == "submitted",
        "the count was not submitted",
    )
    assert RollCall.objects.get(pk=recount.pk).unaccounted_count == PEOPLE - PRESENT
    wait_until(
        browser,
        lambda: browser.find_elements(By.ID, "recount-button"),
        "no recount button on the result",
    )
    title = browser.find_element(By.ID, "result-title").text
    assert "112" in title
    # The recount button is near the top, not below 112 names.
    top = browser.execute_script(
        "return document.getElementById('recount-button').getBoundingClientRect().top"
        " + window.scrollY"
    )
    assert top < 1280, top
    assert Location.objects.filter(code="B").exists()
