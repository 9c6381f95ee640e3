"""The roll-call record: what the database itself refuses (invariant 3 and
the forward-only count), where counts show up (history, headcount,
dashboard) and the ledger they leave."""

import re

import pytest
from django.db import DatabaseError, connection, transaction

from custody import selectors, services
from custody.models import LedgerEvent, RollCall, RollCallEntry, RollCallExpected
from custody.services import rollcalls
from tests.rollcall_world import count_world, entry, verify_by_recount

pytestmark = pytest.mark.django_db


@pytest.fixture
def w(facility, make_user):
    return count_world(facility, make_user)


def counted(w, *, present=None, submit=True, by="guard"):
    rollcall, _ = rollcalls.rollcall_start(location=w.unit, kind="formal", by=w.users[by])
    people = w.people if present is None else [w.people[i] for i in present]
    rollcalls.rollcall_record_entries(
        rollcall=rollcall,
        raw_entries=[entry(p["booking_number"]) for p in people],
        by=w.users[by],
    )
    if submit:
        rollcall = rollcalls.rollcall_submit(rollcall=rollcall, by=w.users[by])
    return rollcall


def refused(sql: str, params=()):
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


# --- Invariant 3 and the forward-only count, enforced by PostgreSQL ------------------


def test_entries_and_rosters_cannot_be_changed_or_deleted(w):
    rollcall = counted(w, submit=False)
    mark = RollCallEntry.objects.filter(rollcall=rollcall).first()
    refused("UPDATE custody_rollcallentry SET status = 'absent' WHERE id = %s", [mark.pk])
    refused("DELETE FROM custody_rollcallentry WHERE id = %s", [mark.pk])
    refused("TRUNCATE custody_rollcallentry CASCADE")
    refused("UPDATE custody_rollcallexpected SET status = 'out_authorized'")
    refused("DELETE FROM custody_rollcallexpected")
    assert RollCallEntry.objects.filter(rollcall=rollcall).count() == 6
    assert RollCallExpected.objects.filter(rollcall=rollcall).count() == 6


def test_a_submitted_count_can_only_be_verified(w):
    rollcall = counted(w, present=range(5))
    pk = str(rollcall.pk)
    refused("UPDATE custody_rollcall SET unaccounted_count = 0 WHERE id = %s", [pk])
    refused("UPDATE custody_rollcall SET unaccounted = '[]' WHERE id = %s", [pk])
    refused("UPDATE custody_rollcall SET status = 'in_progress' WHERE id = %s", [pk])
    refused("UPDATE custody_rollcall SET status = 'cancelled' WHERE id = %s", [pk])
    refused("DELETE FROM custody_rollcall WHERE id = %s", [pk])
    verify_by_recount(rollcall, w.users["supervisor"])
    refused("UPDATE custody_rollcall SET verified_by_id = NULL WHERE id = %s", [pk])
    rollcall.refresh_from_db()
    assert (rollcall.status, rollcall.unaccounted_count) == ("verified", 1)


def test_what_a_count_counts_is_fixed_from_its_start(w):
    rollcall = counted(w, submit=False)
    pk = str(rollcall.pk)
    refused("UPDATE custody_rollcall SET expected_count = 5 WHERE id = %s", [pk])
    refused(
        "UPDATE custody_rollcall SET started_at = started_at - interval '1 hour' WHERE id = %s",
        [pk],
    )
    refused("UPDATE custody_rollcall SET location_id = %s WHERE id = %s", [w.other_unit.pk, pk])


def test_the_verifier_is_never_the_counter_even_in_sql(w):
    rollcall = counted(w)
    refused(
        "UPDATE custody_rollcall SET status = 'verified', verified_at = now(), "
        "verified_by_id = submitted_by_id WHERE id = %s",
        [str(rollcall.pk)],
    )


def test_two_counts_of_one_unit_cannot_be_in_progress_even_in_sql(w):
    counted(w, submit=False)
    first = RollCall.objects.get()
    refused(
        "INSERT INTO custody_rollcall (id, facility_id, location_id, kind, status, started_at, "
        "started_by_id, expected_count, unaccounted, cancel_reason) "
        "VALUES (gen_random_uuid(), %s, %s, 'formal', 'in_progress', now(), %s, 0, '[]', '')",
        [first.facility_id, first.location_id, first.started_by_id],
    )


# --- Where counts show up ---------------------------------------------------------------


def test_marks_join_the_persons_history(w, api_as):
    counted(w, present=range(5))
    body = (
        api_as(w.users["auditor"])
        .get(f"/api/v1/inmates/{w.booking(0)}/history/?page_size=100")
        .json()
    )
    marks = [item for item in body["results"] if item["type"] == "count_entry"]
    assert len(marks) == 1
    assert marks[0]["summary"]["status"] == "present"
    assert marks[0]["summary"]["location"] == w.unit.code
    assert marks[0]["summary"]["recorded_by"] == w.users["guard"].username
    assert marks[0]["at"].endswith("-06:00")
    # The present mark is also the check-in that moved the schedule.
    assert {item["type"] for item in body["results"]} >= {"checkin", "count_entry", "ledger"}


def test_the_ledger_tells_the_whole_count_and_verifies(w):
    rollcall = counted(w, present=range(5))
    verify_by_recount(rollcall, w.users["guard2"])
    actions = list(
        LedgerEvent.objects.filter(subject=f"rollcall:{rollcall.pk}")
        .order_by("seq")
        .values_list("action", flat=True)
    )
    assert actions == [
        "rollcall.started",
        "rollcall.entries",
        "rollcall.submitted",
        "rollcall.recount_drawn",
        "rollcall.recount_marks",
        "rollcall.verified",
    ]
    submitted = LedgerEvent.objects.get(action="rollcall.submitted")
    assert submitted.data["unaccounted"] == [w.booking(5)]
    assert services.ledger_verify(facility=w.facility).ok


def test_rejected_marks_are_named_in_the_ledger_never_dropped(w):
    rollcall = counted(w, present=[], submit=False)
    rollcalls.rollcall_record_entries(
        rollcall=rollcall, raw_entries=[entry("GT-NOBODY")], by=w.users["guard"]
    )
    event = LedgerEvent.objects.filter(action="rollcall.entries").latest("seq")
    assert event.data["rejected"][0]["errors"]["inmate"]


def test_headcount_shows_each_units_last_and_last_clean_count(w, api_as):
    clean = counted(w)
    verify_by_recount(clean, w.users["supervisor"])
    later = counted(w, present=range(4))
    headcount = selectors.facility_headcount(facility=w.facility)
    [row] = [r for r in headcount.by_location if r.location == w.unit.code]
    assert row.last_cleared_count_at == clean.submitted_at
    assert row.last_count_at == later.submitted_at
    body = api_as(w.users["guard"]).get(f"/api/v1/facilities/{w.facility.code}/headcount/").json()
    [unit] = [r for r in body["by_location"] if r["location"] == w.unit.code]
    assert unit["last_count_at"].endswith("-06:00")
    other = next(r for r in body["by_location"] if r["location"] == w.other_unit.code)
    assert other["last_count_at"] is None


def test_the_dashboard_shows_each_units_last_count_result_and_last_clean_count(w, client):
    counted(w)
    short = counted(w, present=range(5))
    client.force_login(w.users["supervisor"])
    html = client.get(f"/dashboard/{w.facility.code}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    cell = re.search(r'<td class="last-count">(.*?)</td>', html, re.S).group(1)
    # What the last count found, in red, linked to it; then when one last cleared.
    assert 'class="count-result unaccounted"' in cell
    assert re.search(r"1 unaccounted\s*· <time", cell)
    assert f'href="/counts/{short.pk}/"' in cell
    assert "last clean count" in cell
    assert "never counted" in html  # the other unit


def test_a_count_discrepancy_card_names_who_is_missing_and_links_the_recount(w, client):
    from alerts.services import reconcile_facility

    rollcall = counted(w, present=range(5))
    reconcile_facility(facility=w.facility)
    client.force_login(w.users["supervisor"])
    html = client.get(f"/dashboard/{w.facility.code}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Count discrepancy" in html
    assert w.booking(5) in html
    assert f"/counts/{rollcall.pk}/" in html
