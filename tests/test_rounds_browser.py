"""A guard walks a round on a real browser (headless Chromium, portrait
800x1280 like the tablets of the wings): scans cell tags, says how each
person was seen, loses the network for two cells, reloads, and when the
network is back every check reaches the database once, even when the
tablet sends one again; a tag scanned at the wrong cell is refused on screen.

Same browser and helpers as tests/test_tablet_browser.py (Chromium from
Debian, screenshots in var/test-artifacts/).
"""

import time

import pytest

from custody.models import RoundCheck, RoundObservation
from custody.services import tablets
from custody.tablet_credential import TABLET_COOKIE
from tests import factories
from tests import test_tablet_browser as tb
from tests.rounds_report_world import rounds_world

try:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
except ImportError:  # the browser fixture reports it
    By = None

pytestmark = pytest.mark.slow

browser = tb.browser
WIDTH, HEIGHT = 800, 1280
TARGET_PX = 44


@pytest.fixture
def world(live_server, facility, make_user):
    w = rounds_world(facility, make_user)
    w.people = {
        code: [
            factories.InmateFactory(
                facility=facility, cell=w.cells[code], booking_number=f"GT-R-{code}-{n}"
            ).booking_number
            for n in range(2)
        ]
        for code in ("C1", "C2", "C3")
    }
    return w


def open_screen(driver, live_server, world):
    guard = world.users["g1"]
    _tablet, key = tablets.tablet_enrol(
        facility=world.facility,
        name="Tableta U-1",
        methods=["rfid", "visual"],
        by=world.users["admin"],
    )
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False},
    )
    tb.sign_in(driver, live_server.url, guard)
    driver.add_cookie(
        {
            "name": TABLET_COOKIE,
            "value": key,
            "path": "/",
            "httpOnly": True,
            "secure": True,
            "sameSite": "Strict",
        }
    )
    driver.get(f"{live_server.url}/counts/rounds/{world.unit.pk}/")
    wait_for_script(driver)


def wait_for_script(driver):
    tb.wait_until(driver, lambda: driver.find_element(By.ID, "sync").is_displayed(), "no rounds.js")


def cell(driver, code):
    return driver.find_element(By.ID, f"cell-{code}")


def round_of(driver, code, uid, *, states=None):
    """Tap the cell, scan its tag (a reader types the uid and Enter), set the
    states asked for, save."""
    node = cell(driver, code)
    opener = node.find_element(By.CSS_SELECTOR, ".cell-open")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", opener)
    opener.click()
    node.find_element(By.CSS_SELECTOR, ".tag-input").send_keys(uid, Keys.ENTER)
    tb.wait_until(
        driver,
        lambda: node.find_element(By.CSS_SELECTOR, "[data-role=tag-read]").is_displayed(),
        "the scan was not taken",
    )
    for booking, state in (states or {}).items():
        row = node.find_element(By.CSS_SELECTOR, f'.occupant[data-booking="{booking}"]')
        row.find_element(By.CSS_SELECTOR, f"input[value={state}]").find_element(
            By.XPATH, ".."
        ).click()
    node.find_element(By.CSS_SELECTOR, ".save-check").click()


def stored_checks() -> dict:
    return {c.location.code: c for c in RoundCheck.objects.select_related("location")}


def test_a_round_half_offline_reaches_the_record_once(browser, live_server, world):
    driver = browser
    open_screen(driver, live_server, world)
    # Portrait tablet: nothing wider than the screen, every target a finger wide.
    assert driver.execute_script("return document.documentElement.scrollWidth") <= WIDTH
    cell(driver, "C1").find_element(By.CSS_SELECTOR, ".cell-open").click()
    for target in cell(driver, "C1").find_elements(
        By.CSS_SELECTOR, ".state, .save-check, .cell-open"
    ):
        assert target.size["height"] >= TARGET_PX, target.text
    cell(driver, "C1").find_element(By.CSS_SELECTOR, ".cell-open").click()  # closed again

    # Online: C1, one person needs attention; sent at once.
    needs = world.people["C1"][1]
    round_of(driver, "C1", "qrc1", states={needs: "needs_attention"})  # readers may type lower case
    tb.wait_until(driver, lambda: "C1" in stored_checks() and tb.pending(driver) == 0, "not sent")
    assert dict(
        RoundObservation.objects.filter(round_check__location__code="C1").values_list(
            "inmate__booking_number", "state"
        )
    ) == {world.people["C1"][0]: "seen_alive", needs: "needs_attention"}
    tb.wait_until(driver, lambda: "checked" in cell(driver, "C1").get_attribute("class"), "no tick")

    # The network goes: two cells, both kept on the tablet.
    tb.cut_network(driver)
    assert tb.fetch_fails(driver)
    round_of(driver, "C2", "QRC2")
    round_of(driver, "C3", "QRC3", states={world.people["C3"][0]: "view_obstructed"})
    tb.wait_until(driver, lambda: tb.pending(driver) == 2, "not shown as waiting")
    tb.wait_until(driver, lambda: tb.network_state(driver) == "offline", "not shown offline")
    assert len(driver.find_elements(By.CSS_SELECTOR, ".round-cell.unsent")) == 2
    queued = driver.execute_script(
        "return CustodyRounds.queue.list('pending').map(function (r) { return r; })"
    )
    tb.screenshot(driver, "tablet-rounds-offline.png")

    # Network back but the API still unreachable: a reload keeps the queue.
    driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["*/api/v1/rounds/*"]})
    tb.restore_network(driver)
    driver.refresh()
    wait_for_script(driver)
    tb.wait_until(driver, lambda: tb.pending(driver) == 2, "the queue did not survive the reload")
    assert set(stored_checks()) == {"C1"}

    # The API answers again: the queue empties by itself.
    driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": []})
    tb.wait_until(driver, lambda: tb.pending(driver) == 0, "the queue did not empty")
    tb.wait_until(driver, lambda: len(stored_checks()) == 3, "not every check was stored")

    # A tablet that never heard the answer sends a check again: stored once.
    driver.execute_script(
        "var r = arguments[0]; r.state = 'pending'; return CustodyRounds.queue.add(r);", queued[0]
    )
    tb.wait_until(driver, lambda: tb.pending(driver) == 0, "the resend did not go")
    assert RoundCheck.objects.count() == 3
    checks = stored_checks()
    assert {code: c.officer.username for code, c in checks.items()} == dict.fromkeys(
        ("C1", "C2", "C3"), "g1"
    )
    assert all(c.device.name == "Tableta U-1" for c in checks.values())
    assert RoundObservation.objects.filter(state="view_obstructed").count() == 1
    assert RoundObservation.objects.count() == 6

    # C2's tag scanned for C1 (the guard at the wrong door, or holding C2's
    # sheet): refused, said on screen, nothing stored.
    round_of(driver, "C1", "QRC2")
    box = (By.ID, "round-refused-box")
    tb.wait_until(driver, lambda: driver.find_element(*box).is_displayed(), "not shown")
    assert "C1" in driver.find_element(By.ID, "round-refused").text
    assert RoundCheck.objects.count() == 3
    tb.screenshot(driver, "tablet-rounds-refused.png")

    # A code typed by hand (from a photo, a list, a printed sheet) is not a
    # scan: the screen refuses it and sends nothing.
    node = cell(driver, "C2")
    node.find_element(By.CSS_SELECTOR, ".cell-open").click()
    box = node.find_element(By.CSS_SELECTOR, ".tag-input")
    for char in "QRC2":
        box.send_keys(char)
        time.sleep(0.08)  # a person's keystrokes, slower than any reader's burst
    box.send_keys(Keys.ENTER)
    note = (By.ID, "round-note")
    tb.wait_until(
        driver,
        lambda: (
            "flash-error" in driver.find_element(*note).get_attribute("class")
            and driver.find_element(*note).text
        ),
        "typing taken for a scan",
    )
    assert not node.find_element(By.CSS_SELECTOR, "[data-role=tag-read]").is_displayed()
    node.find_element(By.CSS_SELECTOR, ".save-check").click()
    assert tb.pending(driver) == 0 and RoundCheck.objects.count() == 3
    assert tb.csp_violations(driver) == []
