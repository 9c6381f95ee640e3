"""Roll calls under real concurrency: threads, each on its own connection to
the real database (tests.concurrent.race), never mocks.

Each race runs a few rounds, since the interleaving differs from one round
to the next; what must hold holds in every one of them.
"""

import time
import uuid
from collections import defaultdict

import pytest

from custody import services
from custody.models import CheckIn, LedgerEvent, RollCall, RollCallEntry
from custody.services.rollcalls import rollcall_cancel
from tests import factories
from tests.concurrent import race
from tests.concurrent import token_client as signed_in
from tests.rollcall_world import count_world, entry


def token_client(user):
    """A fresh sign-in that reads its answers in English (asserted below)."""
    client = signed_in(user)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


ROLLCALLS = "/api/v1/rollcalls/"
ROUNDS = 5


def make_user(role, *facilities):
    return factories.UserFactory(role=role, facilities=list(facilities))


def world(people: int = 6):
    return count_world(factories.FacilityFactory(), make_user, people=people)


def start(client, w, **extra):
    return client.post(
        ROLLCALLS, {"location": w.unit.code, "kind": "formal", **extra}, format="json"
    )


def started(client, w) -> str:
    response = start(client, w)
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def post_marks(client, rollcall_id: str, marks: list):
    return client.post(f"{ROLLCALLS}{rollcall_id}/entries/", marks, format="json")


def submit(client, rollcall_id: str):
    return client.post(f"{ROLLCALLS}{rollcall_id}/submit/")


def answered(responses) -> list:
    """Every thread got an answer: a 500 raises in the test client, and the
    thread's result stays None."""
    assert all(r is not None for r in responses), "a request raised (HTTP 500)"
    return responses


def ledger_verifies(w) -> None:
    check = services.ledger_verify(facility=w.facility)
    assert check.ok, check.problem


@pytest.mark.django_db(transaction=True)
def test_two_tablets_posting_the_same_queued_marks_store_each_once():
    w = world()
    tablets = [token_client(w.users["guard"]), token_client(w.users["guard2"])]
    rollcall_id = started(tablets[0], w)
    for _round in range(ROUNDS):
        marks = [entry(w.booking(i), "absent" if i == 5 else "present") for i in range(6)]
        # The second tablet's queue holds the same marks, replayed in another order.
        responses = answered(
            race(
                [
                    lambda: post_marks(tablets[0], rollcall_id, marks),
                    lambda: post_marks(tablets[1], rollcall_id, marks[::-1]),
                ]
            )
        )
        assert [r.status_code for r in responses] == [200, 200], [r.json() for r in responses]
        outcomes = defaultdict(list)
        for response in responses:
            for item in response.json()["results"]:
                outcomes[item["id"]].append(item["status"])
        assert all(sorted(s) == ["accepted", "duplicate"] for s in outcomes.values()), outcomes
        ids = [m["id"] for m in marks]
        assert RollCallEntry.objects.filter(id__in=ids, rollcall_id=rollcall_id).count() == 6
        present = [m["id"] for m in marks if m["status"] == "present"]
        assert CheckIn.objects.filter(id__in=present).count() == len(present)
    assert RollCallEntry.objects.filter(rollcall_id=rollcall_id).count() == 6 * ROUNDS
    # One event per batch that stored something; the all-duplicate one records nothing.
    events = LedgerEvent.objects.filter(
        action="rollcall.entries", subject=f"rollcall:{rollcall_id}"
    )
    assert events.count() == ROUNDS
    ledger_verifies(w)


@pytest.mark.django_db(transaction=True)
def test_two_officers_submitting_the_same_count_at_once_get_one_200_and_one_409():
    w = world()
    officers = {name: token_client(w.users[name]) for name in ("guard", "supervisor")}
    for _round in range(ROUNDS):
        rollcall_id = started(officers["guard"], w)
        marks = [entry(w.booking(i)) for i in range(6)]
        assert post_marks(officers["guard"], rollcall_id, marks).json()["accepted"] == 6
        responses = answered(race([lambda c=c: submit(c, rollcall_id) for c in officers.values()]))
        codes = [r.status_code for r in responses]
        assert sorted(codes) == [200, 409], [r.json() for r in responses]
        assert "submitted" in responses[codes.index(409)].json()["detail"]
        winner = list(officers)[codes.index(200)]
        count = RollCall.objects.get(pk=rollcall_id)
        assert (count.status, count.submitted_by, count.present_count) == (
            "submitted",
            w.users[winner],
            6,
        )
        assert (
            LedgerEvent.objects.filter(
                action="rollcall.submitted", subject=f"rollcall:{rollcall_id}"
            ).count()
            == 1
        )
    ledger_verifies(w)


@pytest.mark.django_db(transaction=True)
def test_two_guards_starting_a_count_of_the_same_unit_at_once_make_one_count():
    w = world()
    guards = [token_client(w.users["guard"]), token_client(w.users["guard2"])]
    for _round in range(ROUNDS):
        responses = answered(race([lambda c=c: start(c, w) for c in guards]))
        by_code = {r.status_code: r.json() for r in responses}
        assert sorted(by_code) == [201, 409], [r.json() for r in responses]
        count_id = by_code[201]["id"]
        assert count_id in by_code[409]["detail"]  # the refusal names the count to join
        in_progress = RollCall.objects.filter(location=w.unit, status="in_progress")
        assert list(in_progress.values_list("pk", flat=True)) == [uuid.UUID(count_id)]
        assert (
            LedgerEvent.objects.filter(
                action="rollcall.started", subject=f"rollcall:{count_id}"
            ).count()
            == 1
        )
        rollcall_cancel(
            rollcall=in_progress.get(), by=w.users["supervisor"], reason="Started twice at once."
        )
    assert RollCall.objects.filter(location=w.unit).count() == ROUNDS
    ledger_verifies(w)


@pytest.mark.django_db(transaction=True)
def test_a_start_retried_while_the_first_is_in_flight_makes_one_count():
    """A tablet that gave up waiting sends its start again (same id) while the
    first is still being served: one count, never a 500."""
    w = world()
    guard = w.users["guard"]
    attempts = [token_client(guard), token_client(guard)]
    for _round in range(ROUNDS):
        key = str(uuid.uuid4())
        responses = answered(race([lambda c=c: start(c, w, id=key) for c in attempts]))
        codes = sorted(r.status_code for r in responses)
        assert codes in ([200, 201], [201, 409]), [r.json() for r in responses]
        if codes[1] == 409:
            assert key in responses[[r.status_code for r in responses].index(409)].json()["detail"]
        count = RollCall.objects.get(location=w.unit, status="in_progress")
        assert str(count.pk) == key
        rollcall_cancel(rollcall=count, by=guard, reason="Retry race, round over.")
    ledger_verifies(w)


@pytest.mark.django_db(transaction=True)
def test_marks_racing_a_submit_are_counted_or_refused_never_stored_after_it():
    w = world(people=12)
    tablet, officer = token_client(w.users["guard"]), token_client(w.users["supervisor"])
    for round_ in range(ROUNDS + 1):
        rollcall_id = started(tablet, w)
        batches = [[entry(w.booking(i))] for i in range(12)]

        def mark_everyone(rollcall_id=rollcall_id, batches=batches):
            return [post_marks(tablet, rollcall_id, batch) for batch in batches]

        def submit_soon(rollcall_id=rollcall_id, delay=0.06 * round_):
            time.sleep(delay)  # lands the submit among different marks each round
            return submit(officer, rollcall_id)

        marked, submitted = answered(race([mark_everyone, submit_soon]))
        assert submitted.status_code == 200, submitted.json()
        assert all(r.status_code == 200 for r in marked), [r.json() for r in marked]
        statuses = [r.json()["results"][0]["status"] for r in marked]
        # Accepted up to the submit, refused from it on: a count, once closed, stays closed.
        accepted = statuses.count("accepted")
        assert statuses == ["accepted"] * accepted + ["rejected"] * (12 - accepted), statuses
        for response in marked[accepted:]:
            assert "no more marks" in str(response.json()["results"][0]["errors"])
        stored = set(
            RollCallEntry.objects.filter(rollcall_id=rollcall_id).values_list("id", flat=True)
        )
        assert stored == {uuid.UUID(batch[0]["id"]) for batch in batches[:accepted]}
        count = RollCall.objects.get(pk=rollcall_id)
        assert (count.present_count, count.unaccounted_count) == (accepted, 12 - accepted)
    ledger_verifies(w)
