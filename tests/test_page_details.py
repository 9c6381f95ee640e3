"""Details a new user meets on every page: error pages in their language, the
favicon, a sign-in that keeps the username, API 404s in Spanish, readers by
name in the ledger, and the audit overview's default period."""

from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from custody.authentication import DevicePrincipal
from custody.services import ledger_append
from custody.services.ledger import actor_label
from tests import factories

pytestmark = pytest.mark.django_db
ES = {"HTTP_ACCEPT_LANGUAGE": "es"}


def test_a_guard_opening_the_audit_pages_gets_a_page_in_spanish(facility, make_user):
    client = Client()
    client.force_login(make_user("guard", facility))

    response = client.get("/audit/", **ES)

    assert response.status_code == 403
    page = response.content.decode()
    assert "No permitido" in page
    assert "403 Forbidden" not in page
    assert 'href="/"' in page  # a way back, inside the service's own layout


def test_an_unknown_page_is_a_page_of_the_service(facility, make_user):
    client = Client()
    client.force_login(make_user("supervisor", facility))

    response = client.get("/no-such-page/", **ES)

    assert response.status_code == 404
    assert "No encontrado" in response.content.decode()


def test_the_favicon_is_served_and_linked(facility, make_user):
    client = Client()

    icon = client.get("/favicon.ico")
    page = client.get("/login/", **ES)

    assert icon.status_code == 200
    assert b"".join(icon.streaming_content if icon.streaming else [icon.content])[:4] == (
        b"\x00\x00\x01\x00"  # an ICO header
    )
    assert 'rel="icon"' in page.content.decode()


def test_a_wrong_password_keeps_the_username(facility, make_user):
    make_user("guard", facility, username="guardia7")

    response = Client().post("/login/", {"username": "guardia7", "password": "wrong"}, **ES)

    page = response.content.decode()
    assert response.status_code == 200
    assert 'value="guardia7"' in page
    assert "Usuario o contraseña incorrectos" in page or "incorrect" in page.lower()


def test_api_404s_follow_the_callers_language(facility, make_user, api_as):
    client = api_as(make_user("supervisor", facility))

    spanish = client.get("/api/v1/inmates/GT-NOBODY/", **ES)
    english = client.get("/api/v1/inmates/GT-NOBODY/", HTTP_ACCEPT_LANGUAGE="en")

    assert spanish.status_code == english.status_code == 404
    assert spanish.json() == {"detail": "No encontrado."}
    assert english.json() == {"detail": "Not found."}
    assert "Inmate" not in spanish.json()["detail"]


def test_the_ledger_page_names_readers(facility, make_user):
    reader, _key = factories.device(facility, name="Lector puerta B")
    principal = DevicePrincipal(reader)
    ledger_append(facility=facility, actor=principal, action="checkin.accepted", subject="x")
    client = Client()
    client.force_login(make_user("auditor", facility))

    page = client.get(f"/audit/{facility.code}/ledger/", **ES).content.decode()

    assert "Lector puerta B" in page
    assert f">{actor_label(principal)}<" not in page  # the raw label only as a tooltip
    assert f'title="{actor_label(principal)}"' in page


def test_the_overview_starts_at_the_first_record_when_that_is_recent(facility, make_user):
    now = timezone.now()
    factories.AlertFactory(facility=facility, opened_at=now - timedelta(days=2))
    client = Client()
    client.force_login(make_user("auditor", facility))

    with time_machine.travel(now, tick=False):
        recent = client.get(f"/audit/{facility.code}/", **ES).context["period"]
        factories.AlertFactory(facility=facility, opened_at=now - timedelta(days=90))
        older = client.get(f"/audit/{facility.code}/", **ES).context["period"]

    assert len(recent.days) == 3  # the day of the first alert, yesterday, today
    assert older.until - older.since == timedelta(days=30)  # the usual default
