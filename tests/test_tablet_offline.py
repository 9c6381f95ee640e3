"""The tablet's count pages may be reopened offline only while the sign-in
that showed them lasts: the server says how long on each page it lets the
service worker keep (custody/pages/offline.py), and nothing else is kept."""

from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.contrib.sessions.models import Session
from django.utils import timezone

from custody.pages.offline import OFFLINE_HEADER
from custody.services import recounts, rollcalls
from tests.rollcall_world import count_world, entry

pytestmark = pytest.mark.django_db

SW = Path(settings.BASE_DIR) / "custody" / "static" / "custody" / "counts-sw.js"


@pytest.fixture
def w(facility, make_user):
    return count_world(facility, make_user, people=3)


def pages(w):
    rollcall, _ = rollcalls.rollcall_start(location=w.unit, kind="formal", by=w.users["guard"])
    return ["/counts/", f"/counts/{rollcall.pk}/"]


def test_a_count_page_may_be_kept_offline_for_what_is_left_of_the_session(client, w):
    client.force_login(w.users["guard"])
    for path in pages(w):
        response = client.get(path)
        assert response.status_code == 200
        seconds = int(response[OFFLINE_HEADER])
        assert settings.SESSION_COOKIE_AGE - 60 < seconds <= settings.SESSION_COOKIE_AGE
        # Never in the browser's own cache, where no expiry of ours applies.
        assert response["Cache-Control"] == "no-store"


def test_the_time_left_counts_down_with_the_session_not_from_each_page(client, w):
    client.force_login(w.users["guard"])
    path = pages(w)[1]
    with time_machine.travel(timezone.now() + timedelta(hours=11), tick=False):
        seconds = int(client.get(path)[OFFLINE_HEADER])
    assert 3500 < seconds <= 3600  # an hour left of a 12-hour sign-in


def test_an_expired_or_ended_session_leaves_no_page_to_keep(client, w):
    client.force_login(w.users["guard"])
    path = pages(w)[1]
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))
    response = client.get(path)
    assert response.status_code == 302  # to sign in: the worker drops its copies
    assert OFFLINE_HEADER not in response
    client.force_login(w.users["guard"])
    client.post("/logout/")
    response = client.get(path)
    assert response.status_code == 302 and OFFLINE_HEADER not in response


def test_pages_not_meant_for_offline_are_not_marked(client, w):
    client.force_login(w.users["supervisor"])
    for path in ("/counts/schedules/", "/", "/login/"):
        response = client.get(path, follow=True)
        assert OFFLINE_HEADER not in response, path


def test_the_worker_keeps_only_marked_pages_and_serves_them_only_until_then():
    # The browser test exercises it; this pins the rules it must not lose.
    script = SW.read_text()
    assert 'OFFLINE_FOR = "X-Offline-For"' in script
    assert "stillValid(cached)" in script
    assert "opaqueredirect" in script and "forgetPages()" in script


def test_signing_out_anywhere_lands_on_a_page_that_drops_the_copies(client, w, make_user):
    client.force_login(w.users["admin"])
    assert "forget-offline-pages.js" in client.post("/logout/", follow=True).content.decode()
    root = make_user("admin", w.facility, is_staff=True, is_superuser=True)
    client.force_login(root)
    response = client.post("/admin/logout/", follow=True)  # to /login/ as well
    assert "forget-offline-pages.js" in response.content.decode()


def test_the_recount_page_is_kept_like_the_count_screen_without_the_first_marks(client, w):
    rollcall, _ = rollcalls.rollcall_start(location=w.unit, kind="formal", by=w.users["guard"])
    rollcalls.rollcall_record_entries(
        rollcall=rollcall,
        raw_entries=[entry(p["booking_number"]) for p in w.people],
        by=w.users["guard"],
    )
    rollcall = rollcalls.rollcall_submit(rollcall=rollcall, by=w.users["guard"])
    recounts.recount_start(rollcall=rollcall, by=w.users["guard2"])
    client.force_login(w.users["guard2"])
    response = client.get(f"/counts/{rollcall.pk}/recount/", HTTP_ACCEPT_LANGUAGE="en")
    html = response.content.decode()

    assert response.status_code == 200
    assert int(response[OFFLINE_HEADER]) > settings.SESSION_COOKIE_AGE - 60
    assert response["Cache-Control"] == "no-store"
    # recount.js over the shared queue, with where marks go and what to say.
    assert html.index("custody/queue.js") < html.index("custody/recount.js")
    assert f"/api/v1/rollcalls/{rollcall.pk}/verify/" in html
    assert "/recount/entries/" in html and 'id="count-strings"' in html
    assert '"left_to_recount"' in html and '"cannot_finish"' in html
    # Nobody is shown as marked: the first count's marks never reach this page.
    assert 'data-mark=""' in html and 'data-mark="present"' not in html
    assert "Found</p>" not in html
