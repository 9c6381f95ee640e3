"""The supervisor dashboard (live headcount, open alerts, acknowledge and
resolve) and invariant 8's red banner on every page."""

import json
import re
import shutil
import subprocess
import zoneinfo
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
import time_machine
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from alerts.models import Alert, AlertKind, AlertStatus, ReconcilerState
from alerts.services import reconciler_health
from custody import services
from custody.models import Facility, User
from tests import factories
from tests.alerting import reconcile, scan
from tests.second_factor import sign_in

pytestmark = pytest.mark.django_db

# The clock stands still at NOW for every test: the pass that opened the
# alerts ran at NOW, so the reconciler is fresh unless a test says otherwise.
NOW = timezone.now().replace(microsecond=0)
T0 = NOW - timedelta(hours=2)
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def _frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def w(facility, other_facility, make_user):
    """Unit A (cell A-01) and unit B (cell B-01) of one facility; since T0:
    Ana, never seen again (missed check-in, high); Berta, on a transfer that
    never arrived (critical); Carla, seen by the reader 20 minutes before NOW;
    the reader silent since then (offline, medium). One pass at NOW."""
    with time_machine.travel(T0, tick=False):
        a1 = factories.CellFactory(facility=facility, code="A-01", parent__code="A")
        b1 = factories.CellFactory(facility=facility, code="B-01", parent__code="B")
        reader, key = factories.device(facility, location=a1)
        ana = factories.InmateFactory(
            facility=facility,
            cell=a1,
            booking_number="GT-1",
            first_name="Ana",
            last_name="López",
            admitted_at=T0,
        )
        berta = factories.InmateFactory(
            facility=facility, cell=b1, booking_number="GT-2", admitted_at=T0
        )
        carla = factories.InmateFactory(
            facility=facility, cell=a1, booking_number="GT-3", admitted_at=T0
        )
        sup = make_user("supervisor", facility, username="sup")
        sup2 = make_user("supervisor", facility)
        # The transfer's officers, not ``sup``: nobody acts on an alert about
        # their own movement.
        gate = make_user("supervisor", facility)
    with time_machine.travel(T0 + timedelta(minutes=10), tick=False):
        transfer = services.movement_request(
            inmate=berta,
            kind="transfer",
            by=gate,
            to_facility=other_facility,
            expected_arrival_at=T0 + timedelta(minutes=30),
        )
        services.movement_approve(movement=transfer, by=sup2)
        services.movement_depart(movement=transfer, by=gate)
    scan(key, carla, a1, NOW - timedelta(minutes=20))
    reconcile(facility, NOW)
    return SimpleNamespace(
        facility=facility,
        other=other_facility,
        a1=a1,
        reader=reader,
        ana=ana,
        sup=sup,
    )


def open_alert(kind) -> Alert:
    return Alert.objects.get(kind=kind, status__in=(AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED))


def page(response) -> str:
    return response.content.decode()


def signed_in(client, user):
    sign_in(client, user)
    return client


def dashboard_url(facility, suffix=""):
    return f"/dashboard/{facility.code}/{suffix}"


def make_reconciler_stale(since):
    ReconcilerState.objects.update(last_pass_at=since)
    Facility.objects.update(created_at=since)


# --- What the supervisor sees -------------------------------------------------


def test_dashboard_is_spanish_by_default(client, w):
    response = signed_in(client, w.sup).get(dashboard_url(w.facility))
    assert response.status_code == 200
    html = page(response)
    assert '<html lang="es">' in html
    assert "Conteo" in html and "Asumir" in html and "Resolver" in html
    assert "Headcount" not in html and "Acknowledge" not in html


@pytest.mark.parametrize("how", ["cookie", "accept-language"])
def test_dashboard_is_english_when_asked(client, w, how):
    signed_in(client, w.sup)
    if how == "cookie":
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
        response = client.get(dashboard_url(w.facility))
    else:
        response = client.get(dashboard_url(w.facility), HTTP_ACCEPT_LANGUAGE="en")
    html = page(response)
    assert '<html lang="en">' in html
    assert "Headcount" in html and "Acknowledge" in html and "Missed check-in" in html
    assert "Conteo" not in html and "Asumir" not in html


def test_live_panel_lists_open_alerts_most_severe_first_with_the_person(client, w):
    html = page(signed_in(client, w.sup).get(dashboard_url(w.facility, "live/"), **HTMX))
    severities = re.findall(r'data-severity="(\w+)"', html)
    assert severities == ["critical", "critical", "high", "medium"]
    kinds = re.findall(r'<strong class="kind">([^<]+)</strong>', html)
    # Unit A's only reader went quiet with people in it: the silenced unit
    # comes first, above the other critical alert.
    assert kinds == [
        "Sector en silencio",
        "Traslado vencido",
        "Control de presencia omitido",
        "Dispositivo sin conexión",
    ]
    ana = open_alert(AlertKind.MISSED_CHECKIN)
    assert ana.inmate == w.ana
    card = html[html.index(f'id="alert-{ana.pk}"') :]
    card = card[: card.index("</article>")]
    assert "GT-1" in card and "Ana López" in card
    assert '<div class="photo" aria-hidden="true">AL</div>' in card  # initials, no image
    assert "A-01" in card
    assert "nunca" in card  # Ana was never seen after admission
    assert "hace 0\xa0minutos" in card  # opened by the pass at NOW
    assert "nivel 0" in card and "Abierta" in card
    assert "<html" not in html  # a fragment, not a page


def test_live_panel_shows_the_headcount_per_unit(client, w):
    html = page(signed_in(client, w.sup).get(dashboard_url(w.facility, "live/"), **HTMX))
    rows = re.findall(
        r'<tr>\s*<th scope="row">([^<]+)</th>\s*'
        r'<td class="num">(\d+)</td>\s*<td class="num">(\d+)</td>\s*'
        r'<td class="num">(\d+)</td>\s*<td class="num( unaccounted)?">(\d+)</td>',
        html,
    )
    # A: Ana overdue (unaccounted), Carla seen 20 minutes ago (present);
    # Berta is in transit, on neither facility's count.
    assert rows == [
        ("A", "2", "1", "0", " unaccounted", "1"),
        ("Total", "2", "1", "0", " unaccounted", "1"),
    ]
    assert "1 persona en traslado" in html
    assert "Actualizado el" in html


def test_times_are_shown_in_the_facility_time_zone(client, w):
    Facility.objects.filter(pk=w.facility.pk).update(timezone="Asia/Tokyo")
    html = page(signed_in(client, w.sup).get(dashboard_url(w.facility, "live/"), **HTMX))
    assert "Asia/Tokyo" in html
    as_of = timezone.localtime(NOW, timezone=zoneinfo.ZoneInfo("Asia/Tokyo"))
    assert f'<time datetime="{as_of.isoformat()}">' in html


# --- Acting on alerts --------------------------------------------------------


def test_supervisor_acknowledges_then_resolves_with_a_written_reason(client, w):
    signed_in(client, w.sup)
    alert = open_alert(AlertKind.MISSED_CHECKIN)

    response = client.post(f"/dashboard/alerts/{alert.pk}/acknowledge/", **HTMX)
    assert response.status_code == 200
    alert.refresh_from_db()
    assert alert.status == AlertStatus.ACKNOWLEDGED and alert.acknowledged_by == w.sup
    assert "Asumida por sup" in page(response)
    assert "Alerta asumida" in page(response)

    response = client.post(
        f"/dashboard/alerts/{alert.pk}/resolve/",
        {"resolution": "Encontrada en el taller, escáner averiado."},
        **HTMX,
    )
    assert response.status_code == 200
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED and alert.resolved_by == w.sup
    assert alert.resolution == "Encontrada en el taller, escáner averiado."
    assert f'id="alert-{alert.pk}"' not in page(response)


def test_a_supervisor_can_declare_the_person_missing_while_resolving(client, w):
    from custody.models import Inmate, LedgerEvent

    signed_in(client, w.sup)
    alert = open_alert(AlertKind.MISSED_CHECKIN)
    live = page(client.get(dashboard_url(w.facility, "live/"), **HTMX))
    assert f'id="declare-{alert.pk}"' in live and "búsqueda en curso" in live
    response = client.post(
        f"/dashboard/alerts/{alert.pk}/resolve/",
        {"resolution": "No aparece en el sector A; se inicia la búsqueda.", "declare": "missing"},
        **HTMX,
    )
    assert response.status_code == 200
    assert Inmate.objects.get(pk=alert.inmate_id).status == "missing"
    assert LedgerEvent.objects.filter(action="inmate.declared_missing").count() == 1


def test_without_javascript_the_buttons_post_and_come_back_to_the_dashboard(client, w):
    signed_in(client, w.sup)
    alert = open_alert(AlertKind.OVERDUE_TRANSFER)
    response = client.post(f"/dashboard/alerts/{alert.pk}/acknowledge/")
    assert response.status_code == 302
    assert response["Location"] == dashboard_url(w.facility)
    html = page(client.get(response["Location"]))
    assert "Alerta asumida" in html  # the message survives the redirect once


def test_a_resolution_without_text_is_refused_and_changes_nothing(client, w):
    signed_in(client, w.sup)
    alert = open_alert(AlertKind.OVERDUE_TRANSFER)
    for text in ("", "   ", "ok"):
        response = client.post(
            f"/dashboard/alerts/{alert.pk}/resolve/", {"resolution": text}, **HTMX
        )
        assert response.status_code == 400
        html = page(response)
        assert "Escriba lo que pasó" in html
        # The panel keeps the form open with what was typed.
        assert re.search(r'<details class="resolve" open>\s*<summary', html)
        assert re.search(rf'id="resolution-{alert.pk}"[^>]*>{re.escape(text)}</textarea>', html)
    alert.refresh_from_db()
    assert alert.status == AlertStatus.OPEN and alert.resolution == ""

    # Without JavaScript: the whole page, with the error, same status.
    response = client.post(f"/dashboard/alerts/{alert.pk}/resolve/", {"resolution": "ok"})
    assert response.status_code == 400 and "Escriba lo que pasó" in page(response)
    assert "<html" in page(response)


def test_acting_twice_answers_409_with_who_was_first(client, w):
    signed_in(client, w.sup)
    alert = open_alert(AlertKind.OVERDUE_TRANSFER)
    assert client.post(f"/dashboard/alerts/{alert.pk}/acknowledge/", **HTMX).status_code == 200
    response = client.post(f"/dashboard/alerts/{alert.pk}/acknowledge/", **HTMX)
    assert response.status_code == 409
    assert "sup" in page(response) and "flash-error" in page(response)


@pytest.mark.parametrize("role", ["guard", "auditor"])
def test_guards_and_auditors_see_the_dashboard_without_buttons_and_cannot_post(
    client, w, make_user, role
):
    user = make_user(role, w.facility)
    signed_in(client, user)
    html = page(client.get(dashboard_url(w.facility)))
    assert "GT-1" in html
    assert "/acknowledge/" not in html and "/resolve/" not in html
    alert = open_alert(AlertKind.OVERDUE_TRANSFER)
    response = client.post(f"/dashboard/alerts/{alert.pk}/acknowledge/", **HTMX)
    assert response.status_code == 403
    response = client.post(
        f"/dashboard/alerts/{alert.pk}/resolve/", {"resolution": "Me lo dijeron por radio."}
    )
    assert response.status_code == 403
    alert.refresh_from_db()
    assert alert.status == AlertStatus.OPEN


def test_another_facility_is_not_found(client, w, make_user):
    outsider = make_user("supervisor", w.other)
    signed_in(client, outsider)
    alert = open_alert(AlertKind.OVERDUE_TRANSFER)
    assert client.get(dashboard_url(w.facility)).status_code == 404
    assert client.get(dashboard_url(w.facility, "live/"), **HTMX).status_code == 404
    assert client.post(f"/dashboard/alerts/{alert.pk}/acknowledge/", **HTMX).status_code == 404
    assert (
        client.post(
            f"/dashboard/alerts/{alert.pk}/resolve/", {"resolution": "No es mi centro, pero."}
        ).status_code
        == 404
    )
    alert.refresh_from_db()
    assert alert.status == AlertStatus.OPEN


def test_dashboard_needs_a_sign_in_and_csrf(client, w):
    response = client.get(dashboard_url(w.facility))
    assert response.status_code == 302 and "/login/" in response["Location"]
    # An expired session in the middle of polling sends the whole page to sign in.
    response = client.get(dashboard_url(w.facility, "live/"), **HTMX)
    assert response.status_code == 401
    assert response["HX-Redirect"].startswith("/login/?next=/dashboard/")

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(w.sup)
    alert = open_alert(AlertKind.OVERDUE_TRANSFER)
    assert strict.post(f"/dashboard/alerts/{alert.pk}/acknowledge/", **HTMX).status_code == 403
    html = page(strict.get(dashboard_url(w.facility)))
    token = re.search(r'"X-CSRFToken": "([^"]+)"', html).group(1)
    response = strict.post(
        f"/dashboard/alerts/{alert.pk}/acknowledge/", HTTP_X_CSRFTOKEN=token, **HTMX
    )
    assert response.status_code == 200


def test_dashboard_index_goes_to_my_only_facility_or_lets_me_choose(client, w, make_user):
    signed_in(client, w.sup)
    response = client.get("/dashboard/")
    assert response.status_code == 302 and response["Location"] == dashboard_url(w.facility)

    signed_in(client, make_user("supervisor", w.facility, w.other))
    html = page(client.get("/dashboard/"))
    assert dashboard_url(w.facility) in html and dashboard_url(w.other) in html


def test_home_and_every_page_link_to_the_dashboard(client, w):
    html = page(signed_in(client, w.sup).get("/"))
    assert 'href="/dashboard/"' in html
    assert f'href="{dashboard_url(w.facility)}"' in html


# --- Live refresh, offline-safe -------------------------------------------------


def test_the_panel_polls_every_five_seconds_with_local_htmx_only(client, w):
    html = page(signed_in(client, w.sup).get(dashboard_url(w.facility)))
    live = re.search(r'<div id="live"[^>]*>', html).group(0)
    assert f'hx-get="{dashboard_url(w.facility, "live/")}"' in live
    assert 'hx-trigger="load, every 5s"' in live and 'hx-swap="innerHTML"' in live
    sources = re.findall(r'<script[^>]*\bsrc="([^"]+)"', html)
    styles = re.findall(r'<link[^>]*\bhref="([^"]+)"', html)
    assert sources == [
        "/static/custody/page.js",  # every page's (base.html)
        "/static/alerts/htmx.min.js",
        "/static/alerts/dashboard.js",
    ]
    for url in sources + styles:
        assert not re.match(r"^(https?:)?//", url), url
        assert client.get(url).status_code == 200, url
    assert not re.search(r"""(src|href)=["'](https?:)?//""", html)
    # Every action targets the panel and keeps its CSRF token.
    for form in re.findall(r"<form[^>]*hx-post[^>]*>\s*<input[^>]*>", html):
        assert 'hx-target="#live"' in form and "csrfmiddlewaretoken" in form


def test_the_vendored_htmx_is_2_0_4():
    js = (Path(settings.BASE_DIR) / "alerts" / "static" / "alerts" / "htmx.min.js").read_text()
    assert 'version:"2.0.4"' in js.replace(" ", "")


# dashboard.js against a stand-in DOM: just what the script touches.
POLL_HARNESS = """
const fs = require("fs");
const listeners = {};
let now = 1000000;
Date.now = () => now;
const dom = { open: [], byId: {} };
global.document = {
  addEventListener: (name, fn) => { (listeners[name] = listeners[name] || []).push(fn); },
  querySelectorAll: (sel) => (sel === "#live details.resolve[open]" ? dom.open : []),
  getElementById: (id) => dom.byId[id] || null,
};
eval(fs.readFileSync(process.argv[1], "utf8"));
const live = { id: "live" };
const polling = { verb: "get", headers: { "HX-Trigger": "live" } };
const posting = { verb: "post", headers: {} };
function fire(name, detail) {
  const ev = { detail: Object.assign({ shouldSwap: true }, detail), prevented: false,
               target: detail.domTarget, preventDefault() { this.prevented = true; } };
  (listeners[name] || []).forEach((fn) => fn(ev));
  return ev;
}
const poll = () => fire("htmx:beforeRequest", { elt: live, requestConfig: polling }).prevented;
// On swap events htmx sets detail.elt to the target, for polls and posts alike.
const swaps = (config) =>
  fire("htmx:beforeSwap", { elt: live, target: live, requestConfig: config }).detail.shouldSwap;
function panel(text, open) {
  const textarea = { value: text };
  const details = { open, querySelector: () => textarea, closest: () => card };
  const card = { id: "alert-7", querySelector: () => details };
  return { details, textarea, card };
}
const out = {};
out.idlePollSent = !poll();
// The supervisor opens "Resolve" and types.
const old = panel("Encontrada en el taller", true);
dom.open = [old.details];
fire("pointerdown", { domTarget: { closest: () => live } });
out.writingPollSent = !poll();
out.writingPollSwapped = swaps(polling);
out.writingPostSent = !fire("htmx:beforeRequest", { elt: {}, requestConfig: posting }).prevented;
out.writingPostSwapped = swaps(posting);
// A minute without touching it: the poll comes back, the draft survives it.
now += 61 * 1000;
out.idleAgainPollSent = !poll();
out.idleAgainPollSwapped = swaps(polling);
const fresh = panel("", false);
dom.byId["alert-7"] = fresh.card;
fire("htmx:afterSwap", { elt: live, target: live });
out.draftBack = fresh.details.open && fresh.textarea.value === "Encontrada en el taller";
console.log(JSON.stringify(out));
"""


@pytest.mark.skipif(not shutil.which("node"), reason="needs node to run the dashboard script")
def test_the_poll_pauses_while_a_resolution_is_being_written():
    """An open, recently touched "Resolve" panel stops the poll from asking
    and from swapping (a form post still goes through); left idle a minute,
    the poll resumes and puts the draft back."""
    script = Path(settings.BASE_DIR) / "alerts" / "static" / "alerts" / "dashboard.js"
    result = subprocess.run(
        ["node", "-e", POLL_HARNESS, str(script)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "idlePollSent": True,
        "writingPollSent": False,
        "writingPollSwapped": False,
        "writingPostSent": True,
        "writingPostSwapped": True,
        "idleAgainPollSent": True,
        "idleAgainPollSwapped": True,
        "draftBack": True,
    }


def test_live_panel_costs_the_same_queries_for_3_or_30_alerts(client, facility, make_user):
    with time_machine.travel(T0, tick=False):
        cell = factories.CellFactory(facility=facility)
        for _ in range(3):
            factories.InmateFactory(facility=facility, cell=cell, admitted_at=T0)
    reconcile(facility, NOW)
    signed_in(client, make_user("supervisor", facility))
    url = dashboard_url(facility, "live/")

    def queries():
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url, **HTMX)
        assert response.status_code == 200
        return len(ctx), len(re.findall(r'class="card alert-card', page(response)))

    few, shown = queries()
    assert shown == 3
    with time_machine.travel(T0, tick=False):
        for _ in range(27):
            factories.InmateFactory(facility=facility, cell=cell, admitted_at=T0)
    reconcile(facility, NOW + timedelta(seconds=1))
    many, shown = queries()
    assert shown == 30
    assert many == few, f"{few} queries for 3 alerts, {many} for 30"
    assert few <= 11  # 10, and the overcrowding warning (custody.selectors.roll.crowding_now)


# --- The red banner (invariant 8) -------------------------------------------------


def test_a_stale_reconciler_puts_a_red_banner_on_every_page(client, w):
    make_reconciler_stale(NOW - timedelta(minutes=10))
    assert not reconciler_health().ok  # /healthz agrees

    signed_in(client, w.sup)
    for url in ("/", "/dashboard/", dashboard_url(w.facility)):
        response = client.get(url, follow=True)
        html = page(response)
        assert 'class="banner-danger" role="alert"' in html, url
        assert "La reconciliación está detenida desde" in html
        assert "las alertas no se están generando" in html
    # The panel carries the banner out of band, so it appears without a reload.
    live = page(client.get(dashboard_url(w.facility, "live/"), **HTMX))
    assert re.search(
        r'<div id="reconciler-banner" hx-swap-oob="true">\s*<div class="banner-danger"', live
    )


def test_a_facility_never_reconciled_counts_from_its_creation(client, w, make_user):
    ReconcilerState.objects.update(last_pass_at=NOW)
    Facility.objects.filter(pk=w.other.pk).update(created_at=NOW - timedelta(minutes=5))
    assert not ReconcilerState.objects.filter(facility=w.other).exists()
    assert not reconciler_health().ok
    html = page(signed_in(client, w.sup).get("/"))
    assert 'class="banner-danger"' in html


def test_a_fresh_reconciler_shows_no_banner(client, w):
    ReconcilerState.objects.update(last_pass_at=NOW - timedelta(seconds=20))
    assert reconciler_health().ok
    signed_in(client, w.sup)
    for url in ("/", dashboard_url(w.facility)):
        html = page(client.get(url))
        assert 'id="reconciler-banner"' in html and 'class="banner-danger"' not in html
    live = page(client.get(dashboard_url(w.facility, "live/"), **HTMX))
    # Still swapped, now empty: a banner shown earlier goes away without a reload.
    assert re.search(r'<div id="reconciler-banner" hx-swap-oob="true">\s*</div>', live)


def test_the_admin_shows_the_banner_too(client, w):
    make_reconciler_stale(NOW - timedelta(minutes=10))
    root = User.objects.create_superuser("root", "root@example.org", "a-long-root-pass-2026")
    sign_in(client, root)
    html = page(client.get("/admin/"))
    assert 'class="banner-danger" role="alert"' in html


def test_the_banner_costs_one_query_and_shows_before_sign_in_too(
    client, w, django_assert_num_queries
):
    make_reconciler_stale(NOW - timedelta(minutes=10))
    with django_assert_num_queries(1):  # a guard starting a shift sees it first
        assert 'class="banner-danger"' in page(client.get("/login/"))
    signed_in(client, w.sup)
    client.get("/")  # warm the role and time zone look-ups of the session
    with CaptureQueriesContext(connection) as ctx:
        assert 'class="banner-danger"' in page(client.get("/"))
    assert sum("reconcilerstate" in q["sql"] for q in ctx.captured_queries) == 1


def test_an_undelivered_notification_is_shown_on_the_alert(client, w):
    from alerts.models import Notification, NotificationChannel

    alert = open_alert(AlertKind.MISSED_CHECKIN)
    channel = NotificationChannel.objects.create(
        facility=w.facility, name="Radio", kind="webhook", target="http://127.0.0.1:1/"
    )
    live = page(signed_in(client, w.sup).get(dashboard_url(w.facility, "live/"), **HTMX))
    assert "no se pudo entregar" not in live
    Notification.objects.create(
        alert=alert,
        channel=channel,
        event="opened",
        level=0,
        status="failed",
        attempts=10,
        created_at=NOW,
        next_attempt_at=NOW,
        last_error="HTTP 410",
    )
    live = page(client.get(dashboard_url(w.facility, "live/"), **HTMX))
    assert "1 aviso no se pudo entregar" in live
