"""The tablet count pages (/counts/): pick a unit, start or join, the count
screen, the page-only marks (no JavaScript), submit, recount and verify.

Most tests read the pages in English (the language cookie) so that they do
not depend on the Spanish catalogue; one checks that Spanish is the default.
"""

import json
import re
import uuid
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from custody import services
from custody.models import CountCall, CountVerification, RollCall, RollCallEntry
from custody.services import rollcalls
from tests import factories
from tests.rollcall_world import count_world, entry
from tests.second_factor import sign_in

pytestmark = pytest.mark.django_db

# counts.js puts a count's id in place of this one.
ANY_COUNT = "00000000-0000-0000-0000-000000000000"


@pytest.fixture
def w(facility, make_user):
    return count_world(facility, make_user)


def page(response) -> str:
    return response.content.decode()


def as_user(client, user, *, language="en"):
    sign_in(client, user)
    if language:
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    return client


def start_count(client, unit, kind="formal", **extra):
    return client.post("/counts/start/", {"unit": unit.pk, "kind": kind, **extra})


def begin(w, user_name="guard") -> RollCall:
    rollcall, _created = rollcalls.rollcall_start(
        location=w.unit, kind="formal", by=w.users[user_name]
    )
    return rollcall


def mark(rollcall, user, bookings, status="present"):
    results = rollcalls.rollcall_record_entries(
        rollcall=rollcall, raw_entries=[entry(b, status) for b in bookings], by=user
    )
    assert {r.status for r in results} == {"accepted"}


def unit_card(html: str, code: str) -> str:
    start = html.index(f'data-unit="{code}"')
    return html[start : html.index("</li>", html.index('class="unit-actions"', start))]


# --- Pick a unit ---------------------------------------------------------------------


def test_board_lists_every_counting_unit_with_start_buttons(client, w):
    html = page(as_user(client, w.users["guard"]).get("/counts/"))
    unit = unit_card(html, "B")
    assert "6 people" in unit
    assert "Never counted" in unit
    assert 'name="kind" value="formal"' in unit and 'name="kind" value="informal"' in unit
    assert 'value="emergency"' not in unit  # no emergency call open
    assert "1 person" in unit_card(html, "BX")
    # The facility's clock, ticked by counts.js from the server's time.
    assert 'data-offset-minutes="-360"' in html and "America/Guatemala" in html


def test_board_shows_the_count_in_progress_the_last_result_and_what_awaits_verification(client, w):
    earlier = begin(w)
    mark(earlier, w.users["guard"], [p["booking_number"] for p in w.people[:5]])
    rollcalls.rollcall_submit(rollcall=earlier, by=w.users["guard"])
    running = begin(w, "guard2")
    html = page(as_user(client, w.users["supervisor"]).get("/counts/"))
    unit = unit_card(html, "B")
    assert f'href="/counts/{running.pk}/"' in unit and "Join the count" in unit
    assert "Count in progress since" in unit and w.users["guard2"].username in unit
    assert "not cleared" in unit and "ago" in unit
    assert 'name="kind"' not in unit  # join, not start a second
    awaiting = html[html.index('id="awaiting-title"') :]
    assert f'href="/counts/{earlier.pk}/"' in awaiting and "1 unaccounted" in awaiting


def test_board_offers_an_emergency_count_while_a_call_is_open(client, w):
    CountCall.objects.create(
        facility=w.facility,
        called_at=timezone.now(),
        called_by=w.users["supervisor"],
        reason="Disturbance in unit B",
    )
    html = page(as_user(client, w.users["guard"]).get("/counts/"))
    assert "Emergency count called at" in html and "Disturbance in unit B" in html
    assert 'name="kind" value="emergency"' in unit_card(html, "B")


def test_auditor_sees_the_board_read_only_and_cannot_start(client, w):
    running = begin(w)
    client = as_user(client, w.users["auditor"])
    html = page(client.get("/counts/"))
    assert "You may look at counts but not take them." in html
    assert 'action="/counts/start/"' not in html
    assert f'href="/counts/{running.pk}/"' in unit_card(html, "B")
    response = start_count(client, w.other_unit)
    assert response.status_code == 403
    # Refused before the view runs: auditors change nothing anywhere.
    assert "Your role reads the record; it changes nothing." in page(response)
    assert not RollCall.objects.filter(location=w.other_unit).exists()


def test_signed_out_people_are_sent_to_sign_in(client, w):
    response = client.get("/counts/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


# --- Start and join ------------------------------------------------------------------


def test_start_redirects_to_the_new_count(client, w):
    response = start_count(as_user(client, w.users["guard"]), w.unit)
    rollcall = RollCall.objects.get(location=w.unit)
    assert response.status_code == 302
    assert response["Location"] == f"/counts/{rollcall.pk}/"
    assert rollcall.status == "in_progress" and rollcall.kind == "formal"
    assert rollcall.started_by == w.users["guard"] and rollcall.expected_count == 6


def test_the_same_start_form_posted_twice_is_one_count(client, w):
    client = as_user(client, w.users["guard"])
    form_id = str(uuid.uuid4())
    first = start_count(client, w.unit, rollcall_id=form_id)
    second = start_count(client, w.unit, rollcall_id=form_id)
    assert first["Location"] == second["Location"] == f"/counts/{form_id}/"
    assert RollCall.objects.filter(location=w.unit).count() == 1


def test_starting_a_unit_already_being_counted_joins_that_count(client, w):
    running = begin(w, "guard2")
    client = as_user(client, w.users["guard"])
    response = start_count(client, w.unit)
    assert response.status_code == 302
    assert response["Location"] == f"/counts/{running.pk}/"
    assert RollCall.objects.filter(location=w.unit).count() == 1
    html = page(client.get(response["Location"]))
    assert "A count of B was already in progress: you have joined it." in html


def test_a_unit_of_another_facility_is_not_found(client, w, other_facility):
    stranger = factories.CellFactory(facility=other_facility, code="Z-01").parent
    response = start_count(as_user(client, w.users["guard"]), stranger)
    assert response.status_code == 404
    assert not RollCall.objects.exists()


def test_a_bad_start_form_is_refused_on_the_board(client, w):
    response = as_user(client, w.users["guard"]).post("/counts/start/", {"unit": "B"})
    assert response.status_code == 400
    assert "Choose a unit and a kind of count." in page(response)


# --- The count screen ----------------------------------------------------------------


def test_count_screen_shows_the_roster_as_tiles_and_the_facility_clock(client, w):
    rollcall = begin(w)
    html = page(as_user(client, w.users["guard"]).get(f"/counts/{rollcall.pk}/"))
    tiles = re.findall(r'<li class="tile[^"]*" id="tile-([^"]+)"', html)
    assert sorted(tiles) == sorted(p["booking_number"] for p in w.people)
    first = w.people[0]["inmate"]
    tile = html[html.index(f'id="tile-{first.booking_number}"') :]
    tile = tile[: tile.index("</li>")]
    assert f"{first.first_name} {first.last_name}" in tile
    assert f"Cell {first.cell.code}" in tile
    assert f">{(first.first_name[0] + first.last_name.split()[-1][0]).upper()}</span>" in tile
    assert 'value="present"' in tile and "Mark absent" in tile
    assert 'id="tally-left">6<' in html
    assert 'id="scan-input"' in html and 'id="submit-button"' in html
    assert 'data-offset-minutes="-360"' in html and 'class="clock"' in html
    # What counts.js needs: the API's URLs and its own strings.
    assert f'data-entries-url-template="/api/v1/rollcalls/{ANY_COUNT}/entries/"' in html
    assert f'data-submit-url="/api/v1/rollcalls/{rollcall.pk}/submit/"' in html
    strings = json.loads(re.search(r'id="count-strings"[^>]*>(.*?)</script>', html).group(1))
    assert strings["pending"] == {
        "one": "%(n)s mark waiting to send",
        "other": "%(n)s marks waiting to send",
    }


def test_people_out_on_an_authorised_movement_are_shown_apart_with_where(client, w):
    inmate = w.people[0]["inmate"]
    movement = services.movement_request(
        inmate=inmate,
        kind="court",
        by=w.users["supervisor"],
        destination="Juzgado de Mixco",
        expected_back_at=timezone.now() + timedelta(hours=4),
    )
    services.movement_approve(movement=movement, by=w.users["admin"])
    services.movement_depart(movement=movement, by=w.users["supervisor"])
    rollcall = begin(w)
    html = page(as_user(client, w.users["guard"]).get(f"/counts/{rollcall.pk}/"))
    out = html[html.index('id="out-title"') :]
    assert f'id="tile-{inmate.booking_number}"' in out
    assert "Juzgado de Mixco" in out
    inside = html[html.index('id="roster-title"') : html.index('id="out-title"')]
    assert inmate.booking_number not in inside
    assert 'id="tally-left">5<' in html and 'id="tally-out">1<' in html


def test_marks_already_made_show_on_the_tiles(client, w):
    rollcall = begin(w)
    mark(rollcall, w.users["guard"], [w.booking(0)])
    mark(rollcall, w.users["guard"], [w.booking(1)], "absent")
    html = page(as_user(client, w.users["guard2"]).get(f"/counts/{rollcall.pk}/"))
    assert f'class="tile mark-present" id="tile-{w.booking(0)}"' in html
    assert f'class="tile mark-absent" id="tile-{w.booking(1)}"' in html
    assert 'id="tally-left">4<' in html and 'id="tally-present">1<' in html
    left = html[html.index('id="left-list"') : html.index('id="left-none"')]
    assert w.booking(0) not in left and w.booking(2) in left


def test_auditor_sees_the_count_without_any_control(client, w):
    rollcall = begin(w)
    client = as_user(client, w.users["auditor"])
    html = page(client.get(f"/counts/{rollcall.pk}/"))
    assert f'id="tile-{w.booking(0)}"' in html
    assert 'class="tile-form"' not in html and 'id="scan-form"' not in html
    assert 'id="submit-button"' not in html and 'data-may-mark="0"' in html
    response = client.post(
        f"/counts/{rollcall.pk}/mark/",
        {"entry_id": str(uuid.uuid4()), "inmate": w.booking(0), "status": "present"},
    )
    assert response.status_code == 403
    assert not RollCallEntry.objects.exists()


def test_a_count_of_another_facility_is_not_found(client, w, other_facility, make_user):
    rollcall = begin(w)
    stranger = make_user("guard", other_facility)
    client = as_user(client, stranger)
    assert client.get(f"/counts/{rollcall.pk}/").status_code == 404
    assert client.post(f"/counts/{rollcall.pk}/submit/").status_code == 404
    assert client.post(f"/counts/{rollcall.pk}/verify/").status_code == 404


def test_spanish_by_default(client, w):
    rollcall = begin(w)
    client = as_user(client, w.users["guard"], language=None)
    for url in ("/counts/", f"/counts/{rollcall.pk}/"):
        html = page(client.get(url))
        assert '<html lang="es">' in html
        assert "Cerrar sesión" in html and "Sign out" not in html
    assert "Celda" in html and "Esperados" in html


def test_english_with_the_language_cookie(client, w):
    rollcall = begin(w)
    client = as_user(client, w.users["guard"], language="en")
    html = page(client.get(f"/counts/{rollcall.pk}/"))
    assert '<html lang="en">' in html
    assert "Left to count" in html and "Submit count" in html and "Cell " in html
    assert "Cerrar sesión" not in html
    assert "Start formal count" in page(client.get("/counts/"))


# --- Marks without JavaScript ------------------------------------------------------


def test_a_tile_posted_without_javascript_records_one_mark(client, w):
    rollcall = begin(w)
    client = as_user(client, w.users["guard"])
    form = {"entry_id": str(uuid.uuid4()), "inmate": w.booking(2), "status": "present"}
    response = client.post(f"/counts/{rollcall.pk}/mark/", form)
    assert response.status_code == 302
    assert response["Location"] == f"/counts/{rollcall.pk}/#tile-{w.booking(2)}"
    again = client.post(f"/counts/{rollcall.pk}/mark/", form)  # the browser posts it again
    assert again.status_code == 302
    stored = RollCallEntry.objects.get(rollcall=rollcall)
    assert (stored.inmate.booking_number, stored.status, stored.method) == (
        w.booking(2),
        "present",
        "visual",
    )


def test_the_scan_box_marks_present_as_typed_and_refuses_a_stranger(client, w):
    rollcall = begin(w)
    client = as_user(client, w.users["guard"])
    url = f"/counts/{rollcall.pk}/mark/"
    # Without JavaScript a scan cannot be told from typing: the box says manual.
    assert 'name="method" value="manual"' in page(client.get(f"/counts/{rollcall.pk}/"))
    scan = {"entry_id": str(uuid.uuid4()), "status": "present", "method": "manual"}
    assert client.post(url, {**scan, "inmate": w.booking(3)}).status_code == 302
    assert RollCallEntry.objects.get(rollcall=rollcall).method == "manual"
    refused = client.post(url, {**scan, "entry_id": str(uuid.uuid4()), "inmate": "GT-NOBODY"})
    assert refused.status_code == 400
    assert "GT-NOBODY is not on this count&#x27;s roster." in page(refused)
    assert RollCallEntry.objects.filter(rollcall=rollcall).count() == 1


# --- Submit, recount, verify -----------------------------------------------------------


def test_submit_with_everyone_present_shows_the_count_cleared(client, w):
    rollcall = begin(w)
    mark(rollcall, w.users["guard"], [p["booking_number"] for p in w.people])
    client = as_user(client, w.users["guard"])
    response = client.post(f"/counts/{rollcall.pk}/submit/")
    assert response.status_code == 302
    html = page(client.get(response["Location"]))
    assert "Count submitted." in html
    assert 'class="card result cleared"' in html and "Count cleared" in html
    assert "All 6 accounted for: 6 present" in html
    assert 'id="recount-button"' not in html
    # Not offered to the officer who counted; offered to a second officer.
    assert 'id="verify-button"' not in html
    assert 'id="submit-button"' not in html and 'id="scan-form"' not in html
    client.logout()
    second = as_user(client, w.users["guard2"])
    assert 'id="verify-button"' in page(second.get(f"/counts/{rollcall.pk}/"))


def test_a_discrepancy_lists_who_is_unaccounted_and_offers_a_recount(client, w):
    rollcall = begin(w)
    mark(rollcall, w.users["guard"], [p["booking_number"] for p in w.people[:4]])
    mark(rollcall, w.users["guard"], [w.booking(4)], "absent")
    client = as_user(client, w.users["guard"])
    html = page(client.get(client.post(f"/counts/{rollcall.pk}/submit/")["Location"]))
    assert 'class="card result discrepancy"' in html and "2 people unaccounted" in html
    table = html[html.index('class="unaccounted"') : html.index("</table>")]
    assert w.booking(4) in table and w.booking(5) in table and w.booking(0) not in table
    assert "Absent" in table and "Not counted" in table
    assert 'id="recount-button"' in html

    recount_id = re.search(r'name="rollcall_id" value="([^"]+)"', html).group(1)
    response = start_count(client, w.unit, recount_of=rollcall.pk, rollcall_id=recount_id)
    recount = RollCall.objects.get(pk=recount_id)
    assert response["Location"] == f"/counts/{recount.pk}/"
    assert recount.recount_of == rollcall and recount.status == "in_progress"
    assert "Recount" in page(client.get(response["Location"]))


def test_submitting_twice_says_so_on_the_count_screen(client, w):
    rollcall = begin(w)
    client = as_user(client, w.users["guard"])
    client.post(f"/counts/{rollcall.pk}/submit/")
    response = client.post(f"/counts/{rollcall.pk}/submit/")
    assert response.status_code == 409
    assert "it cannot be submitted" in page(response)


def test_verify_is_refused_for_the_counter_and_done_by_a_second_officer(client, w):
    rollcall = begin(w)
    mark(rollcall, w.users["guard"], [p["booking_number"] for p in w.people])
    rollcalls.rollcall_submit(rollcall=rollcall, by=w.users["guard"])

    refused = as_user(client, w.users["guard"]).post(f"/counts/{rollcall.pk}/verify/")
    assert refused.status_code == 403
    html = page(refused)
    assert "You took part in this count; a second officer must verify it." in html
    assert 'class="card result cleared"' in html  # the refusal on the count, not a bare 403
    rollcall.refresh_from_db()
    assert rollcall.status == "submitted"

    client.logout()
    second = as_user(client, w.users["guard2"])
    drawn = second.post(f"/counts/{rollcall.pk}/verify/")
    assert drawn.status_code == 302 and drawn["Location"].endswith("/recount/")
    for row in CountVerification.objects.get(rollcall=rollcall).sample:
        second.post(
            f"/counts/{rollcall.pk}/recount/mark/", {"inmate": row["inmate"], "status": "present"}
        )
    response = second.post(f"/counts/{rollcall.pk}/recount/finish/")
    assert response.status_code == 302
    rollcall.refresh_from_db()
    assert rollcall.status == "verified" and rollcall.verified_by == w.users["guard2"]
    html = page(second.get(response["Location"]))
    assert "Count verified: thank you." in html
    assert f"Verified by {w.users['guard2'].username}" in html
    assert 'id="verify-button"' not in html


def test_a_count_started_by_mistake_is_cancelled_with_a_reason(client, w):
    rollcall = begin(w)
    mark(rollcall, w.users["guard"], [w.booking(0)])
    helper = as_user(client, w.users["guard2"])
    assert "Cancel this count" not in page(helper.get(f"/counts/{rollcall.pk}/"))
    refused = helper.post(f"/counts/{rollcall.pk}/cancel/", {"reason": "No es mi conteo."})
    assert refused.status_code == 403  # neither its starter nor a supervisor
    client.logout()
    starter = as_user(client, w.users["guard"])
    assert "Cancel this count" in page(starter.get(f"/counts/{rollcall.pk}/"))
    short = starter.post(f"/counts/{rollcall.pk}/cancel/", {"reason": "error"})
    assert short.status_code == 400
    assert "at least 10 characters" in page(short)
    done = starter.post(
        f"/counts/{rollcall.pk}/cancel/", {"reason": "Sector equivocado en la tableta."}
    )
    assert done.status_code == 302
    rollcall.refresh_from_db()
    assert rollcall.status == "cancelled"
    assert rollcall.entries.count() == 1  # the marks stay in the record
    # The unit can be counted again at once.
    assert start_count(starter, w.unit).status_code == 302
    assert RollCall.objects.filter(location=w.unit, status="in_progress").count() == 1


def test_the_service_worker_is_served_from_the_counts_scope(client, w):
    response = client.get("/counts/sw.js")  # no sign-in: the script holds no data
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
    assert response["Cache-Control"] == "no-cache"
    script = response.content.decode()
    assert "/api/" not in script.split('"use strict";', 1)[1]  # the API is never cached
    html = page(as_user(client, w.users["guard"]).get("/counts/"))
    assert 'data-service-worker="/counts/sw.js"' in html
    assert 'data-service-worker-scope="/counts/"' in html


def test_signing_in_again_drops_the_pages_kept_for_offline_use(client):
    assert "custody/forget-offline-pages.js" in page(client.get("/login/"))


def test_the_schedules_link_is_for_those_who_plan_counts(client, w):
    guard_nav = page(as_user(client, w.users["guard"]).get("/counts/"))
    assert 'href="/counts/schedules/"' not in guard_nav  # more room on a tablet
    client.logout()
    supervisor_nav = page(as_user(client, w.users["supervisor"]).get("/counts/"))
    assert 'href="/counts/schedules/"' in supervisor_nav
