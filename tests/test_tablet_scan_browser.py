"""On a real browser (headless Chromium, tests/test_tablet_browser.py): the
count page tells a wristband scanner's burst from a person's typing.

Keys are dispatched through the DevTools protocol with their own event
times, so "a few ms apart" and "a person's pace" do not depend on how busy
the machine running the test is.

Design (docs/api.md "Tablets"): a burst on a browser that is not an enrolled
tablet is recorded, and shown, as ``manual``: the page knows it has no
tablet to vouch for a machine read, and a count mark is still worth keeping
as the officer's word. The server never downgrades: a page that sends
``rfid`` without a live tablet (its enrolment ended mid-count) sees the mark
refused, with the reason on screen.
"""

import time

import pytest

from custody.models import RollCallEntry
from custody.services import rollcalls, tablets
from custody.services.access import device_update
from custody.tablet_credential import TABLET_COOKIE
from tests import test_tablet_browser as tb

try:
    from selenium.webdriver.common.by import By
except ImportError:  # the browser fixture reports it
    By = None

pytestmark = pytest.mark.slow

browser = tb.browser
world = tb.world

SCANNER_GAP_MS = 8  # a keyboard-wedge scanner
TYPING_GAP_MS = 180  # a quick person


ENTER = {
    "key": "Enter",
    "code": "Enter",
    "text": "\r",
    "windowsVirtualKeyCode": 13,
    "nativeVirtualKeyCode": 13,
}
BACKSPACE = {"key": "Backspace", "code": "Backspace", "windowsVirtualKeyCode": 8}


def keystrokes(driver, text: str, *, gap_ms: int, keys=None) -> None:
    """``text`` then Enter into the focused box, one key every ``gap_ms``
    (or the given ``keys``, dicts of Input.dispatchKeyEvent)."""
    start = time.time()
    keys = keys or [*({"key": ch, "text": ch} for ch in text), ENTER]
    for n, key in enumerate(keys):
        at = start + n * gap_ms / 1000
        # A key that types nothing (Backspace) goes down "raw", as Chrome sends it.
        down = "keyDown" if "text" in key else "rawKeyDown"
        driver.execute_cdp_cmd("Input.dispatchKeyEvent", {"type": down, "timestamp": at, **key})
        up = {k: v for k, v in key.items() if k != "text"}
        driver.execute_cdp_cmd("Input.dispatchKeyEvent", {"type": "keyUp", "timestamp": at, **up})


def open_count(driver, live_server, world, *, tablet_key=None):
    guard = world.users["guard"]
    rollcall, _created = rollcalls.rollcall_start(location=world.unit, kind="formal", by=guard)
    tb.sign_in(driver, live_server.url, guard)
    if tablet_key:
        # What the enrolment page leaves in the browser (tests/test_tablet_enrolment.py).
        driver.add_cookie(
            {
                "name": TABLET_COOKIE,
                "value": tablet_key,
                "path": "/",
                "httpOnly": True,
                "secure": True,
                "sameSite": "Strict",
            }
        )
    driver.get(f"{live_server.url}/counts/{rollcall.pk}/")
    tb.wait_until(driver, lambda: driver.find_element(By.ID, "sync").is_displayed(), "no counts.js")
    driver.find_element(By.ID, "scan-input").click()
    return rollcall


def stored_methods(rollcall) -> dict:
    return {
        e.inmate.booking_number: (e.method, e.device_id)
        for e in RollCallEntry.objects.filter(rollcall=rollcall).select_related("inmate")
    }


def badge(driver, booking) -> str:
    return driver.find_element(By.CSS_SELECTOR, f"#tile-{booking} [data-role=method]").text


def enrol(world, **extra):
    return tablets.tablet_enrol(
        facility=world.facility,
        name="Tablet B-1",
        methods=["rfid", "visual", "manual"],
        by=world.users["admin"],
        **extra,
    )


def test_on_an_enrolled_tablet_a_scan_is_rfid_and_typing_is_manual(browser, live_server, world):
    driver = browser
    tablet, key = enrol(world)
    rollcall = open_count(driver, live_server, world, tablet_key=key)
    status = driver.find_element(By.ID, "tablet-status")
    assert status.get_attribute("data-tablet") == "enrolled" and "Tablet B-1" in status.text
    # No Web NFC in this browser: no button that would do nothing.
    assert not driver.find_element(By.ID, "nfc-button").is_displayed()
    # Page scripts cannot read the credential.
    assert TABLET_COOKIE not in driver.execute_script("return document.cookie")

    scanned, typed = world.booking(0), world.booking(1)
    keystrokes(driver, scanned, gap_ms=SCANNER_GAP_MS)
    keystrokes(driver, typed.lower(), gap_ms=TYPING_GAP_MS)
    tb.tap(driver, world.booking(2))
    # Fast, but corrected on the way: a person at the keyboard.
    corrected = world.booking(3)
    driver.execute_script("document.getElementById('scan-input').focus()")  # the tap took it
    fast_keys = [{"key": ch, "text": ch} for ch in corrected + "9"]
    keystrokes(driver, "", gap_ms=SCANNER_GAP_MS, keys=[*fast_keys, BACKSPACE, ENTER])
    tb.wait_until(driver, lambda: len(stored_methods(rollcall)) == 4, "marks not stored")
    assert stored_methods(rollcall) == {
        scanned: ("rfid", tablet.pk),
        typed: ("manual", tablet.pk),
        world.booking(2): ("visual", tablet.pk),
        corrected: ("manual", tablet.pk),
    }
    tb.wait_until(driver, lambda: tb.pending(driver) == 0, "not sent")
    assert [badge(driver, b) for b in (scanned, typed, world.booking(2))] == [
        "RFID",
        "MANUAL",
        "VISUAL",
    ]
    tb.screenshot(driver, "tablet-scan-badges.png")
    assert tb.csp_violations(driver) == []


def test_a_burst_on_a_browser_that_is_no_tablet_is_recorded_as_manual(browser, live_server, world):
    driver = browser
    rollcall = open_count(driver, live_server, world)
    status = driver.find_element(By.ID, "tablet-status")
    assert status.get_attribute("data-tablet") == "none"
    keystrokes(driver, world.booking(0), gap_ms=SCANNER_GAP_MS)
    tb.wait_until(driver, lambda: len(stored_methods(rollcall)) == 1, "mark not stored")
    assert stored_methods(rollcall) == {world.booking(0): ("manual", None)}
    assert badge(driver, world.booking(0)) == "MANUAL"


def test_a_scan_after_the_tablet_was_revoked_is_refused_on_screen(browser, live_server, world):
    driver = browser
    tablet, key = enrol(world)
    rollcall = open_count(driver, live_server, world, tablet_key=key)
    device_update(device=tablet, by=world.users["admin"], is_active=False)
    keystrokes(driver, world.booking(0), gap_ms=SCANNER_GAP_MS)
    errors = (By.ID, "mark-errors-box")
    tb.wait_until(driver, lambda: driver.find_element(*errors).is_displayed(), "not shown")
    text = driver.find_element(By.ID, "mark-errors").text
    assert world.booking(0) in text and "rfid" in text
    assert not stored_methods(rollcall), "a refused machine read was stored as something else"
