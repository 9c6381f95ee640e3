"""No page scrolls sideways, and the header stays on one line on a tablet:
every main page in real Chromium, at 800x1280 (a tablet held upright) and
1440x900 (a desk), as a supervisor and as a guard, with data large enough to
push a layout out of shape (a count of 120 that found 112 unaccounted, long
names, many units on the schedules board).

Needs Debian's chromium and chromium-driver, like the tablet's browser test.
Screenshots go to var/test-artifacts/layout-*.png.
"""

from datetime import time, timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from custody.models import CountSchedule, Inmate, InmateStatus, RollCall, SecurityLevel
from custody.services import rollcalls
from tests import factories
from tests.alerting import reconcile
from tests.rollcall_world import entry
from tests.test_tablet_browser import browser, screenshot, sign_in, wait_until  # noqa: F401

pytestmark = pytest.mark.slow

SIZES = {"tablet": (800, 1280), "desk": (1440, 900)}
LONG_NAMES = [
    ("María de los Ángeles Guadalupe", "Hernández Castellanos de la Cruz"),
    ("Juan Bautista Maximiliano", "Villatoro Sandoval Quiñónez Barrios"),
]
PEOPLE = 120
PRESENT = 8  # and one marked absent: 112 unaccounted


def _people(facility, unit, other_unit) -> list[Inmate]:
    """Two people with long names admitted as the service admits, the rest
    written at once (a layout needs numbers and names, not 120 admissions)."""
    cells = [
        factories.CellFactory(facility=facility, parent=unit, code=f"B-{n:02d}") for n in (1, 2, 3)
    ]
    people = [
        factories.InmateFactory(
            facility=facility,
            cell=cells[0],
            booking_number=f"GT-B-{n:04d}",
            first_name=first,
            last_name=last,
        )
        for n, (first, last) in enumerate(LONG_NAMES)
    ]
    now = timezone.now()
    people += Inmate.objects.bulk_create(
        Inmate(
            facility=facility,
            cell=cells[n % len(cells)],
            booking_number=f"GT-B-{n:04d}",
            first_name=f"Nombre{n}",
            last_name=f"Apellido Largo {n}",
            security_level=SecurityLevel.MEDIUM,
            status=InmateStatus.IN_CUSTODY,
            admitted_at=now,
            next_due_at=now + timedelta(hours=2),
        )
        for n in range(len(LONG_NAMES), PEOPLE)
    )
    other_cell = factories.CellFactory(facility=facility, parent=other_unit, code="BX-01")
    factories.InmateFactory(facility=facility, cell=other_cell, booking_number="GT-BX-1")
    return people


def _world(facility, make_user) -> SimpleNamespace:
    unit = factories.LocationFactory(facility=facility, code="B", kind="unit")
    other_unit = factories.LocationFactory(facility=facility, code="BX", kind="unit")
    people = _people(facility, unit, other_unit)
    users = {role: make_user(role, facility) for role in ("guard", "supervisor")}
    # A wide schedules board: many units, each with its own counts.
    for n in range(8):
        sector = factories.LocationFactory(facility=facility, code=f"SECTOR-{n:02d}", kind="unit")
        factories.CellFactory(facility=facility, parent=sector, code=f"SECTOR-{n:02d}-C1")
        for hour in (6, 12, 18):
            CountSchedule.objects.create(facility=facility, location=sector, time_of_day=time(hour))
    CountSchedule.objects.create(facility=facility, time_of_day=time(21, 30))
    rollcall = _count(unit, people, users["guard"])
    rollcall = rollcalls.rollcall_submit(rollcall=rollcall, by=users["guard"])
    assert rollcall.unaccounted_count == PEOPLE - PRESENT
    reconcile(facility, timezone.now() + timedelta(seconds=1))
    # Its recount, under way: the count screen as a guard sees it mid-count.
    recount = _count(unit, people, users["guard"], recount_of=rollcall)
    return SimpleNamespace(
        facility=facility, unit=unit, people=people, users=users, rollcall=rollcall, recount=recount
    )


def _count(unit, people, guard, recount_of=None) -> RollCall:
    """A count of ``unit`` with PRESENT people present and one absent."""
    rollcall, _ = rollcalls.rollcall_start(
        location=unit, kind="formal", by=guard, recount_of=recount_of
    )
    marks = [entry(person.booking_number) for person in people[:PRESENT]]
    marks.append(entry(people[PRESENT].booking_number, "absent"))
    rollcalls.rollcall_record_entries(rollcall=rollcall, raw_entries=marks, by=guard)
    return rollcall


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
    return driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")


def clipped_boxes(driver) -> list[str]:
    """Boxes that cut their content off sideways (a table in a scroll box is
    a table cut off): overflow other than visible, and wider content."""
    return driver.execute_script(
        """
        var clipped = [];
        document.querySelectorAll('body *').forEach(function (box) {
          // Visually hidden text, and a long user name shortened on purpose.
          if (box.clientWidth <= 1 || box.matches('.who')) return;
          if (getComputedStyle(box).overflowX === 'visible') return;
          if (box.scrollWidth > box.clientWidth + 1) {
            var name = typeof box.className === 'string' ? box.className.trim() : '';
            clipped.push(box.tagName.toLowerCase() + (box.id ? '#' + box.id : '') +
                         (name ? '.' + name.split(/\\s+/).join('.') : ''));
          }
        });
        return clipped;
        """
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
    booking = world.people[0].booking_number
    common = {
        "dashboard": f"/dashboard/{code}/",
        "counts": "/counts/",
        "count": f"/counts/{world.rollcall.pk}/",
        "recount": f"/counts/{world.recount.pk}/",
    }
    if role == "guard":
        return common
    return {
        **common,
        "schedules": f"/counts/schedules/{code}/",
        "roll": f"/roll/{code}/",
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
            if clipped := clipped_boxes(driver):
                problems.append(f"{role} {size} {path}: cut off sideways: {', '.join(clipped)}")
            if size == "tablet" and (lines := header_lines(driver)) != 1:
                problems.append(f"{role} {size} {path}: the header takes {lines} lines")
            screenshot(driver, f"layout-{role}-{size}-{name}.png")
    return problems


def test_no_page_scrolls_sideways_and_the_header_holds_one_line(
    browser,  # noqa: F811
    live_server,
    world,
):
    problems = []
    for role in ("supervisor", "guard"):
        browser.delete_all_cookies()
        sign_in(browser, live_server.url, world.users[role])
        problems += check_every_page(browser, live_server.url, world, role)
    assert problems == [], "\n".join(problems)


def test_the_count_screen_confirms_the_number_the_result_then_shows(
    browser,  # noqa: F811
    live_server,
    world,
):
    """The confirmation and the result come from the same settlement: one
    person marked absent is unaccounted in both."""
    guard, recount = world.users["guard"], world.recount
    sign_in(browser, live_server.url, guard)
    resize(browser, *SIZES["tablet"])
    browser.get(f"{live_server.url}/counts/{recount.pk}/")
    wait_until(browser, lambda: browser.find_element(By.ID, "sync").is_displayed(), "no counts.js")
    # Someone of the next unit scanned here: the screen says where they belong.
    scan = browser.find_element(By.ID, "scan-input")
    scan.send_keys("gt-bx-1", Keys.ENTER)
    result = browser.find_element(By.ID, "scan-result")
    wait_until(browser, lambda: "BX-01" in result.text, f"the scan says {result.text!r}")
    assert "GT-BX-1" in result.text and "BX" in result.text
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
