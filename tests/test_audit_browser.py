"""An auditor on a real browser (headless Chromium, Spanish first): from the
menu to the overview's charts, a verification of the ledger and the
integrity report, with every resource served by the service itself.

Needs Debian's chromium and chromium-driver, like the tablet's browser test.
"""

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from custody.models import LedgerJob
from custody.services import rollcalls
from custody.services.ledger_jobs import ledger_job_run
from tests import factories
from tests.rollcall_world import count_world, entry, verify_by_recount
from tests.test_tablet_browser import (  # noqa: F401
    browser,
    csp_violations,
    screenshot,
    sign_in,
    wait_until,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def world(live_server, facility, make_user):
    world = count_world(facility, make_user, people=8)
    guard, verifier = world.users["guard"], world.users["guard2"]
    rollcall, _ = rollcalls.rollcall_start(location=world.unit, kind="formal", by=guard)
    # Wristband scans on an enrolled tablet: machine reads, not a guard's word.
    tablet, _key = factories.device(facility, kind="tablet")
    marks = [entry(world.booking(n), method="rfid") for n in range(7)]
    rollcalls.rollcall_record_entries(rollcall=rollcall, raw_entries=marks, by=guard, device=tablet)
    rollcall = rollcalls.rollcall_submit(rollcall=rollcall, by=guard)
    verify_by_recount(rollcall, verifier)
    return world


def click_link(driver, text):
    link = driver.find_element(By.LINK_TEXT, text)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", link)
    link.click()


def test_an_auditor_reads_charts_verifies_the_ledger_and_opens_the_signals(
    browser,  # noqa: F811
    live_server,
    world,
):
    base = live_server.url
    sign_in(browser, base, world.users["auditor"])
    click_link(browser, "Auditoría")  # one facility: straight to its overview
    overview = f"{base}/audit/{world.facility.code}/"
    wait_until(browser, lambda: browser.current_url == overview, "no overview")
    charts = browser.find_elements(By.CSS_SELECTOR, "svg[role='img']")
    assert len(charts) >= 3
    screenshot(browser, "audit-overview.png")

    click_link(browser, "Bitácora")
    # Asking only queues a job; a worker (here, this test) runs it, and the
    # page, polling its jobs panel, shows the answer without a reload.
    browser.find_element(
        By.XPATH, "//button[contains(., 'Verificar toda la cadena ahora')]"
    ).click()
    wait_until(browser, lambda: LedgerJob.objects.exists(), "no verification was asked for")
    ledger_job_run(job_id=LedgerJob.objects.get().pk)
    wait_until(
        browser,
        # The panel is swapped whole every poll: read the page, not an element that may go stale.
        lambda: "La cadena está íntegra" in browser.page_source,
        "the verification did not answer",
    )
    head = browser.find_element(By.ID, "head-hash").text
    assert len(head) == 64
    screenshot(browser, "audit-ledger.png")

    click_link(browser, "Señales de integridad")
    wait_until(browser, lambda: browser.current_url.endswith("/integrity/"), "no report")
    assert "Señales de integridad" in browser.find_element(By.TAG_NAME, "h1").text
    export_form = "form[method='post'][action*='/integrity/export.pdf?since=']"
    assert browser.find_elements(By.CSS_SELECTOR, export_form)

    resources = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    assert resources  # the page's CSS at least
    assert [url for url in resources if not url.startswith(base)] == []
    # Every page on the way ran under the Content-Security-Policy unrefused.
    assert csp_violations(browser) == []

    # The language switch still answers a choice without an inline handler (page.js).
    Select(browser.find_element(By.NAME, "language")).select_by_value("en")
    wait_until(
        browser,
        lambda: "Integrity signals" in browser.find_element(By.TAG_NAME, "h1").text,
        "the language did not change",
    )


def test_the_api_docs_work_under_their_policy(browser, live_server):  # noqa: F811
    browser.get(f"{live_server.url}/api/docs/")
    wait_until(
        browser,
        lambda: browser.find_elements(By.CSS_SELECTOR, ".swagger-ui .opblock"),
        "Swagger UI drew no operation",
    )
    assert "Custody and headcount integrity API" in browser.page_source
    assert csp_violations(browser) == []
