"""/api/v1/movements/ and /api/v1/cell-assignments/ (docs/api.md "Movements")."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from custody import services
from custody.models import CellAssignment, Inmate, LedgerEvent, Movement
from tests import factories
from tests.concurrent import race, token_client
from tests.invariants import custody_invariant_problems

pytestmark = pytest.mark.django_db

ROLES = ["guard", "supervisor", "auditor", "admin"]
NOW = "2026-11-24 14:00:00+00:00"


@pytest.fixture
def w(facility, other_facility, make_user, api_as):
    facility.code, other_facility.code = "FJ2", "PAV"
    facility.save()
    other_facility.save()
    cell = factories.CellFactory(facility=facility, code="A-01")
    factories.CellFactory(facility=facility, code="A-02", parent=cell.parent)
    factories.CellFactory(facility=other_facility, code="P-01")
    users = {role: make_user(role, facility) for role in ROLES}
    users["supervisor2"] = make_user("supervisor", facility)
    users["destination"] = make_user("supervisor", other_facility)
    factories.InmateFactory(facility=facility, cell=cell, booking_number="GT-1")

    class World:
        def client(self, who):
            return api_as(users[who])

    world = World()
    world.facility, world.other, world.users = facility, other_facility, users
    return world


def later(hours):
    return (timezone.now() + timedelta(hours=hours)).isoformat()


def court(**extra):
    return {
        "inmate": "GT-1",
        "kind": "court",
        "destination": "Juzgado de Mixco",
        "expected_back_at": later(4),
        **extra,
    }


def transfer(**extra):
    return {
        "inmate": "GT-1",
        "kind": "transfer",
        "to_facility": "PAV",
        "expected_arrival_at": later(6),
        **extra,
    }


def post(client, path, body=None):
    return client.post(path, body or {}, format="json")


def act(client, movement_id, step, body=None):
    return post(client, f"/api/v1/movements/{movement_id}/{step}/", body)


# --- The happy paths -------------------------------------------------------------


@time_machine.travel(NOW, tick=False)
def test_a_court_trip_through_the_api(w):
    sup = w.client("supervisor")
    r = post(sup, "/api/v1/movements/", court())
    assert r.status_code == 201, r.json()
    body = r.json()
    assert {key: body[key] for key in ["inmate", "kind", "status", "facility"]} == {
        "inmate": "GT-1",
        "kind": "court",
        "status": "requested",
        "facility": "FJ2",
    }
    assert body["from_location"] == "A-01" and body["to_location"] is None
    assert body["expected_back_at"] == "2026-11-24T12:00:00-06:00"  # 18:00 UTC
    assert body["requested_by"] == w.users["supervisor"].username
    assert body["requested_at"] == "2026-11-24T08:00:00-06:00"  # the facility's own time
    movement = body["id"]

    # Every departure: a second officer approves (invariant 7).
    assert act(sup, movement, "approve").status_code == 403
    assert act(w.client("supervisor2"), movement, "approve").json()["status"] == "approved"
    r = act(sup, movement, "depart")
    assert r.json()["status"] == "departed"
    inmate = sup.get("/api/v1/inmates/GT-1/").json()
    assert (inmate["status"], inmate["cell"]) == ("out_authorized", "A-01")

    r = act(sup, movement, "arrive")
    assert r.status_code == 200, r.json()
    assert r.json()["status"] == "completed"
    assert r.json()["completed_by"] == w.users["supervisor"].username
    assert sup.get("/api/v1/inmates/GT-1/").json()["status"] == "in_custody"
    assert services.ledger_verify(facility=w.facility).ok
    assert custody_invariant_problems() == []


def test_a_transfer_is_approved_by_a_second_officer_and_received_by_the_destination(w):
    sup, second, dest = w.client("supervisor"), w.client("supervisor2"), w.client("destination")
    movement = post(sup, "/api/v1/movements/", transfer()).json()["id"]

    r = act(sup, movement, "approve")
    assert r.status_code == 403, r.json()
    assert act(second, movement, "approve").status_code == 200
    assert act(sup, movement, "depart").json()["status"] == "departed"

    # The destination sees the incoming transfer; the person is in neither count.
    listed = dest.get("/api/v1/movements/", {"status": "departed"}).json()
    assert [m["id"] for m in listed["results"]] == [movement]
    assert sup.get("/api/v1/inmates/GT-1/").json()["status"] == "in_transit"
    assert dest.get("/api/v1/inmates/GT-1/").status_code == 404

    assert act(sup, movement, "arrive", {"cell": "P-01"}).status_code == 403
    r = act(dest, movement, "arrive", {"cell": "P-01"})
    assert r.status_code == 200, r.json()
    assert r.json()["to_location"] == "P-01"
    inmate = dest.get("/api/v1/inmates/GT-1/").json()
    assert (inmate["facility"], inmate["cell"], inmate["status"]) == ("PAV", "P-01", "in_custody")
    assert sup.get("/api/v1/inmates/GT-1/").status_code == 404  # no longer ours
    assert services.ledger_verify(facility=w.other).ok


def test_a_transfer_arrival_names_a_cell_of_the_destination(w):
    sup, second, dest = w.client("supervisor"), w.client("supervisor2"), w.client("destination")
    movement = post(sup, "/api/v1/movements/", transfer()).json()["id"]
    act(second, movement, "approve")
    act(sup, movement, "depart")
    r = act(dest, movement, "arrive", {"cell": "A-01"})  # a cell of the origin
    assert r.status_code == 400 and "cell" in r.json()["errors"]
    r = act(dest, movement, "arrive")
    assert r.status_code == 400 and "cell" in r.json()["errors"]


def test_a_release_is_two_officers_and_one_gate(w):
    sup, second = w.client("supervisor"), w.client("supervisor2")
    movement = post(sup, "/api/v1/movements/", {"inmate": "GT-1", "kind": "release"}).json()["id"]
    r = act(sup, movement, "approve")
    assert r.status_code == 403 and r.json()["detail"]
    assert act(second, movement, "approve").status_code == 200
    r = act(sup, movement, "depart")
    assert (r.json()["status"], r.json()["departed_by"]) == ("completed", r.json()["completed_by"])
    assert sup.get("/api/v1/inmates/GT-1/").json()["status"] == "released"
    assert custody_invariant_problems() == []


def test_cancel_takes_an_optional_reason(w):
    sup = w.client("supervisor")
    first = post(sup, "/api/v1/movements/", court()).json()["id"]
    r = act(sup, first, "cancel", {"reason": "Audiencia suspendida"})
    assert (r.json()["status"], r.json()["cancel_reason"]) == ("cancelled", "Audiencia suspendida")
    second = post(sup, "/api/v1/movements/", court()).json()["id"]
    assert act(sup, second, "cancel").json()["status"] == "cancelled"


# --- Illegal transitions are 409 ---------------------------------------------------


def test_illegal_transitions_answer_409(w):
    sup = w.client("supervisor")
    movement = post(sup, "/api/v1/movements/", court()).json()["id"]
    for step in ["depart", "arrive"]:
        r = act(sup, movement, step)
        assert r.status_code == 409, (step, r.json())
        assert r.json()["detail"]
    second = w.client("supervisor2")
    act(second, movement, "approve")
    assert act(second, movement, "approve").status_code == 409
    act(sup, movement, "depart")
    assert act(sup, movement, "cancel").status_code == 409
    assert act(sup, movement, "depart").status_code == 409
    # One open movement per person.
    assert post(sup, "/api/v1/movements/", court()).status_code == 409


def test_admission_or_return_of_someone_in_custody_answers_409(w):
    sup = w.client("supervisor")
    for kind in ["admission", "return"]:
        body = {"inmate": "GT-1", "kind": kind, "to_location": "A-02"}
        r = post(sup, "/api/v1/movements/", body)
        assert r.status_code == 409, (kind, r.json())


def test_a_cell_move_has_no_departure(w):
    sup = w.client("supervisor")
    body = {"inmate": "GT-1", "kind": "cell_move", "to_location": "A-02"}
    movement = post(sup, "/api/v1/movements/", body).json()["id"]
    act(sup, movement, "approve")
    assert act(sup, movement, "depart").status_code == 409
    assert act(sup, movement, "arrive").json()["status"] == "completed"


def test_bad_requests_answer_400(w):
    sup = w.client("supervisor")
    cases = [
        court(expected_back_at=None),
        court(kind="teleport"),
        court(inmate="GT-NOBODY"),
        transfer(to_facility="NOWHERE"),
        {"inmate": "GT-1", "kind": "cell_move", "to_location": "Z-99"},
        {"inmate": "GT-1", "kind": "cell_move", "to_location": "A-01"},  # already there
    ]
    for body in cases:
        r = post(sup, "/api/v1/movements/", body)
        assert r.status_code == 400, (body, r.json())
        assert r.json()["errors"]
    assert not Movement.objects.exclude(kind="admission").exists()


def test_movements_are_never_edited_or_deleted(w):
    sup = w.client("supervisor")
    movement = post(sup, "/api/v1/movements/", court()).json()["id"]
    path = f"/api/v1/movements/{movement}/"
    assert sup.put(path, court(), format="json").status_code == 405
    assert sup.patch(path, {"reason": "x"}, format="json").status_code == 405
    assert sup.delete(path).status_code == 405


# --- Who may do what, and who sees what ------------------------------------------------


def test_every_role_reads_and_only_supervisors_and_admins_write(w):
    # Requested by a third officer, so that approving it is legal for each role.
    movement = post(w.client("supervisor2"), "/api/v1/movements/", court()).json()["id"]
    for role in ROLES:
        client = w.client(role)
        assert client.get("/api/v1/movements/").status_code == 200, role
        assert client.get(f"/api/v1/movements/{movement}/").status_code == 200, role
        assert client.get("/api/v1/cell-assignments/").status_code == 200, role
        writes = [
            post(client, "/api/v1/movements/", court()),
            *(act(client, movement, step) for step in ["approve", "depart", "arrive", "cancel"]),
        ]
        codes = [r.status_code for r in writes]
        if role in ("guard", "auditor"):
            assert codes == [403] * 5, (role, codes)
        else:
            assert 403 not in codes, (role, codes)  # 201/200 or 409 by the state machine


def test_another_facility_sees_nothing_and_acts_on_nothing(w, make_user, api_as):
    sup = w.client("supervisor")
    movement = post(sup, "/api/v1/movements/", court()).json()["id"]
    outsider = api_as(make_user("supervisor", w.other))
    assert outsider.get("/api/v1/movements/").json()["count"] == 0
    assert outsider.get(f"/api/v1/movements/{movement}/").status_code == 404
    assert act(outsider, movement, "approve").status_code == 404
    assert outsider.get("/api/v1/cell-assignments/").json()["count"] == 0
    # Nor can it name our inmate in a request.
    assert post(outsider, "/api/v1/movements/", court()).status_code == 400


def test_filters(w):
    sup = w.client("supervisor")
    post(sup, "/api/v1/movements/", court())

    def ids(**params):
        r = sup.get("/api/v1/movements/", params)
        assert r.status_code == 200, r.json()
        return [m["kind"] for m in r.json()["results"]]

    assert ids() == ["court", "admission"]
    assert ids(kind="court") == ["court"]
    assert ids(status="completed") == ["admission"]
    assert ids(inmate="GT-1", facility="FJ2") == ["court", "admission"]
    assert ids(facility="PAV") == []
    assert sup.get("/api/v1/movements/", {"kind": "teleport"}).status_code == 400
    assert sup.get("/api/v1/movements/", {"status": ""}).status_code == 400


# --- Admission and cell changes on the record ----------------------------------------------


def test_admission_through_the_api_records_the_movement_the_cell_and_the_ledger(w):
    sup = w.client("supervisor")
    body = {
        "booking_number": "GT-2",
        "first_name": "Pedro",
        "last_name": "Tzoc",
        "facility": "FJ2",
        "cell": "A-02",
        "security_level": "maximum",
    }
    assert post(sup, "/api/v1/inmates/", body).status_code == 201
    [admission] = sup.get("/api/v1/movements/", {"inmate": "GT-2"}).json()["results"]
    username = w.users["supervisor"].username
    assert (admission["kind"], admission["status"], admission["to_location"]) == (
        "admission",
        "completed",
        "A-02",
    )
    assert admission["requested_by"] == admission["approved_by"] == username
    [row] = sup.get("/api/v1/cell-assignments/", {"inmate": "GT-2"}).json()["results"]
    assert (row["cell"], row["facility"], row["ended_at"]) == ("A-02", "FJ2", None)
    event = LedgerEvent.objects.get(subject="inmate:GT-2")
    assert (event.action, event.actor) == ("inmate.admitted", f"user:{username}")


def test_patching_the_cell_is_a_cell_move_with_history(w):
    sup = w.client("supervisor")
    r = sup.patch("/api/v1/inmates/GT-1/", {"cell": "A-02"}, format="json")
    assert r.status_code == 200, r.json()
    [move] = sup.get("/api/v1/movements/", {"kind": "cell_move"}).json()["results"]
    assert (move["from_location"], move["to_location"], move["status"]) == (
        "A-01",
        "A-02",
        "completed",
    )
    assert move["requested_by"] == w.users["supervisor"].username
    rows = sup.get("/api/v1/cell-assignments/", {"inmate": "GT-1"}).json()["results"]
    assert [(row["cell"], row["ended_at"] is None) for row in rows] == [
        ("A-01", False),
        ("A-02", True),
    ]
    assert [
        r["cell"] for r in sup.get("/api/v1/cell-assignments/", {"cell": "A-02"}).json()["results"]
    ] == ["A-02"]
    assert custody_invariant_problems() == []


def test_patching_the_cell_during_a_movement_answers_409(w):
    sup = w.client("supervisor")
    post(sup, "/api/v1/movements/", court())
    r = sup.patch("/api/v1/inmates/GT-1/", {"cell": "A-02"}, format="json")
    assert r.status_code == 409, r.json()
    assert Inmate.objects.get(booking_number="GT-1").cell.code == "A-01"
    assert CellAssignment.objects.filter(ended_at=None).count() == 1


# --- Two supervisors at the same moment --------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_supervisors_approving_the_same_movement_at_once_get_one_200_and_one_409():
    facility = factories.FacilityFactory()
    cell = factories.CellFactory(facility=facility)
    inmate = factories.InmateFactory(facility=facility, cell=cell)
    requester, one, two = (
        factories.UserFactory(role="supervisor", facilities=[facility]) for _ in range(3)
    )
    clients = [token_client(one), token_client(two)]
    for _round in range(5):
        movement = services.movement_request(inmate=inmate, kind="release", by=requester)
        responses = race([lambda c=c: act(c, movement.pk, "approve") for c in clients])
        assert sorted(r.status_code for r in responses) == [200, 409], [r.json() for r in responses]
        movement.refresh_from_db()
        assert movement.status == "approved"
        assert movement.approved_by in (one, two)
        services.movement_cancel(movement=movement, by=requester)
    assert services.ledger_verify(facility=facility).ok


@pytest.mark.django_db(transaction=True)
def test_two_requests_for_the_same_person_at_once_make_one_movement():
    facility = factories.FacilityFactory()
    cell = factories.CellFactory(facility=facility)
    inmate = factories.InmateFactory(facility=facility, cell=cell)
    one, two = (factories.UserFactory(role="supervisor", facilities=[facility]) for _ in range(2))
    body = {
        "inmate": inmate.booking_number,
        "kind": "medical",
        "expected_back_at": later(3),
    }
    responses = race(
        [lambda c=c: post(c, "/api/v1/movements/", body) for c in map(token_client, [one, two])]
    )
    assert sorted(r.status_code for r in responses) == [201, 409]
    assert Movement.objects.filter(inmate=inmate, kind="medical").count() == 1
