"""The second officer verifies a count on a real browser (headless Chromium,
as in test_tablet_browser.py): the recount page marks offline like the count
screen, through the same queue, and finishing says what the server decided.

Needs Debian's chromium and chromium-driver (.ci/run installs them).
"""

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone, translation

from alerts.models import Alert, AlertKind
from custody.models import RecountMark, RollCallStatus
from custody.services import recounts, rollcalls
from tests.alerting import reconcile
from tests.rollcall_world import count_world, entry
from tests.test_tablet_browser import (  # noqa: F401 (browser is a fixture)
    UUID4,
    browser,
    csp_violations,
    cut_network,
    fetch_fails,
    network_state,
    pending,
    restore_network,
    screenshot,
    sign_in,
    wait_until,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def world(live_server, facility, make_user):
    return count_world(facility, make_user, people=6)


def submitted_count(world):
    """A formal count of the unit, everyone marked present by sight (so the
    server draws them all for the recount), submitted by the first guard."""
    rollcall, _ = rollcalls.rollcall_start(
        location=world.unit, kind="formal", by=world.users["guard"]
    )
    rollcalls.rollcall_record_entries(
        rollcall=rollcall,
        raw_entries=[entry(p["booking_number"]) for p in world.people],
        by=world.users["guard"],
    )
    return rollcalls.rollcall_submit(rollcall=rollcall, by=world.users["guard"])


def open_recount(driver, live_server, world):
    rollcall = submitted_count(world)
    verifier = world.users["guard2"]
    sample = [
        row["inmate"] for row in recounts.recount_start(rollcall=rollcall, by=verifier).sample
    ]
    sign_in(driver, live_server.url, verifier)
    driver.get(f"{live_server.url}/counts/{rollcall.pk}/recount/")
    wait_until(driver, lambda: driver.find_element("id", "sync").is_displayed(), "no recount.js")
    return rollcall, sample


def tap(driver, booking, status):
    button = driver.find_element(
        "css selector", f'#recount-{booking} .recount-actions button[value="{status}"]'
    )
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
    button.click()


def finish(driver):
    # As a person would: the button scrolled clear of the sticky header.
    button = driver.find_element("id", "recount-finish")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
    button.click()


def left(driver) -> int:
    return int(driver.find_element("id", "recount-left").get_attribute("data-left"))


def outcome(driver) -> str:
    return driver.find_element("id", "recount-outcome").get_attribute("data-outcome") or ""


def spanish(text: str) -> str:
    with translation.override("es"):
        return translation.gettext(text)


def test_a_recount_marked_offline_is_sent_once_and_verifies_the_count(
    browser,  # noqa: F811 (the fixture imported above)
    live_server,
    world,
):
    driver = browser
    rollcall, sample = open_recount(driver, live_server, world)
    assert len(sample) == len(world.people)
    assert not driver.find_element("id", "recount-finish").is_enabled()

    # The network goes: every drawn person marked found, all kept on the tablet.
    cut_network(driver)
    assert fetch_fails(driver), "the browser still reaches the server while 'offline'"
    for booking in sample:
        tap(driver, booking, "present")
    wait_until(driver, lambda: pending(driver) == len(sample), "the marks are not shown waiting")
    wait_until(driver, lambda: network_state(driver) == "offline", "not shown offline")
    assert left(driver) == 0
    assert len(driver.find_elements("css selector", ".recount-person.unsent")) == len(sample)
    state = driver.find_element("css selector", f"#recount-{sample[0]} [data-role=state]")
    assert state.text == spanish("Found")

    # Finishing waits, and says so, until the queue is sent.
    finish(driver)
    note = driver.find_element("id", "finish-note")
    waiting = spanish(
        "Cannot finish yet: marks are still waiting to send. The verification finishes "
        "by itself once they are sent; reconnect to the network."
    )
    wait_until(driver, lambda: note.text == waiting, f"no waiting note: {note.text!r}")
    tapped_before = timezone.now()
    assert RecountMark.objects.count() == 0
    rollcall.refresh_from_db()
    assert rollcall.status == RollCallStatus.SUBMITTED
    screenshot(driver, "tablet-recount-offline.png")

    # Back online: the queue is sent, then the verification finishes.
    restore_network(driver)
    wait_until(driver, lambda: outcome(driver) == "verified", "the count was not verified")
    assert driver.find_element("id", "recount-outcome").text == spanish(
        "Count verified: thank you."
    )
    assert pending(driver) == 0
    screenshot(driver, "tablet-recount-verified.png")

    marks = list(RecountMark.objects.select_related("inmate"))
    assert Counter(m.inmate.booking_number for m in marks) == Counter(sample), "lost or doubled"
    assert all(UUID4.match(str(m.id)) for m in marks)  # made on the tablet
    assert all(m.status == "present" and m.method == "visual" for m in marks)
    assert all(m.observed_at < tapped_before < m.received_at for m in marks)  # the tap's time
    rollcall.refresh_from_db()
    assert rollcall.status == RollCallStatus.VERIFIED
    assert rollcall.verified_by == world.users["guard2"]
    assert csp_violations(driver) == []


def test_one_not_found_leaves_the_count_unverified_and_the_supervisors_alerted(
    browser,  # noqa: F811 (the fixture imported above)
    live_server,
    world,
):
    driver = browser
    rollcall, sample = open_recount(driver, live_server, world)
    reconcile(world.facility, timezone.now())
    missing = sample[-1]
    for booking in sample[:-1]:
        tap(driver, booking, "present")
    tap(driver, missing, "absent")
    wait_until(driver, lambda: RecountMark.objects.count() == len(sample), "not sent")
    wait_until(driver, lambda: pending(driver) == 0, "still shown waiting")

    finish(driver)
    wait_until(driver, lambda: outcome(driver) == "not_verified", "no outcome shown")
    with translation.override("es"):
        said = translation.ngettext(
            "The recount did not find %(n)s person: the count stays unverified and the "
            "supervisors are alerted.",
            "The recount did not find %(n)s people: the count stays unverified and the "
            "supervisors are alerted.",
            1,
        ) % {"n": 1}
    assert driver.find_element("id", "recount-outcome").text == said
    assert (
        not driver.find_element("id", f"recount-{missing}")
        .find_elements("css selector", ".recount-actions button")[0]
        .is_displayed()
    )

    rollcall.refresh_from_db()
    assert rollcall.status == RollCallStatus.SUBMITTED
    reconcile(world.facility, timezone.now() + timedelta(seconds=15))
    [alert] = Alert.objects.filter(kind=AlertKind.COUNT_DISCREPANCY)
    assert [row["inmate"] for row in alert.details["unaccounted"]] == [missing]
    assert alert.details["verified_by"] == world.users["guard2"].username
