"""Count schedules and emergency calls: the API (/api/v1/count-schedules/,
/api/v1/count-calls/) and the supervisors' page (/counts/schedules/)."""

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext

from custody.models import CountCall, CountSchedule, Facility, LedgerEvent, PendingChange
from custody.selectors.rollcalls import rollcall_roster
from custody.services import count_schedules, rollcalls
from custody.services.changes import change_approve
from tests import factories
from tests.rollcall_world import count_world, entry
from tests.second_factor import sign_in

pytestmark = pytest.mark.django_db

# 12:00 in the facility (America/Guatemala, UTC-6).
NOW = datetime(2026, 11, 24, 18, 0, tzinfo=UTC)
YESTERDAY = NOW - timedelta(days=1)
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def _frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def api_as(english_api_as):
    return english_api_as  # the assertions read the messages


@pytest.fixture
def w(facility, make_user):
    return count_world(facility, make_user)


def schedule(w, hhmm: str, *, unit=None, kind="formal", grace=15, at=YESTERDAY):
    """A schedule made by the supervisor at ``at`` (yesterday: owed today)."""
    with time_machine.travel(at, tick=False):
        return count_schedules.count_schedule_create(
            facility=w.facility,
            location=unit,
            time_of_day=datetime.strptime(hhmm, "%H:%M").time(),
            kind=kind,
            grace_minutes=grace,
            by=w.users["supervisor"],
        )


def take_count(w, unit, at, *, absent=(), submit=True, kind="formal"):
    """A guard counts ``unit`` at ``at``: everyone present but ``absent``."""
    guard = w.users["guard"]
    with time_machine.travel(at, tick=False):
        rollcall, _ = rollcalls.rollcall_start(location=unit, kind=kind, by=guard)
        marks = [
            entry(line.booking_number, "absent" if line.booking_number in absent else "present")
            for line in rollcall_roster(rollcall)
        ]
        if marks:
            rollcalls.rollcall_record_entries(rollcall=rollcall, raw_entries=marks, by=guard)
        if submit:
            rollcalls.rollcall_submit(rollcall=rollcall, by=guard)
    return rollcall


def events(action: str) -> list[LedgerEvent]:
    return list(LedgerEvent.objects.filter(action=action).order_by("seq"))


# --- API: count schedules ------------------------------------------------------


def waits(answer) -> int:
    """The pending change an API answer says the edit became."""
    assert answer.status_code == 202, answer.content
    return answer.json()["change"]


def approved_by_a_second_supervisor(w, change_id: int):
    """Retiring or thinning a count waits (invariant 7): another supervisor
    of the facility approves it, and that is when it applies."""
    second = w.users.get("second supervisor")
    if second is None:
        second = w.users["second supervisor"] = factories.UserFactory(
            role="supervisor", facilities=[w.facility]
        )
    change = PendingChange.objects.get(pk=change_id)
    return change_approve(change=change, by=second)


def create(client, w, **fields):
    body = {
        "facility": w.facility.code,
        "location": w.unit.code,
        "time_of_day": "06:00",
        "kind": "formal",
        "grace_minutes": 20,
        **fields,
    }
    return client.post("/api/v1/count-schedules/", body, format="json")


def test_api_supervisor_creates_a_schedule_and_the_ledger_says_so(w, api_as):
    response = create(api_as(w.users["supervisor"]), w)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["facility"] == w.facility.code and body["location"] == "B"
    assert body["time_of_day"] == "06:00:00"
    assert body["kind"] == "formal" and body["grace_minutes"] == 20 and body["is_active"] is True
    assert body["created_by"] == w.users["supervisor"].username
    [event] = events("count_schedule.created")
    assert event.subject == f"count_schedule:{body['id']}"
    assert event.data == {
        "schedule": body["id"],
        "location": "B",
        "time_of_day": "06:00",
        "kind": "formal",
        "grace_minutes": 20,
        "is_active": True,
    }


@pytest.mark.parametrize(
    ("field", "value"),
    [
        # A local wall-clock time: an offset would move the count with the
        # server's zone, not the facility's.
        ("time_of_day", "06:00:00Z"),
        ("time_of_day", "06:00+02:00"),
        # What the schema calls boolean: 0 or "no" never switches a count off.
        ("is_active", 0),
        ("is_active", "no"),
    ],
)
def test_api_a_schedule_takes_only_what_its_schema_says(w, api_as, field, value):
    response = create(api_as(w.users["supervisor"]), w, **{field: value})
    assert response.status_code == 400, response.json()
    assert field in response.json()["errors"]
    assert not CountSchedule.objects.exists()


def test_api_schedule_without_a_unit_is_for_every_unit(w, api_as):
    response = create(api_as(w.users["admin"]), w, location=None, time_of_day="22:30")
    assert response.status_code == 201, response.json()
    assert response.json()["location"] is None
    assert CountSchedule.objects.get().location is None


def test_api_a_second_active_count_in_the_same_slot_is_refused_clearly(w, api_as):
    client = api_as(w.users["supervisor"])
    assert create(client, w).status_code == 201
    response = create(client, w, time_of_day="06:00:30", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert response.json()["errors"]["time_of_day"] == [
        "This unit already has a count scheduled at that time."
    ]
    assert CountSchedule.objects.count() == 1
    assert len(events("count_schedule.created")) == 1


def test_api_a_second_every_unit_count_in_the_same_slot_is_refused(w, api_as):
    client = api_as(w.users["supervisor"])
    assert create(client, w, location=None).status_code == 201
    assert create(client, w, location=None).status_code == 400
    # And the database itself: "every unit" is one slot (nulls not distinct).
    first = CountSchedule.objects.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        CountSchedule.objects.create(
            facility=first.facility, time_of_day=first.time_of_day, is_active=True
        )


def test_api_an_emergency_count_cannot_be_scheduled(w, api_as):
    response = create(api_as(w.users["supervisor"]), w, kind="emergency")
    assert response.status_code == 400
    assert "kind" in response.json()["errors"]
    assert not CountSchedule.objects.exists()


@pytest.mark.parametrize("grace", [0, 121, -5])
def test_api_grace_out_of_range_is_refused(w, api_as, grace):
    client = api_as(w.users["supervisor"])
    response = create(client, w, grace_minutes=grace)
    assert response.status_code == 400
    assert "grace_minutes" in response.json()["errors"]
    schedule_id = create(client, w).json()["id"]
    response = client.patch(
        f"/api/v1/count-schedules/{schedule_id}/", {"grace_minutes": grace}, format="json"
    )
    assert response.status_code == 400
    assert CountSchedule.objects.get().grace_minutes == 20


@pytest.mark.parametrize("role", ["guard", "auditor"])
def test_api_guards_and_auditors_read_but_cannot_write(w, api_as, role):
    existing = schedule(w, "06:00", unit=w.unit)
    client = api_as(w.users[role])
    listing = client.get("/api/v1/count-schedules/")
    assert listing.status_code == 200
    assert [row["id"] for row in listing.json()["results"]] == [existing.pk]
    assert create(client, w, time_of_day="07:00").status_code == 403
    response = client.patch(
        f"/api/v1/count-schedules/{existing.pk}/", {"is_active": False}, format="json"
    )
    assert response.status_code == 403
    existing.refresh_from_db()
    assert existing.is_active
    assert len(events("count_schedule.changed")) == 0


def test_api_another_facilitys_schedule_is_not_found(w, api_as, other_facility, make_user):
    theirs = schedule(w, "06:00", unit=w.unit)
    outsider = api_as(make_user("supervisor", other_facility))
    assert outsider.get(f"/api/v1/count-schedules/{theirs.pk}/").status_code == 404
    response = outsider.patch(
        f"/api/v1/count-schedules/{theirs.pk}/", {"is_active": False}, format="json"
    )
    assert response.status_code == 404
    assert outsider.get("/api/v1/count-schedules/").json()["results"] == []
    # Nor can they schedule counts in it.
    assert create(outsider, w, time_of_day="07:00").status_code == 400
    theirs.refresh_from_db()
    assert theirs.is_active


def test_api_retire_then_the_same_slot_can_be_scheduled_again(w, api_as):
    client = api_as(w.users["supervisor"])
    first = create(client, w).json()["id"]
    response = client.patch(
        f"/api/v1/count-schedules/{first}/", {"is_active": False}, format="json"
    )
    approved_by_a_second_supervisor(w, waits(response))
    assert client.get(f"/api/v1/count-schedules/{first}/").json()["is_active"] is False
    second = create(client, w)
    assert second.status_code == 201, second.json()
    # Retired, never deleted: both stay on record.
    assert CountSchedule.objects.filter(is_active=False).count() == 1
    assert CountSchedule.objects.filter(is_active=True).get().pk == second.json()["id"]
    # ... and the first cannot come back while the second holds the slot.
    response = client.patch(f"/api/v1/count-schedules/{first}/", {"is_active": True}, format="json")
    assert response.status_code == 400


def test_api_every_change_is_a_ledger_event_with_before_and_after(w, api_as):
    client = api_as(w.users["supervisor"])
    schedule_id = create(client, w).json()["id"]
    # Earlier, with a shorter grace: tighter, so at once.
    response = client.patch(
        f"/api/v1/count-schedules/{schedule_id}/",
        {"time_of_day": "05:30", "grace_minutes": 10},
        format="json",
    )
    assert response.status_code == 200, response.json()
    retired = client.patch(
        f"/api/v1/count-schedules/{schedule_id}/", {"is_active": False}, format="json"
    )
    approved_by_a_second_supervisor(w, waits(retired))
    # Nothing changed: nothing to record.
    client.patch(f"/api/v1/count-schedules/{schedule_id}/", {"is_active": False}, format="json")
    changed = events("count_schedule.changed")
    assert len(changed) == 2
    assert changed[0].data["before"]["time_of_day"] == "06:00"
    assert changed[0].data["after"] == {
        "schedule": schedule_id,
        "location": "B",
        "time_of_day": "05:30",
        "kind": "formal",
        "grace_minutes": 10,
        "is_active": True,
    }
    assert changed[1].data["before"]["is_active"] is True
    assert changed[1].data["after"]["is_active"] is False
    # The retirement applied when the second supervisor approved it.
    assert [e.actor for e in changed] == [
        f"user:{w.users['supervisor'].username}",
        f"user:{w.users['second supervisor'].username}",
    ]


# --- API: emergency calls ------------------------------------------------------


def test_api_supervisor_calls_an_emergency_count(w, api_as, other_facility, make_user):
    client = api_as(w.users["supervisor"])
    response = client.post(
        "/api/v1/count-calls/",
        {"facility": w.facility.code, "reason": "Pelea en el patio B", "grace_minutes": 20},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["called_by"] == w.users["supervisor"].username
    assert body["called_at"].endswith("-06:00")  # the facility's zone
    [event] = events("count.called")
    assert event.subject == f"count_call:{body['id']}"
    assert event.data == {"grace_minutes": 20, "reason": "Pelea en el patio B"}
    # Default grace: 15 minutes.
    again = client.post(
        "/api/v1/count-calls/",
        {"facility": w.facility.code, "reason": "Apagón general"},
        format="json",
    )
    assert again.json()["grace_minutes"] == 15
    listed = client.get("/api/v1/count-calls/").json()["results"]
    assert [row["id"] for row in listed] == [again.json()["id"], body["id"]]
    # Another facility's supervisor sees none of them.
    outsider = api_as(make_user("supervisor", other_facility))
    assert outsider.get("/api/v1/count-calls/").json()["results"] == []


@pytest.mark.parametrize("reason", [None, "", "   ", "no"])
def test_api_an_emergency_call_needs_a_reason(w, api_as, reason):
    body = {"facility": w.facility.code}
    if reason is not None:
        body["reason"] = reason
    response = api_as(w.users["supervisor"]).post("/api/v1/count-calls/", body, format="json")
    assert response.status_code == 400
    assert "reason" in response.json()["errors"]
    assert not CountCall.objects.exists() and not events("count.called")


@pytest.mark.parametrize("role", ["guard", "auditor"])
def test_api_guards_and_auditors_cannot_call_a_count(w, api_as, role):
    response = api_as(w.users[role]).post(
        "/api/v1/count-calls/",
        {"facility": w.facility.code, "reason": "Quiero contar ya"},
        format="json",
    )
    assert response.status_code == 403
    assert not CountCall.objects.exists()


def test_api_grace_of_a_call_out_of_range_is_refused(w, api_as):
    response = api_as(w.users["supervisor"]).post(
        "/api/v1/count-calls/",
        {"facility": w.facility.code, "reason": "Pelea en el patio", "grace_minutes": 121},
        format="json",
    )
    assert response.status_code == 400
    assert "grace_minutes" in response.json()["errors"]


# --- The page ------------------------------------------------------------------------


def page_url(w, suffix=""):
    return f"/counts/schedules/{w.facility.code}/{suffix}"


def html_of(response) -> str:
    return response.content.decode()


def signed_in(client, user):
    sign_in(client, user)
    return client


def add_form(**fields) -> dict:
    data = {"location": "", "time_of_day": "06:00", "kind": "formal", "grace_minutes": "15"}
    data.update(fields)
    return {f"add-{name}": value for name, value in data.items()}


def board_states(html: str) -> dict[str, list[list[str]]]:
    """Today's board as {time: [[state, ...] per unit]} (the page draws a
    row per unit and a column per time)."""
    table = re.search(r'<table class="board">(.*?)</table>', html, re.S).group(1)
    head, body = table.split("<tbody>")
    times = re.findall(r'<th scope="col">(\d\d:\d\d)</th>', head)
    rows = {time: [] for time in times}
    for row in re.findall(r"<tr>(.*?)</tr>", body, re.S):
        cells = re.findall(r"<td>(.*?)</td>", row, re.S)
        for time, cell in zip(times, cells, strict=True):
            rows[time].append(re.findall(r'data-state="(\w+)"', cell))
    return rows


def test_index_goes_to_my_only_facility_or_lets_me_choose(client, w, other_facility, make_user):
    response = signed_in(client, w.users["supervisor"]).get("/counts/schedules/")
    assert response.status_code == 302 and response["Location"] == page_url(w)

    signed_in(client, make_user("supervisor", w.facility, other_facility))
    html = html_of(client.get("/counts/schedules/"))
    assert page_url(w) in html and f"/counts/schedules/{other_facility.code}/" in html

    third = factories.FacilityFactory()
    assert f"/counts/schedules/{third.code}/" not in html


def test_the_page_needs_a_sign_in(client, w):
    response = client.get(page_url(w))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_page_shows_the_schedules_and_the_forms_to_a_supervisor(client, w):
    schedule(w, "06:00", unit=w.unit, grace=20)
    schedule(w, "22:00", kind="informal")
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    response = signed_in(client, w.users["supervisor"]).get(page_url(w))
    assert response.status_code == 200
    html = html_of(response)
    assert "America/Guatemala" in html and "it is 12:00 there" in html
    rows = re.findall(r'<tr id="schedule-\d+">\s*<td>([^<]+)</td>\s*<td>([^<]+)</td>', html)
    assert rows == [("06:00", "B"), ("22:00", "Every unit")]
    assert f'action="/counts/schedules/{w.facility.code}/add/"' in html
    assert "/retire/" in html and "/change/" in html and "/emergency/" in html
    # Every form posts with its CSRF token.
    forms = re.findall(r"<form[^>]*method=\"post\"[^>]*>\s*<input[^>]*>", html)
    assert forms and all("csrfmiddlewaretoken" in form for form in forms)
    # Local HTMX only.
    assert "/static/alerts/htmx.min.js" in html
    assert not re.search(r"""(src|href)=["'](https?:)?//""", html)


def test_page_is_spanish_by_default_and_english_with_the_cookie(client, w):
    schedule(w, "06:00", unit=w.unit)
    signed_in(client, w.users["supervisor"])
    html = html_of(client.get(page_url(w)))
    assert '<html lang="es">' in html
    assert ">Sector<" in html and ">Unit<" not in html

    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    html = html_of(client.get(page_url(w)))
    assert '<html lang="en">' in html
    assert ">Unit<" in html and ">Sector<" not in html
    assert "Add a daily count" in html and "Formal count" in html


def test_supervisor_adds_a_count_without_javascript(client, w):
    signed_in(client, w.users["supervisor"])
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    response = client.post(
        page_url(w, "add/"),
        add_form(location=str(w.other_unit.pk), time_of_day="07:15", grace_minutes="25"),
    )
    assert response.status_code == 302 and response["Location"] == page_url(w)
    added = CountSchedule.objects.get()
    assert (added.location, added.time_of_day.strftime("%H:%M")) == (w.other_unit, "07:15")
    assert added.grace_minutes == 25 and added.created_by == w.users["supervisor"]
    assert events("count_schedule.created")[0].data["location"] == "BX"
    html = html_of(client.get(response["Location"]))
    assert "Count at 07:15 added." in html  # the message survives the redirect once


def test_supervisor_adds_a_count_for_every_unit_with_htmx(client, w):
    signed_in(client, w.users["supervisor"])
    response = client.post(page_url(w, "add/"), add_form(time_of_day="21:00"), **HTMX)
    assert response.status_code == 200
    html = html_of(response)
    assert "<html" not in html  # the panel, swapped in place
    assert 'class="flash"' in html
    assert CountSchedule.objects.get().location is None


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"time_of_day": "25:99"}, "time_of_day", "Enter a valid time."),
        ({"time_of_day": ""}, "time_of_day", "This field is required."),
        ({"grace_minutes": "0"}, "grace_minutes", "greater than or equal to 1"),
        ({"grace_minutes": "121"}, "grace_minutes", "less than or equal to 120"),
        ({"kind": "emergency"}, "kind", "emergency counts are called"),
        ({"location": "999999"}, "location", "Select a valid choice"),
    ],
)
@pytest.mark.parametrize("htmx", [False, True])
def test_a_bad_add_is_shown_beside_its_field_never_a_500(client, w, fields, field, message, htmx):
    signed_in(client, w.users["supervisor"])
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    response = client.post(page_url(w, "add/"), add_form(**fields), **(HTMX if htmx else {}))
    assert response.status_code == 400
    html = html_of(response)
    assert ("<html" in html) is not htmx
    error = re.search(rf'<div class="error" id="id_add-{field}_error">(.*?)</div>', html, re.S)
    assert error and message in error.group(1), html
    assert re.search(rf'<[^>]*id="id_add-{field}"[^>]*aria-invalid="true"', html) or re.search(
        rf'<[^>]*aria-invalid="true"[^>]*id="id_add-{field}"', html
    )
    assert not CountSchedule.objects.exists()


def test_a_second_count_in_the_same_slot_is_refused_beside_the_time(client, w):
    schedule(w, "06:00", unit=w.unit)
    signed_in(client, w.users["supervisor"])
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    response = client.post(page_url(w, "add/"), add_form(location=str(w.unit.pk)))
    assert response.status_code == 400
    html = html_of(response)
    error = re.search(r'id="id_add-time_of_day_error">(.*?)</div>', html, re.S).group(1)
    assert "This unit already has a count scheduled at that time." in error
    assert CountSchedule.objects.count() == 1


def test_supervisor_changes_a_count_and_the_ledger_keeps_before_and_after(client, w):
    existing = schedule(w, "06:00", unit=w.unit)
    signed_in(client, w.users["supervisor"])
    prefix = f"s{existing.pk}"
    response = client.post(
        f"/counts/schedules/slot/{existing.pk}/change/",
        {
            f"{prefix}-time_of_day": "06:45",
            f"{prefix}-kind": "informal",
            f"{prefix}-grace_minutes": "30",
        },
    )
    assert response.status_code == 302
    existing.refresh_from_db()
    assert existing.time_of_day.strftime("%H:%M") == "06:00"  # later and informal: it waits
    [change] = PendingChange.objects.all()
    assert set(change.weakened) == {"time_of_day", "kind", "grace_minutes"}
    approved_by_a_second_supervisor(w, change.pk)
    existing.refresh_from_db()
    assert existing.time_of_day.strftime("%H:%M") == "06:45" and existing.kind == "informal"
    [event] = events("count_schedule.changed")
    assert event.data["before"]["time_of_day"] == "06:00"
    assert event.data["after"]["time_of_day"] == "06:45"
    assert event.data["after"]["grace_minutes"] == 30


def test_a_bad_change_keeps_the_row_form_open_with_the_error(client, w):
    existing = schedule(w, "06:00", unit=w.unit)
    schedule(w, "07:00", unit=w.unit)
    signed_in(client, w.users["supervisor"])
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    prefix = f"s{existing.pk}"
    response = client.post(
        f"/counts/schedules/slot/{existing.pk}/change/",
        {
            f"{prefix}-time_of_day": "07:00",
            f"{prefix}-kind": "formal",
            f"{prefix}-grace_minutes": "15",
        },
        **HTMX,
    )
    assert response.status_code == 400
    html = html_of(response)
    row = html[html.index(f'id="schedule-{existing.pk}"') :]
    row = row[: row.index("</tr>")]
    assert '<details class="edit" open>' in row
    assert f'id="id_{prefix}-time_of_day_error"' in row
    assert "already has a count scheduled" in row
    assert 'value="07:00"' in row  # what was typed stays
    existing.refresh_from_db()
    assert existing.time_of_day.strftime("%H:%M") == "06:00"


def test_supervisor_retires_and_reactivates_a_count(client, w):
    existing = schedule(w, "06:00", unit=w.unit)
    signed_in(client, w.users["supervisor"])
    response = client.post(f"/counts/schedules/slot/{existing.pk}/retire/", **HTMX)
    assert response.status_code == 200
    existing.refresh_from_db()
    assert existing.is_active  # retiring waits for a second supervisor
    assert "pending change" in html_of(response) or "cambio pendiente" in html_of(response)
    approved_by_a_second_supervisor(w, PendingChange.objects.get().pk)
    existing.refresh_from_db()
    assert not existing.is_active
    html = html_of(client.get(page_url(w), **HTMX))
    assert f'<tr id="schedule-{existing.pk}" class="is-retired">' in html
    assert f"/counts/schedules/slot/{existing.pk}/reactivate/" in html

    # The slot is free again: a new count takes it, and the old one cannot come back.
    replacement = schedule(w, "06:00", unit=w.unit, at=NOW)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    response = client.post(f"/counts/schedules/slot/{existing.pk}/reactivate/")
    assert response.status_code == 400
    assert "already has a count scheduled" in html_of(response)

    CountSchedule.objects.filter(pk=replacement.pk).update(is_active=False)
    response = client.post(f"/counts/schedules/slot/{existing.pk}/reactivate/")
    assert response.status_code == 302
    existing.refresh_from_db()
    assert existing.is_active
    assert [e.data["after"]["is_active"] for e in events("count_schedule.changed")] == [
        False,
        True,
    ]
    assert CountSchedule.objects.count() == 2  # never deleted


@pytest.mark.parametrize("role", ["guard", "auditor"])
def test_guards_and_auditors_see_the_page_read_only(client, w, role):
    existing = schedule(w, "06:00", unit=w.unit)
    signed_in(client, w.users[role])
    response = client.get(page_url(w))
    assert response.status_code == 200
    html = html_of(response)
    assert f'id="schedule-{existing.pk}"' in html
    assert "<form" not in html.split('<div id="panel">')[1]
    for url in (
        page_url(w, "add/"),
        f"/counts/schedules/slot/{existing.pk}/retire/",
        f"/counts/schedules/slot/{existing.pk}/change/",
        page_url(w, "emergency/"),
    ):
        assert url not in html
    assert client.post(page_url(w, "add/"), add_form(time_of_day="09:00")).status_code == 403
    assert client.post(f"/counts/schedules/slot/{existing.pk}/retire/").status_code == 403
    response = client.post(
        page_url(w, "emergency/"), {"reason": "Quiero contar ya", "confirmed": "1"}
    )
    assert response.status_code == 403
    existing.refresh_from_db()
    assert existing.is_active and CountSchedule.objects.count() == 1
    assert not CountCall.objects.exists()


def test_another_facility_is_not_found(client, w, other_facility, make_user):
    existing = schedule(w, "06:00", unit=w.unit)
    signed_in(client, make_user("supervisor", other_facility))
    assert client.get(page_url(w)).status_code == 404
    assert client.post(page_url(w, "add/"), add_form()).status_code == 404
    assert client.post(f"/counts/schedules/slot/{existing.pk}/retire/").status_code == 404
    assert client.post(page_url(w, "emergency/"), {"reason": "No es mío"}).status_code == 404
    existing.refresh_from_db()
    assert existing.is_active


def test_forms_need_the_csrf_token(w):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(w.users["supervisor"])
    assert strict.post(page_url(w, "add/"), add_form()).status_code == 403
    html = html_of(strict.get(page_url(w)))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    response = strict.post(page_url(w, "add/"), {**add_form(), "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    # With HTMX, the header the page sets is enough.
    header = re.search(r'"X-CSRFToken": "([^"]+)"', html).group(1)
    response = strict.post(
        page_url(w, "add/"), add_form(time_of_day="07:00"), HTTP_X_CSRFTOKEN=header, **HTMX
    )
    assert response.status_code == 200
    assert CountSchedule.objects.count() == 2


# --- Today's board -------------------------------------------------------------------


def test_todays_board_shows_each_slot_of_each_unit_with_its_state(client, w):
    def at(hhmm: str) -> datetime:
        local = w.facility.tzinfo
        day = NOW.astimezone(local).date()
        return datetime.combine(day, datetime.strptime(hhmm, "%H:%M").time(), tzinfo=local)

    schedule(w, "06:00", unit=w.unit)  # counted at 06:05, everyone there
    schedule(w, "06:00", unit=w.other_unit)  # never counted (08:50 is the 09:00 count)
    schedule(w, "08:00", unit=w.unit)  # counted at 08:30, after the deadline
    schedule(w, "09:00", unit=w.other_unit)  # counted at 08:50, someone absent
    schedule(w, "11:55")  # every unit: B counting now, BX not yet
    schedule(w, "18:00", unit=w.unit)  # later today
    schedule(w, "10:00", unit=w.other_unit, at=NOW)  # added after 10:00: owed tomorrow
    take_count(w, w.unit, at("06:05"))
    take_count(w, w.unit, at("08:30"))
    take_count(w, w.other_unit, at("08:50"), absent={"GT-BX-1"})
    take_count(w, w.unit, at("11:50"), submit=False)

    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    html = html_of(signed_in(client, w.users["auditor"]).get(page_url(w)))
    assert board_states(html) == {
        "06:00": [["cleared"], ["missed"]],
        "08:00": [["cleared"], []],
        "09:00": [[], ["discrepancy"]],
        "10:00": [[], ["not_owed"]],
        "11:55": [["in_progress"], ["due"]],
        "18:00": [["upcoming"], []],
    }
    assert "Counted, cleared · late" in html  # 08:00, counted at 08:30


def test_the_page_costs_a_fixed_number_of_queries(client, w):
    signed_in(client, w.users["supervisor"])
    schedule(w, "06:00", unit=w.unit)
    client.get(page_url(w))  # warm the session and the caches

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(page_url(w)).status_code == 200
        return len(captured)

    few = queries()
    for hhmm in ("07:00", "08:00", "09:00", "10:00"):
        schedule(w, hhmm)
        schedule(w, hhmm, unit=w.other_unit, kind="informal")
    factories.CellFactory(facility=w.facility, code="C-01", parent__code="C")
    take_count(w, w.unit, NOW - timedelta(hours=3))
    take_count(w, w.other_unit, NOW - timedelta(hours=2))
    count_schedules.count_call_create(
        facility=w.facility, by=w.users["supervisor"], reason="Ruido en el sector B"
    )
    count_schedules.count_call_create(
        facility=w.facility, by=w.users["supervisor"], reason="Otra vez ruido"
    )
    assert queries() == few  # one read of counts serves the board and the call


# --- Emergency count --------------------------------------------------------------


def test_an_emergency_call_is_confirmed_before_it_goes_out(client, w):
    signed_in(client, w.users["supervisor"])
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    response = client.post(
        page_url(w, "emergency/"), {"reason": "Pelea en el patio B", "grace_minutes": "20"}
    )
    assert response.status_code == 200
    html = html_of(response)
    assert "Call an emergency count of every unit of" in html
    assert "by about 12:20" in html  # 12:00 in the facility, plus 20 minutes
    assert 'name="confirmed" value="1"' in html
    assert not CountCall.objects.exists()

    response = client.post(
        page_url(w, "emergency/"),
        {"reason": "Pelea en el patio B", "grace_minutes": "20", "confirmed": "1"},
    )
    assert response.status_code == 302 and response["Location"] == page_url(w)
    call = CountCall.objects.get()
    assert call.reason == "Pelea en el patio B" and call.grace_minutes == 20
    assert call.called_by == w.users["supervisor"] and call.called_at == NOW
    [event] = events("count.called")
    assert event.subject == f"count_call:{call.pk}"
    assert event.data == {"grace_minutes": 20, "reason": "Pelea en el patio B"}
    html = html_of(client.get(response["Location"]))
    assert "every unit must be counted by 12:20" in html
    assert "Pelea en el patio B" in html


def test_an_emergency_call_with_htmx_answers_the_panel(client, w):
    signed_in(client, w.users["admin"])
    data = {"reason": "Simulacro de evacuación", "grace_minutes": "15"}
    response = client.post(page_url(w, "emergency/"), data, **HTMX)
    assert response.status_code == 200 and "<html" not in html_of(response)
    assert not CountCall.objects.exists()
    response = client.post(page_url(w, "emergency/"), {**data, "confirmed": "1"}, **HTMX)
    assert response.status_code == 200 and 'class="flash"' in html_of(response)
    assert CountCall.objects.get().grace_minutes == 15


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"grace_minutes": "15"}, "reason", "This field is required."),
        ({"reason": "   ", "grace_minutes": "15"}, "reason", "This field is required."),
        ({"reason": "ruido", "grace_minutes": "0"}, "grace_minutes", "greater than or equal"),
        # Short enough for the form, not for the service: its message, beside the field.
        ({"reason": "ya", "grace_minutes": "15", "confirmed": "1"}, "reason", "Say why"),
    ],
)
def test_an_emergency_call_without_a_reason_is_refused_beside_the_field(
    client, w, data, field, message
):
    signed_in(client, w.users["supervisor"])
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    response = client.post(page_url(w, "emergency/"), data)
    assert response.status_code == 400
    error = re.search(rf'id="id_{field}_error">(.*?)</div>', html_of(response), re.S)
    assert error and message in error.group(1)
    assert not CountCall.objects.exists()


def test_the_latest_call_shows_each_units_state_and_its_deadline(client, w):
    unit_c = factories.CellFactory(facility=w.facility, code="C-01", parent__code="C").parent
    unit_d = factories.CellFactory(facility=w.facility, code="D-01", parent__code="D").parent
    factories.InmateFactory(facility=w.facility, cell=unit_c.children.get(), booking_number="C1")
    called_at = NOW - timedelta(minutes=20)
    take_count(w, w.unit, called_at - timedelta(minutes=5))  # before the call: no answer
    with time_machine.travel(called_at, tick=False):
        count_schedules.count_call_create(
            facility=w.facility, by=w.users["supervisor"], reason="Motín en el sector C"
        )
    take_count(w, w.unit, called_at + timedelta(minutes=5), kind="emergency")
    take_count(w, w.other_unit, called_at + timedelta(minutes=6), absent={"GT-BX-1"})
    take_count(w, unit_c, called_at + timedelta(minutes=7), submit=False)

    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    html = html_of(signed_in(client, w.users["guard"]).get(page_url(w)))
    table = re.search(r'<table class="call-units">(.*?)</table>', html, re.S).group(1)
    states = re.findall(r'<th scope="row">(\w+)</th>\s*<td><span[^>]*data-state="(\w+)"', table)
    assert states == [
        ("B", "cleared"),
        ("BX", "discrepancy"),
        ("C", "in_progress"),
        (unit_d.code, "not_yet"),
    ]
    # 15 minutes of grace from 11:40: due at 11:55, so the two unsettled units are late.
    assert "every unit to be counted by 11:55" in html
    assert table.count("overdue") == 2


def test_call_times_are_the_facilitys_local_time(client, w):
    Facility.objects.filter(pk=w.facility.pk).update(timezone="Asia/Tokyo")
    count_schedules.count_call_create(
        facility=w.facility, by=w.users["supervisor"], reason="Apagón", grace_minutes=30
    )
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    html = html_of(signed_in(client, w.users["supervisor"]).get(page_url(w)))
    # 18:00 UTC is 03:00 the next day in Tokyo; due 30 minutes later.
    assert "Asia/Tokyo" in html and "it is 03:00 there" in html
    assert "Called at 03:00" in html and "counted by 03:30" in html
    assert '<time datetime="2026-11-25T03:30:00+09:00">03:30</time>' in html


def test_nonsense_in_the_url_or_the_form_is_never_a_500(client, w):
    signed_in(client, w.users["supervisor"])
    huge = "9" * 30
    assert client.post(f"/counts/schedules/slot/{huge}/retire/").status_code == 404
    assert client.post(page_url(w, "add/"), add_form(grace_minutes=huge)).status_code == 400
    assert client.post(page_url(w, "add/"), add_form(time_of_day="06:00\x00")).status_code == 400
    response = client.post(page_url(w, "emergency/"), {"reason": "Pelea\x00", "confirmed": "1"})
    assert response.status_code == 400
    assert client.get(page_url(w, "emergency/")).status_code == 405
    assert not CountSchedule.objects.exists() and not CountCall.objects.exists()
