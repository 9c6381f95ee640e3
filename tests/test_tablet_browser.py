"""A guard counts a unit on a real browser (headless Chromium, 1024x768 like
a tablet), loses the network half-way, reloads the page, and when the
network is back every mark reaches the database exactly once.

Needs Debian's chromium and chromium-driver (.ci/run installs them). Their
absence fails the test: CI must run it, never skip it. Screenshots go to
var/test-artifacts/.
"""

import contextlib
import os
import re
import socket
import time
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings
from django.core.servers import basehttp

from custody.models import RollCall, RollCallEntry
from custody.services import rollcalls
from tests import factories
from tests.rollcall_world import count_world, entry

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # reported by the fixture, as a failure
    webdriver = None

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = Path(settings.BASE_DIR) / "var" / "test-artifacts"
WIDTH, HEIGHT = 1024, 768
WAIT_SECONDS = 30
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


@pytest.fixture
def browser():
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} missing: install Debian's browser for this test with "
            "`apt-get install -y chromium chromium-driver` (.ci/run does it)."
        )
    if webdriver is None:
        pytest.fail("selenium is not installed: run `make install` (it is a dev dependency).")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={WIDTH},{HEIGHT}",
        "--lang=es",
    ):
        options.add_argument(argument)
    # Spanish first, as a tablet of the Sistema Penitenciario asks for it.
    options.add_experimental_option("prefs", {"intl.accept_languages": "es-GT,es"})
    # The console, where the browser reports what the Content-Security-Policy blocked.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    # The page itself is 1024x768, as on a tablet (the window adds no chrome).
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False},
    )
    driver.execute_cdp_cmd("Network.enable", {})
    yield driver
    driver.quit()


@pytest.fixture
def world(live_server, facility, make_user):
    return count_world(facility, make_user, people=10)


def wait_until(driver, condition, message):
    return WebDriverWait(driver, WAIT_SECONDS, poll_frequency=0.2).until(
        lambda _driver: condition(), message
    )


def screenshot(driver, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    driver.execute_script("window.scrollTo(0, 0)")
    driver.save_screenshot(str(path))
    print(f"screenshot: {path}")
    return path


def sign_in(driver, base_url, user):
    driver.get(f"{base_url}/login/")
    driver.find_element(By.NAME, "username").send_keys(user.username)
    driver.find_element(By.NAME, "password").send_keys(factories.PASSWORD, Keys.ENTER)
    wait_until(driver, lambda: "/login/" not in driver.current_url, "sign-in did not go through")


def csp_violations(driver) -> list[str]:
    """What the page's Content-Security-Policy refused since the last call
    (the browser logs each refusal on the console)."""
    return [
        entry["message"]
        for entry in driver.get_log("browser")
        if "Content Security Policy" in entry["message"] or "Refused to" in entry["message"]
    ]


def pending(driver) -> int:
    return int(driver.find_element(By.ID, "pending").get_attribute("data-count"))


def network_state(driver) -> str:
    return driver.find_element(By.ID, "net-state").get_attribute("data-state")


def tap(driver, booking, button="tile-tap"):
    # As a person would: the tile scrolled into the middle, clear of the sticky bars.
    target = driver.find_element(By.CSS_SELECTOR, f"#tile-{booking} .{button}")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", target)
    target.click()


def stored(rollcall) -> list[RollCallEntry]:
    return list(RollCallEntry.objects.filter(rollcall=rollcall).select_related("inmate"))


def cut_network(driver):
    driver.set_network_conditions(
        offline=True, latency=0, download_throughput=0, upload_throughput=0
    )


def restore_network(driver):
    driver.set_network_conditions(
        offline=False, latency=0, download_throughput=-1, upload_throughput=-1
    )


def fetch_fails(driver) -> bool:
    """Whether the page's own fetch() cannot reach the server right now."""
    return driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        fetch("/healthz", {cache: "no-store"}).then(() => done(false), () => done(true));
        """
    )


def test_a_count_taken_half_offline_stores_every_mark_once(browser, live_server, world):
    driver = browser
    people = [p["booking_number"] for p in world.people]
    sign_in(driver, live_server.url, world.users["guard"])

    # Pick the unit and start a formal count.
    driver.get(f"{live_server.url}/counts/")
    driver.find_element(
        By.CSS_SELECTOR, '[data-unit="B"] button[name="kind"][value="formal"]'
    ).click()
    wait_until(driver, lambda: RollCall.objects.filter(location=world.unit).exists(), "no count")
    rollcall = RollCall.objects.get(location=world.unit)
    wait_until(driver, lambda: driver.current_url.endswith(f"/counts/{rollcall.pk}/"), "no page")
    wait_until(driver, lambda: driver.find_element(By.ID, "sync").is_displayed(), "no counts.js")
    assert UUID4.match(driver.execute_script("return CustodyCounts.makeId(false)"))

    # Online: four taps, sent at once.
    for booking in people[:4]:
        tap(driver, booking)
    wait_until(driver, lambda: len(stored(rollcall)) == 4 and pending(driver) == 0, "not sent")
    assert network_state(driver) == "online"

    # The network goes: four taps, one wristband scan, one absent; all wait.
    cut_network(driver)
    assert fetch_fails(driver), "the browser still reaches the server while 'offline'"
    for booking in people[4:8]:
        tap(driver, booking)
    scan = driver.find_element(By.ID, "scan-input")
    scan.send_keys(people[8].lower(), Keys.ENTER)  # readers may type lower case
    tap(driver, people[9], button="tile-absent")
    wait_until(driver, lambda: pending(driver) == 6, "the marks are not shown as waiting")
    wait_until(driver, lambda: network_state(driver) == "offline", "not shown offline")
    assert "6" in driver.find_element(By.ID, "pending").text
    assert len(driver.find_elements(By.CSS_SELECTOR, ".tile.unsent")) == 6
    assert driver.find_element(By.ID, "tally-left").text == "0"
    time.sleep(3)  # a few retries go by, and fail
    assert len(stored(rollcall)) == 4
    screenshot(driver, "tablet-count-offline.png")

    # Back on the network but the API still unreachable (blocked before the
    # network returns, or the queue would go at once): a reload keeps the queue.
    driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["*/entries/*"]})
    restore_network(driver)
    driver.refresh()
    wait_until(driver, lambda: driver.find_element(By.ID, "sync").is_displayed(), "no counts.js")
    wait_until(driver, lambda: pending(driver) == 6, "the queue did not survive the reload")
    assert len(driver.find_elements(By.CSS_SELECTOR, ".tile.unsent")) == 6

    # The API answers again: the queue empties by itself, nothing doubled.
    driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": []})
    wait_until(driver, lambda: pending(driver) == 0, "the queue did not empty")
    wait_until(driver, lambda: len(stored(rollcall)) == 10, "not every mark was stored")
    assert not driver.find_elements(By.CSS_SELECTOR, ".tile.unsent")

    # The one marked absent will be reported unaccounted: the server's
    # settlement says so before the count is closed, and a second press confirms.
    driver.find_element(By.ID, "submit-button").click()
    note = driver.find_element(By.ID, "submit-note")
    wait_until(driver, lambda: note.text.startswith("1 "), f"no confirmation: {note.text!r}")
    driver.find_element(By.ID, "submit-button").click()
    wait_until(driver, lambda: driver.find_elements(By.ID, "count-result"), "no result shown")
    screenshot(driver, "tablet-count-submitted.png")

    rollcall.refresh_from_db()
    assert rollcall.status == "submitted"
    entries = stored(rollcall)
    assert len(entries) == 10, "a mark was lost or doubled"
    assert Counter(e.inmate.booking_number for e in entries) == Counter(people)
    assert Counter(e.status for e in entries) == {"present": 9, "absent": 1}
    # Not an enrolled tablet: the scan is the officer's word (test_tablet_scan_browser.py).
    assert Counter(e.method for e in entries) == {"visual": 9, "manual": 1}
    assert rollcall.present_count == 9 and rollcall.unaccounted_count == 1
    assert [row["inmate"] for row in rollcall.unaccounted] == [people[9]]
    assert driver.find_element(By.ID, "recount-button").is_displayed()
    # The board and the count screen ran under the policy without a refusal.
    driver.get(f"{live_server.url}/counts/")
    wait_until(driver, lambda: driver.find_elements(By.ID, "count-board"), "no board")
    assert csp_violations(driver) == []


def test_a_mark_the_server_refuses_stays_on_screen_until_dismissed(browser, live_server, world):
    """Another tablet submits the count while this one is offline: the mark
    it still holds is refused, and shown (not dropped) until a person says so."""
    driver = browser
    guard = world.users["guard"]
    rollcall, _created = rollcalls.rollcall_start(location=world.unit, kind="formal", by=guard)
    sign_in(driver, live_server.url, guard)
    driver.get(f"{live_server.url}/counts/{rollcall.pk}/")
    wait_until(driver, lambda: driver.find_element(By.ID, "sync").is_displayed(), "no counts.js")

    cut_network(driver)
    booking = world.booking(0)
    tap(driver, booking)
    wait_until(driver, lambda: pending(driver) == 1, "the mark is not shown as waiting")
    rollcalls.rollcall_submit(rollcall=rollcall, by=world.users["guard2"])
    restore_network(driver)

    errors = (By.ID, "mark-errors-box")
    wait_until(driver, lambda: driver.find_element(*errors).is_displayed(), "refusal not shown")
    assert booking in driver.find_element(By.ID, "mark-errors").text
    assert pending(driver) == 0
    assert not stored(rollcall)
    # The page notices the count was closed and shows its result, the refusal still there.
    wait_until(driver, lambda: driver.find_elements(By.ID, "count-result"), "result not shown")
    wait_until(driver, lambda: driver.find_element(*errors).is_displayed(), "refusal lost")
    assert booking in driver.find_element(By.ID, "mark-errors").text

    driver.find_element(By.CSS_SELECTOR, "#mark-errors button").click()
    wait_until(driver, lambda: not driver.find_element(*errors).is_displayed(), "not dismissed")
    driver.refresh()
    wait_until(driver, lambda: driver.find_elements(By.ID, "count-result"), "no result page")
    time.sleep(1)  # counts.js has read the queue
    assert not driver.find_element(*errors).is_displayed()


class _HangUp(basehttp.ServerHandler):
    """Reads the request, answers nothing and closes the connection."""

    def run(self, application):
        self.request_handler.close_connection = True
        with contextlib.suppress(OSError):
            self.request_handler.connection.shutdown(socket.SHUT_RDWR)


@contextlib.contextmanager
def server_unreachable():
    """Every request to the live server, page and service worker alike, is
    dropped without an answer (as when the Wi-Fi is gone): Chrome's offline
    emulation covers the page but not its service worker. Swapped where each
    request looks it up, so kept-alive connections hang up too."""
    original = basehttp.ServerHandler
    basehttp.ServerHandler = _HangUp
    try:
        yield
    finally:
        basehttp.ServerHandler = original


def test_the_count_page_opens_without_a_network(browser, live_server, world):
    """The tablet went to sleep, or the tab crashed, while the server was out
    of reach: the count page opens from the service worker's copy with its
    waiting marks, and they are sent when the server is back."""
    driver = browser
    guard = world.users["guard"]
    rollcall, _created = rollcalls.rollcall_start(location=world.unit, kind="formal", by=guard)
    sign_in(driver, live_server.url, guard)
    page = f"{live_server.url}/counts/{rollcall.pk}/"
    driver.get(page)
    wait_until(driver, lambda: driver.find_element(By.ID, "sync").is_displayed(), "no counts.js")
    wait_until(
        driver,
        lambda: driver.execute_script("return !!navigator.serviceWorker.controller"),
        "the service worker did not take the page",
    )
    driver.get(page)  # now through the worker, which keeps a copy
    wait_until(driver, lambda: driver.find_element(By.ID, "sync").is_displayed(), "no counts.js")

    with server_unreachable():
        tap(driver, world.booking(0))
        tap(driver, world.booking(1))
        wait_until(driver, lambda: pending(driver) == 2, "the marks are not shown as waiting")
        # Meanwhile another officer marks someone: a page from the server would show it.
        rollcalls.rollcall_record_entries(
            rollcall=rollcall, raw_entries=[entry(world.booking(2))], by=world.users["guard2"]
        )
        driver.get(page)
        wait_until(driver, lambda: driver.find_element(By.ID, "sync").is_displayed(), "no page")
        wait_until(driver, lambda: pending(driver) == 2, "the waiting marks are not back")
        other = driver.find_element(By.ID, f"tile-{world.booking(2)}").get_attribute("class")
        assert "mark-present" not in other, "the page came from the server, not the copy"
        screenshot(driver, "tablet-count-reopened-offline.png")

    wait_until(driver, lambda: pending(driver) == 0, "the queue did not empty")
    wait_until(driver, lambda: len(stored(rollcall)) == 3, "the marks were not stored")
    assert Counter(e.inmate.booking_number for e in stored(rollcall)) == Counter(
        [world.booking(0), world.booking(1), world.booking(2)]
    )


def test_marks_wait_for_the_officer_who_made_them(browser, live_server, world):
    """A tablet handed over before it reconnects: the next guard's sign-in
    never sends (and so never signs) the marks the first one made."""
    driver = browser
    first, second = world.users["guard"], world.users["guard2"]
    rollcall, _created = rollcalls.rollcall_start(location=world.unit, kind="formal", by=first)
    sign_in(driver, live_server.url, first)
    page = f"{live_server.url}/counts/{rollcall.pk}/"
    driver.get(page)
    wait_until(driver, lambda: driver.find_element(By.ID, "sync").is_displayed(), "no counts.js")
    with server_unreachable():
        tap(driver, world.booking(0))
        wait_until(driver, lambda: pending(driver) == 1, "the mark is not shown as waiting")
        driver.get("about:blank")  # the tablet changes hands before it reconnects

    driver.delete_all_cookies()
    sign_in(driver, live_server.url, second)
    driver.get(page)
    others = (By.ID, "others-waiting")
    wait_until(driver, lambda: driver.find_element(*others).is_displayed(), "not said")
    assert pending(driver) == 0
    time.sleep(2)  # a flush would have gone by
    assert not stored(rollcall), "another officer's mark went out under this sign-in"

    driver.delete_all_cookies()
    sign_in(driver, live_server.url, first)
    driver.get(page)
    wait_until(driver, lambda: len(stored(rollcall)) == 1, "the first officer's mark not sent")
    assert stored(rollcall)[0].recorded_by == first


def kept_pages(driver) -> list[str]:
    """The count pages the service worker holds for offline use."""
    return driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        caches.keys()
          .then(names => Promise.all(names.map(name => caches.open(name).then(c => c.keys()))))
          .then(lists => done(lists.flat().map(r => r.url).filter(u => u.includes("/counts/"))));
        """
    )


def open_kept(driver, page):
    """The count page, opened twice so that the service worker holds a copy."""
    driver.get(page)
    wait_until(driver, lambda: driver.find_element(By.ID, "sync").is_displayed(), "no counts.js")
    wait_until(
        driver,
        lambda: driver.execute_script("return !!navigator.serviceWorker.controller"),
        "the service worker did not take the page",
    )
    driver.get(page)
    wait_until(driver, lambda: page in kept_pages(driver), "the worker kept no copy")


def shows_a_name(driver, world) -> bool:
    source = driver.page_source
    return any(p["booking_number"] in source for p in world.people)


def test_signing_out_leaves_no_page_with_names_to_open_offline(browser, live_server, world):
    driver = browser
    guard = world.users["guard"]
    rollcall, _created = rollcalls.rollcall_start(location=world.unit, kind="formal", by=guard)
    sign_in(driver, live_server.url, guard)
    page = f"{live_server.url}/counts/{rollcall.pk}/"
    open_kept(driver, page)
    assert shows_a_name(driver, world)

    sign_out = driver.find_element(By.CSS_SELECTOR, "form[action='/logout/'] button")
    sign_out.click()
    wait_until(driver, lambda: "/login/" in driver.current_url, "not signed out")
    wait_until(driver, lambda: kept_pages(driver) == [], "the copies outlived the sign-out")

    with server_unreachable():
        driver.get(page)
        time.sleep(1)
        assert not shows_a_name(driver, world), "a page with names opened after sign-out"
    screenshot(driver, "tablet-signed-out-offline.png")


def test_a_page_kept_offline_stops_opening_when_the_session_ends(
    browser, live_server, world, settings
):
    """The session runs out while the tablet is offline (nobody signed out):
    the kept page opens while the sign-in lasts, and never after."""
    settings.SESSION_COOKIE_AGE = 25
    driver = browser
    guard = world.users["guard"]
    rollcall, _created = rollcalls.rollcall_start(location=world.unit, kind="formal", by=guard)
    signed_in_at = time.monotonic()
    sign_in(driver, live_server.url, guard)
    page = f"{live_server.url}/counts/{rollcall.pk}/"
    open_kept(driver, page)

    with server_unreachable():
        driver.get(page)
        wait_until(driver, lambda: shows_a_name(driver, world), "not opened offline")
        assert time.monotonic() - signed_in_at < settings.SESSION_COOKIE_AGE, "machine too slow"
        time.sleep(max(settings.SESSION_COOKIE_AGE - (time.monotonic() - signed_in_at), 0) + 1)
        driver.get(page)
        time.sleep(1)
        assert not shows_a_name(driver, world), "a page opened offline after its session ended"
    driver.get(f"{live_server.url}/healthz")  # a page of the site that forgets nothing
    assert page not in kept_pages(driver)  # dropped when it was refused
