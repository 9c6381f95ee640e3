"""Verification is a recount (docs/api.md "Roll calls"): the server draws the
sample when verification starts, the verifier is not shown the first marks,
and a sampled person not found leaves the count unverified and opens
count_discrepancy naming both officers."""

import math
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.db.utils import DatabaseError
from django.test import Client
from django.utils import timezone, translation

from alerts.models import Alert, AlertKind, AlertStatus
from custody.exceptions import Conflict
from custody.models import CountVerification, LedgerEvent, RecountMark, RollCallEntry
from custody.services import recounts, rollcalls
from tests import factories
from tests.alerting import reconcile
from tests.rollcall_world import count_world, entry, verify_by_recount

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def in_english():
    with translation.override("en"):
        yield


@pytest.fixture
def w(facility, make_user):
    return count_world(facility, make_user, people=12)


def counted(w, *, by="guard", reader_marked=(), sight_marked=None, submit=True):
    """A count of the unit: ``reader_marked`` people marked present by a reader
    (fingerprint), ``sight_marked`` (default: everyone else) by the guard's eyes."""
    rollcall, _ = rollcalls.rollcall_start(location=w.unit, kind="formal", by=w.users[by])
    reader = set(reader_marked)
    sight = (
        [i for i in range(len(w.people)) if i not in reader]
        if sight_marked is None
        else sight_marked
    )
    for index in reader:
        RollCallEntryFactory(rollcall=rollcall, inmate=w.people[index]["inmate"])
    rollcalls.rollcall_record_entries(
        rollcall=rollcall,
        raw_entries=[entry(w.booking(i)) for i in sight],
        by=w.users[by],
    )
    if submit:
        rollcall = rollcalls.rollcall_submit(rollcall=rollcall, by=w.users[by])
    return rollcall


def RollCallEntryFactory(**kwargs):
    kwargs.setdefault("method", "fingerprint")
    return factories.RollCallEntryFactory(**kwargs)


def refused(sql, params=()):
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


# --- The draw --------------------------------------------------------------------


def test_the_sample_is_the_facilitys_share_with_a_floor_of_five(w):
    rollcall = counted(w, reader_marked=range(12), sight_marked=[])
    w.facility.recount_sample_percent = 10
    w.facility.save()

    verification = recounts.recount_start(rollcall=rollcall, by=w.users["guard2"])

    assert len(verification.sample) == 5  # 10 % of 12 is 2: the floor wins
    assert {row["reason"] for row in verification.sample} == {"random"}
    assert recounts.sample_size(200, 10) == 20
    assert recounts.sample_size(3, 10) == 3
    assert recounts.sample_size(41, 25) == math.ceil(41 * 0.25)


def test_everyone_marked_only_by_sight_is_always_drawn(w):
    rollcall = counted(w, reader_marked=range(4), sight_marked=range(4, 11))

    verification = recounts.recount_start(rollcall=rollcall, by=w.users["guard2"])

    by_sight = {w.booking(i) for i in range(4, 11)}
    drawn = {row["inmate"] for row in verification.sample}
    assert by_sight <= drawn
    assert len(drawn) == 7  # already above the floor and the share
    assert {r["inmate"] for r in verification.sample if r["reason"] == "persons_word"} == by_sight


def test_the_draw_is_in_the_ledger_and_a_retry_answers_the_same_draw(w):
    rollcall = counted(w, reader_marked=range(12), sight_marked=[])
    first = recounts.recount_start(rollcall=rollcall, by=w.users["guard2"])
    again = recounts.recount_start(rollcall=rollcall, by=w.users["guard2"])

    assert again.pk == first.pk and again.sample == first.sample
    [event] = LedgerEvent.objects.filter(action="rollcall.recount_drawn")
    assert event.data["sample"] == [row["inmate"] for row in first.sample]
    assert event.actor == f"user:{w.users['guard2'].username}"


def test_one_officer_at_a_time_and_never_one_who_took_part(w):
    rollcall = counted(w)
    with pytest.raises(PermissionDenied):
        recounts.recount_start(rollcall=rollcall, by=w.users["guard"])
    recounts.recount_start(rollcall=rollcall, by=w.users["guard2"])
    with pytest.raises(Conflict, match=w.users["guard2"].username):
        recounts.recount_start(rollcall=rollcall, by=w.users["supervisor"])


def test_a_count_in_progress_cannot_be_verified(w):
    rollcall = counted(w, submit=False)
    with pytest.raises(Conflict):
        recounts.recount_start(rollcall=rollcall, by=w.users["guard2"])


# --- The recount -------------------------------------------------------------------


def test_verifying_without_recounting_is_refused(w):
    rollcall = counted(w)
    with pytest.raises(Conflict, match="recount"):
        recounts.rollcall_verify(rollcall=rollcall, by=w.users["guard2"])
    recounts.recount_start(rollcall=rollcall, by=w.users["guard2"])
    with pytest.raises(Conflict, match="still to mark"):
        recounts.rollcall_verify(rollcall=rollcall, by=w.users["guard2"])
    rollcall.refresh_from_db()
    assert rollcall.status == "submitted"


def test_a_recount_that_finds_everyone_verifies_the_count(w):
    rollcall = verify_by_recount(counted(w), w.users["guard2"])

    assert rollcall.status == "verified"
    assert rollcall.verified_by == w.users["guard2"]
    assert CountVerification.objects.get(rollcall=rollcall).missing == []
    assert LedgerEvent.objects.filter(action="rollcall.verified").exists()


def test_only_drawn_people_with_a_persons_methods_after_the_draw(w):
    rollcall = counted(w, reader_marked=range(12), sight_marked=[])
    verification = recounts.recount_start(rollcall=rollcall, by=w.users["guard2"])
    drawn = verification.sample[0]["inmate"]
    not_drawn = next(
        p["booking_number"]
        for p in w.people
        if p["booking_number"] not in {row["inmate"] for row in verification.sample}
    )
    early = entry(drawn, at=timezone.now() - timedelta(hours=1))

    results = recounts.recount_record_marks(
        rollcall=rollcall,
        raw_marks=[
            entry(not_drawn),
            entry(drawn, method="fingerprint"),
            early,
            entry(drawn, "out_authorized"),
            entry(drawn),
        ],
        by=w.users["guard2"],
    )

    assert [r.status for r in results] == ["rejected"] * 4 + ["accepted"]
    assert "inmate" in results[0].errors and "method" in results[1].errors
    assert "observed_at" in results[2].errors and "status" in results[3].errors
    assert RecountMark.objects.count() == 1
    with pytest.raises(Conflict):
        recounts.recount_record_marks(
            rollcall=rollcall, raw_marks=[entry(drawn)], by=w.users["supervisor"]
        )


def test_a_mark_repeated_in_one_batch_is_stored_once(w):
    rollcall = counted(w)
    verification = recounts.recount_start(rollcall=rollcall, by=w.users["guard2"])
    mark = entry(verification.sample[0]["inmate"])

    results = recounts.recount_record_marks(
        rollcall=rollcall, raw_marks=[mark, mark], by=w.users["guard2"]
    )

    assert [r.status for r in results] == ["accepted", "duplicate"]
    assert RecountMark.objects.count() == 1


def test_the_verifier_is_not_shown_the_first_marks_of_the_drawn(w, api_as):
    rollcall = counted(w, reader_marked=range(12), sight_marked=[])
    verifier = api_as(w.users["guard2"])
    started = verifier.post(f"/api/v1/rollcalls/{rollcall.pk}/recount/")
    drawn = {row["inmate"] for row in started.json()["sample"]}

    shown = verifier.get(f"/api/v1/rollcalls/{rollcall.pk}/").json()
    other = api_as(w.users["supervisor"]).get(f"/api/v1/rollcalls/{rollcall.pk}/").json()

    assert started.status_code == 200
    assert all("mark" not in row or row["mark"] is None for row in started.json()["sample"])
    assert all(line["mark"] is None for line in shown["expected"] if line["inmate"] in drawn)
    assert not [e for e in shown["entries"] if e["inmate"] in drawn]
    assert all(line["mark"] == "present" for line in other["expected"])  # others see them


def test_the_api_leads_through_start_marks_and_verify(w, api_as):
    rollcall = counted(w)
    verifier = api_as(w.users["guard2"])
    sample = verifier.post(f"/api/v1/rollcalls/{rollcall.pk}/recount/").json()["sample"]
    early = verifier.post(f"/api/v1/rollcalls/{rollcall.pk}/verify/", HTTP_ACCEPT_LANGUAGE="en")
    marks = verifier.post(
        f"/api/v1/rollcalls/{rollcall.pk}/recount/entries/",
        [entry(row["inmate"]) for row in sample],
        format="json",
    )
    done = verifier.post(f"/api/v1/rollcalls/{rollcall.pk}/verify/")
    again = verifier.get(f"/api/v1/rollcalls/{rollcall.pk}/recount/").json()

    assert early.status_code == 409 and "still to mark" in early.json()["detail"]
    assert marks.json()["accepted"] == len(sample)
    assert done.status_code == 200 and done.json()["status"] == "verified"
    assert again["finished_at"] and again["missing"] == []
    assert {row["mark"] for row in again["sample"]} == {"present"}


def test_no_recount_yet_is_a_404_and_other_facilities_see_nothing(w, api_as, other_facility):
    rollcall = counted(w)
    outsider = factories.UserFactory(role="supervisor", facilities=[other_facility])
    assert (
        api_as(w.users["guard2"]).get(f"/api/v1/rollcalls/{rollcall.pk}/recount/").status_code
        == 404
    )
    assert api_as(outsider).post(f"/api/v1/rollcalls/{rollcall.pk}/recount/").status_code == 404


# --- A recount that does not find someone -------------------------------------------------


def test_a_drawn_person_not_found_leaves_the_count_unverified_and_names_both(w):
    rollcall = counted(w)
    missing = w.booking(3)
    started = timezone.now()
    reconcile(w.facility, started)

    rollcall = verify_by_recount(rollcall, w.users["guard2"], not_found={missing})
    reconcile(w.facility, timezone.now() + timedelta(seconds=15))

    assert rollcall.status == "submitted"
    assert [row["inmate"] for row in CountVerification.objects.get().missing] == [missing]
    [alert] = Alert.objects.filter(kind=AlertKind.COUNT_DISCREPANCY)
    assert alert.details["submitted_by"] == w.users["guard"].username
    assert alert.details["verified_by"] == w.users["guard2"].username
    assert [row["inmate"] for row in alert.details["unaccounted"]] == [missing]
    assert alert.escalation_level >= 1
    assert LedgerEvent.objects.filter(action="rollcall.recount_failed").exists()
    with pytest.raises(Conflict):
        recounts.recount_start(rollcall=rollcall, by=w.users["supervisor"])

    # A whole count of the unit that finds everyone, after the recount, clears it.
    clean = counted(w, by="supervisor")
    assert clean.unaccounted_count == 0
    rollcalls_recount = rollcalls.rollcall_start(
        location=w.unit, kind="formal", by=w.users["guard"], recount_of=rollcall
    )[0]
    rollcalls.rollcall_record_entries(
        rollcall=rollcalls_recount,
        raw_entries=[entry(p["booking_number"]) for p in w.people],
        by=w.users["guard"],
    )
    rollcalls.rollcall_submit(rollcall=rollcalls_recount, by=w.users["guard"])
    reconcile(w.facility, timezone.now() + timedelta(seconds=30))
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED


# --- The database keeps the draw -------------------------------------------------------


def test_the_draw_and_the_marks_cannot_be_rewritten_even_in_sql(w):
    rollcall = counted(w)
    verification = recounts.recount_start(rollcall=rollcall, by=w.users["guard2"])
    recounts.recount_record_marks(
        rollcall=rollcall, raw_marks=[entry(verification.sample[0]["inmate"])], by=w.users["guard2"]
    )
    pk = verification.pk
    refused("UPDATE custody_countverification SET sample = '[]' WHERE id = %s", [pk])
    refused(
        "UPDATE custody_countverification SET verifier_id = %s WHERE id = %s",
        [w.users["supervisor"].pk, pk],
    )
    refused("DELETE FROM custody_countverification WHERE id = %s", [pk])
    refused("UPDATE custody_recountmark SET status = 'absent'")
    refused("DELETE FROM custody_recountmark")
    verify_by_recount(rollcall, w.users["guard2"])
    refused("UPDATE custody_countverification SET missing = '[]' WHERE id = %s", [pk])


# --- The tablet page ----------------------------------------------------------------------


def test_the_tablet_leads_the_verifier_through_the_recount(w):
    rollcall = counted(w, reader_marked=range(12), sight_marked=[])
    client = Client()
    client.force_login(w.users["guard2"])

    begin = client.post(f"/counts/{rollcall.pk}/verify/")
    page = client.get(begin["Location"])
    verification = CountVerification.objects.get()
    for row in verification.sample:
        assert row["name"] in page.content.decode()
        client.post(
            f"/counts/{rollcall.pk}/recount/mark/", {"inmate": row["inmate"], "status": "present"}
        )
    finish = client.post(f"/counts/{rollcall.pk}/recount/finish/")

    assert begin.status_code == 302 and begin["Location"].endswith("/recount/")
    assert 'id="recount-finish" disabled' in page.content.decode()
    assert finish.status_code == 302
    rollcall.refresh_from_db()
    assert rollcall.status == "verified"
    assert (
        RollCallEntry.objects.filter(rollcall=rollcall, recorded_by=w.users["guard2"]).count() == 0
    )


def test_the_counter_is_refused_on_the_count_screen(w):
    rollcall = counted(w)
    client = Client()
    client.force_login(w.users["guard"])
    refused_page = client.post(f"/counts/{rollcall.pk}/verify/", HTTP_ACCEPT_LANGUAGE="en")
    assert refused_page.status_code == 403
    assert "second officer" in refused_page.content.decode()
