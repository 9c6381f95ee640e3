"""The movement state machine (custody.services.movements) and invariant 1."""

from datetime import timedelta
from types import SimpleNamespace

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from custody import services
from custody.exceptions import Conflict
from custody.models import (
    CellAssignment,
    Inmate,
    InmateStatus,
    LedgerEvent,
    Movement,
    MovementKind,
    MovementStatus,
    SecurityLevel,
)
from custody.services.movements import STEP_FROM
from tests import factories
from tests.invariants import custody_invariant_problems

pytestmark = pytest.mark.django_db

K, S = MovementKind, MovementStatus
OUTINGS = [K.COURT, K.MEDICAL, K.TEMPORARY_RELEASE]
STEPS = {
    "approve": services.movement_approve,
    "depart": services.movement_depart,
    "arrive": services.movement_arrive,
    "cancel": services.movement_cancel,
}
# The legal path of each kind, from requested to completed.
PATHS = {
    **{kind: ["approve", "depart", "arrive"] for kind in [*OUTINGS, K.TRANSFER]},
    K.RELEASE: ["approve", "depart"],
    **{kind: ["approve", "arrive"] for kind in [K.CELL_MOVE, K.ADMISSION, K.RETURN]},
}


@pytest.fixture(autouse=True)
def _messages_in_english():
    # Messages are matched below; the Spanish catalogue must not change that.
    with translation.override("en"):
        yield


@pytest.fixture
def w(facility, other_facility, make_user):
    a1 = factories.CellFactory(facility=facility, code="A-01")
    a2 = factories.CellFactory(facility=facility, code="A-02", parent=a1.parent)
    z1 = factories.CellFactory(facility=other_facility, code="Z-01")
    return SimpleNamespace(
        facility=facility,
        other=other_facility,
        a1=a1,
        a2=a2,
        z1=z1,
        sup=make_user("supervisor", facility),
        sup2=make_user("supervisor", facility),
        dest=make_user("supervisor", other_facility),
        # Assigned to both facilities, so only the state machine can refuse her.
        boss=make_user("admin", facility, other_facility),
        guard=make_user("guard", facility),
        inmate=factories.InmateFactory(facility=facility, cell=a1, booking_number="GT-1"),
    )


def request(w, kind, *, by=None, inmate=None, **fields):
    """A valid request of ``kind`` with the fields it needs."""
    now = timezone.now()
    defaults = {
        **{k: {"expected_back_at": now + timedelta(hours=4)} for k in OUTINGS},
        K.TRANSFER: {"to_facility": w.other, "expected_arrival_at": now + timedelta(hours=6)},
        K.CELL_MOVE: {"to_location": w.a2},
        K.ADMISSION: {"to_location": w.a2},
        K.RETURN: {"to_location": w.a2},
        K.RELEASE: {},
    }[kind]
    return services.movement_request(
        inmate=inmate or w.inmate, kind=kind, by=by or w.sup, **{**defaults, **fields}
    )


def step(w, movement, name, **kwargs):
    """One legal step by the right officer: a second one approves, the
    destination receives a transfer."""
    by = {
        "approve": w.sup2,
        "arrive": w.dest if movement.kind == K.TRANSFER else w.sup,
    }.get(name, w.sup)
    if name == "arrive" and movement.kind == K.TRANSFER and "cell" not in kwargs:
        kwargs["cell"] = w.z1
    return STEPS[name](movement=movement, by=by, **kwargs)


def prepare(w, kind):
    """Puts the inmate where ``kind`` can start: released for an admission,
    escaped for a return (the alerting side will set that; here, directly)."""
    if kind == K.ADMISSION:
        release = request(w, K.RELEASE)
        for name in PATHS[K.RELEASE]:
            step(w, release, name)
    elif kind == K.RETURN:
        Inmate.objects.filter(pk=w.inmate.pk).update(status=InmateStatus.ESCAPED)
    w.inmate.refresh_from_db()


def inmate_events(inmate, facility=None):
    qs = LedgerEvent.objects.filter(subject=f"inmate:{inmate.booking_number}")
    if facility is not None:
        qs = qs.filter(facility=facility)
    return list(qs.order_by("facility_id", "seq").values_list("action", flat=True))


def assert_invariant():
    assert custody_invariant_problems() == []


# --- Outings -------------------------------------------------------------------


@pytest.mark.parametrize("kind", OUTINGS)
def test_an_outing_keeps_the_cell_and_restarts_the_schedule_at_the_gate(w, kind):
    with time_machine.travel("2026-11-24 14:00:00+00:00", tick=False) as clock:
        movement = request(w, kind, destination="Juzgado de Mixco")
        services.movement_approve(movement=movement, by=w.sup2)  # a second officer
        services.movement_depart(movement=movement, by=w.sup)
        w.inmate.refresh_from_db()
        assert (w.inmate.status, w.inmate.cell) == (InmateStatus.OUT_AUTHORIZED, w.a1)
        assert w.inmate.next_due_at is None  # expected_back_at is watched instead
        assert CellAssignment.objects.get(inmate=w.inmate, ended_at=None).cell == w.a1
        assert_invariant()

        clock.shift(timedelta(hours=3))
        services.movement_arrive(movement=movement, by=w.sup)
        back = timezone.now()

    w.inmate.refresh_from_db()
    assert w.inmate.status == InmateStatus.IN_CUSTODY
    assert w.inmate.last_seen_at == back
    assert w.inmate.next_due_at == back + w.facility.check_interval(SecurityLevel.MEDIUM)
    assert (movement.status, movement.completed_by, movement.completed_at) == (
        S.COMPLETED,
        w.sup,
        back,
    )
    assert CellAssignment.objects.filter(inmate=w.inmate).count() == 1
    assert inmate_events(w.inmate) == [
        "inmate.admitted",
        "movement.requested",
        "movement.approved",
        "movement.departed",
        "movement.completed",
    ]
    assert services.ledger_verify(facility=w.facility).ok
    assert_invariant()


def test_an_outing_needs_a_future_expected_back_time(w):
    with pytest.raises(ValidationError) as missing:
        request(w, K.COURT, expected_back_at=None)
    assert "expected_back_at" in missing.value.message_dict
    with pytest.raises(ValidationError):
        request(w, K.MEDICAL, expected_back_at=timezone.now() - timedelta(minutes=1))
    assert not Movement.objects.filter(kind__in=OUTINGS).exists()


def test_fields_a_kind_does_not_use_are_refused(w):
    with pytest.raises(ValidationError) as exc:
        request(w, K.COURT, to_facility=w.other)
    assert list(exc.value.message_dict) == ["to_facility"]
    with pytest.raises(ValidationError):
        request(w, K.RELEASE, to_location=w.a2)


# --- Every transition, legal and illegal -----------------------------------------


@pytest.mark.parametrize("kind", list(PATHS))
def test_each_kind_follows_its_path_and_refuses_every_other_step(w, kind):
    prepare(w, kind)
    movement = request(w, kind)
    path = PATHS[kind]
    for position in range(len(path) + 1):
        legal = {path[position]} if position < len(path) else set()
        if movement.status in (S.REQUESTED, S.APPROVED):
            legal.add("cancel")
        for name in set(STEPS) - legal:
            before = movement.status
            with pytest.raises(Conflict, match=f"Movement {movement.pk} .* is {before}"):
                STEPS[name](movement=movement, by=w.boss)
            movement.refresh_from_db()
            assert movement.status == before
        assert_invariant()
        if position < len(path):
            step(w, movement, path[position])
            assert_invariant()
    assert movement.status == S.COMPLETED


@pytest.mark.parametrize("kind", list(PATHS))
@pytest.mark.parametrize("after", [0, 1])
def test_a_movement_can_be_cancelled_before_anyone_leaves(w, kind, after):
    prepare(w, kind)
    status_before = w.inmate.status
    movement = request(w, kind)
    if after:
        step(w, movement, "approve")
    services.movement_cancel(movement=movement, by=w.sup, reason="Audiencia suspendida")
    assert (movement.status, movement.cancelled_by) == (S.CANCELLED, w.sup)
    assert movement.cancel_reason == "Audiencia suspendida"
    w.inmate.refresh_from_db()
    assert w.inmate.status == status_before
    for name in STEPS:
        with pytest.raises(Conflict, match="cancelled"):
            STEPS[name](movement=movement, by=w.boss)
    # Cancelled is closed: the person may have a new movement.
    request(w, kind)
    assert_invariant()


def test_a_person_who_has_left_cannot_be_cancelled_back(w):
    movement = request(w, K.COURT)
    step(w, movement, "approve")
    step(w, movement, "depart")
    with pytest.raises(Conflict, match="departed"):
        services.movement_cancel(movement=movement, by=w.sup)


def test_a_cell_move_has_no_departure(w):
    movement = request(w, K.CELL_MOVE)
    step(w, movement, "approve")
    with pytest.raises(Conflict):
        services.movement_depart(movement=movement, by=w.sup)


# --- One open movement; who may be moved ---------------------------------------------


def test_a_second_open_movement_is_refused(w):
    request(w, K.COURT)
    with pytest.raises(Conflict, match="open movement"):
        request(w, K.MEDICAL, by=w.sup2)


def test_the_database_refuses_two_open_movements_too(w):
    first = request(w, K.COURT)
    with pytest.raises(IntegrityError), transaction.atomic():
        Movement.objects.create(
            inmate=w.inmate,
            facility=w.facility,
            kind=K.MEDICAL,
            requested_by=w.sup,
            requested_at=first.requested_at,
        )


@pytest.mark.parametrize("kind", [K.ADMISSION, K.RETURN])
def test_someone_in_custody_cannot_be_admitted_or_returned(w, kind):
    with pytest.raises(Conflict, match="in custody"):
        request(w, kind)


@pytest.mark.parametrize("kind", [K.COURT, K.CELL_MOVE, K.TRANSFER, K.RELEASE])
def test_only_people_in_custody_are_moved_sent_out_or_released(w, kind):
    prepare(w, K.ADMISSION)  # now released
    with pytest.raises(Conflict, match="released"):
        request(w, kind)


def test_a_cell_move_goes_to_another_cell_of_the_same_facility(w):
    with pytest.raises(ValidationError, match="already"):
        request(w, K.CELL_MOVE, to_location=w.a1)
    with pytest.raises(ValidationError):
        request(w, K.CELL_MOVE, to_location=w.z1)
    with pytest.raises(ValidationError):
        request(w, K.CELL_MOVE, to_location=w.a1.parent)  # a unit, not a cell


def test_a_transfer_goes_to_another_facility_and_needs_an_arrival_time(w):
    with pytest.raises(ValidationError) as exc:
        request(w, K.TRANSFER, to_facility=w.facility, expected_arrival_at=None)
    assert set(exc.value.message_dict) == {"to_facility", "expected_arrival_at"}


# --- Who may act -----------------------------------------------------------------


def test_guards_do_not_request_movements(w):
    with pytest.raises(PermissionDenied):
        request(w, K.COURT, by=w.guard)


def test_officers_of_another_facility_cannot_approve(w):
    movement = request(w, K.COURT)
    with pytest.raises(PermissionDenied, match=w.facility.code):
        services.movement_approve(movement=movement, by=w.dest)


@pytest.mark.parametrize("kind", [*OUTINGS, K.RELEASE, K.TRANSFER])
def test_every_departure_needs_a_second_officer(w, kind):
    movement = request(w, kind)
    with pytest.raises(PermissionDenied, match="second officer"):
        services.movement_approve(movement=movement, by=w.sup)
    movement.refresh_from_db()
    assert movement.status == S.REQUESTED
    services.movement_approve(movement=movement, by=w.sup2)
    assert (movement.status, movement.approved_by) == (S.APPROVED, w.sup2)


def test_the_database_refuses_a_self_approved_release(w):
    """Invariant 7 held by PostgreSQL, not only by the service."""
    movement = request(w, K.RELEASE)
    with pytest.raises(IntegrityError), transaction.atomic():
        Movement.objects.filter(pk=movement.pk).update(
            status=S.APPROVED, approved_by=w.sup, approved_at=timezone.now()
        )


# --- Transfer, release, cell move, re-admission, return ----------------------------


def test_a_transfer_is_counted_by_neither_facility_until_the_destination_receives_it(w):
    def in_custody(facility):
        return Inmate.objects.filter(facility=facility, status=InmateStatus.IN_CUSTODY).count()

    movement = request(w, K.TRANSFER)
    step(w, movement, "approve")
    step(w, movement, "depart")
    w.inmate.refresh_from_db()
    assert (w.inmate.status, w.inmate.cell, w.inmate.next_due_at) == (
        InmateStatus.IN_TRANSIT,
        None,
        None,
    )
    assert (in_custody(w.facility), in_custody(w.other)) == (0, 0)
    assert not CellAssignment.objects.filter(inmate=w.inmate, ended_at=None).exists()
    assert_invariant()

    # The origin cannot sign for an arrival at the destination.
    with pytest.raises(PermissionDenied, match=w.other.code):
        services.movement_arrive(movement=movement, by=w.sup, cell=w.z1)
    services.movement_arrive(movement=movement, by=w.dest, cell=w.z1)

    w.inmate.refresh_from_db()
    assert (w.inmate.facility, w.inmate.cell, w.inmate.status) == (
        w.other,
        w.z1,
        InmateStatus.IN_CUSTODY,
    )
    assert w.inmate.next_due_at == w.inmate.last_seen_at + w.other.check_interval(
        w.inmate.security_level
    )
    assert (in_custody(w.facility), in_custody(w.other)) == (0, 1)
    history = list(CellAssignment.objects.filter(inmate=w.inmate).values_list("cell", "ended_at"))
    assert [cell for cell, _ in history] == [w.a1.pk, w.z1.pk]
    assert history[0][1] is not None and history[1][1] is None
    # Departure in the origin's chain, arrival in the destination's.
    assert inmate_events(w.inmate, w.facility)[-1] == "movement.departed"
    assert inmate_events(w.inmate, w.other) == ["movement.completed"]
    assert services.ledger_verify(facility=w.facility).ok
    assert services.ledger_verify(facility=w.other).ok
    assert_invariant()


def test_a_transfer_arrives_in_the_cell_named_at_request_unless_the_destination_decides(w):
    z2 = factories.CellFactory(facility=w.other, code="Z-02")
    movement = request(w, K.TRANSFER, to_location=z2)
    step(w, movement, "approve")
    step(w, movement, "depart")
    with pytest.raises(ValidationError):
        services.movement_arrive(movement=movement, by=w.dest, cell=w.a2)  # origin's cell
    services.movement_arrive(movement=movement, by=w.dest)
    w.inmate.refresh_from_db()
    assert w.inmate.cell == z2


def test_a_transfer_without_a_cell_cannot_arrive(w):
    movement = request(w, K.TRANSFER)
    step(w, movement, "approve")
    step(w, movement, "depart")
    with pytest.raises(ValidationError, match="cell"):
        services.movement_arrive(movement=movement, by=w.dest)


def test_a_release_completes_at_the_gate(w):
    movement = request(w, K.RELEASE, reason="Cumplió la condena")
    step(w, movement, "approve")
    step(w, movement, "depart")
    w.inmate.refresh_from_db()
    assert movement.status == S.COMPLETED and movement.departed_at == movement.completed_at
    assert (w.inmate.status, w.inmate.cell, w.inmate.next_due_at) == (
        InmateStatus.RELEASED,
        None,
        None,
    )
    assert CellAssignment.objects.get(inmate=w.inmate).ended_at == movement.completed_at
    assert inmate_events(w.inmate)[-1] == "movement.completed"
    assert_invariant()


def test_a_cell_move_leaves_a_history_of_cells(w):
    movement = request(w, K.CELL_MOVE)
    step(w, movement, "approve")
    deadline = Inmate.objects.get(pk=w.inmate.pk).next_due_at
    step(w, movement, "arrive")
    w.inmate.refresh_from_db()
    assert w.inmate.cell == w.a2
    assert w.inmate.next_due_at == deadline  # a move is not an observation
    rows = list(CellAssignment.objects.filter(inmate=w.inmate))
    assert [(r.cell, r.ended_by) for r in rows] == [(w.a1, movement), (w.a2, None)]
    assert rows[1].started_by == movement and rows[0].ended_at == rows[1].started_at
    assert_invariant()


def test_a_released_person_is_admitted_again_into_a_cell(w):
    prepare(w, K.ADMISSION)
    movement = request(w, K.ADMISSION)
    step(w, movement, "approve")
    step(w, movement, "arrive")
    w.inmate.refresh_from_db()
    assert (w.inmate.status, w.inmate.cell) == (InmateStatus.IN_CUSTODY, w.a2)
    assert w.inmate.admitted_at == movement.completed_at
    assert_invariant()


@pytest.mark.parametrize("status", [InmateStatus.MISSING, InmateStatus.ESCAPED])
def test_someone_missing_or_escaped_is_returned_to_custody(w, status):
    Inmate.objects.filter(pk=w.inmate.pk).update(status=status)
    movement = services.movement_request(inmate=w.inmate, kind=K.RETURN, by=w.sup, to_location=w.a2)
    step(w, movement, "approve")
    with pytest.raises(ValidationError):
        services.movement_arrive(movement=movement, by=w.sup, cell=w.a1)  # not the approved cell
    step(w, movement, "arrive")
    w.inmate.refresh_from_db()
    assert (w.inmate.status, w.inmate.cell) == (InmateStatus.IN_CUSTODY, w.a2)
    assert w.inmate.next_due_at == w.inmate.last_seen_at + timedelta(hours=1)
    assert_invariant()


# --- Admission and edits go through movements ------------------------------------------


def test_admission_records_a_completed_movement_an_assignment_and_a_ledger_event(w):
    inmate = services.inmate_admit(
        facility=w.facility,
        booking_number="GT-NEW",
        first_name="Pedro",
        last_name="Tzoc",
        security_level=SecurityLevel.MAXIMUM,
        cell=w.a2,
        by=w.sup,
    )
    movement = Movement.objects.get(inmate=inmate)
    assert (movement.kind, movement.status, movement.to_location) == (
        K.ADMISSION,
        S.COMPLETED,
        w.a2,
    )
    assert movement.requested_by == movement.approved_by == movement.completed_by == w.sup
    assignment = CellAssignment.objects.get(inmate=inmate)
    assert (assignment.cell, assignment.started_at, assignment.started_by) == (
        w.a2,
        inmate.admitted_at,
        movement,
    )
    event = LedgerEvent.objects.get(subject="inmate:GT-NEW")
    assert (event.action, event.actor) == ("inmate.admitted", f"user:{w.sup.username}")
    assert event.data["movement"] == movement.pk and event.data["to_location"] == "A-02"
    assert services.ledger_verify(facility=w.facility).ok


def test_a_system_admission_has_no_officer_and_says_so_in_the_ledger(w):
    # The factory admits without a user, like seed_demo.
    movement = Movement.objects.get(inmate=w.inmate)
    assert movement.requested_by is None
    assert LedgerEvent.objects.get(subject="inmate:GT-1").actor == "system"


def test_changing_the_cell_on_the_record_is_a_cell_move(w):
    services.inmate_update(inmate=w.inmate, by=w.sup, cell=w.a2)
    move = Movement.objects.get(inmate=w.inmate, kind=K.CELL_MOVE)
    assert (move.status, move.from_location, move.to_location, move.requested_by) == (
        S.COMPLETED,
        w.a1,
        w.a2,
        w.sup,
    )
    assert list(CellAssignment.objects.filter(inmate=w.inmate, ended_at=None)) == [
        CellAssignment.objects.get(started_by=move)
    ]
    assert inmate_events(w.inmate)[-1] == "movement.completed"
    assert_invariant()


def test_other_edits_are_ledger_events_naming_the_changed_fields(w):
    services.inmate_update(
        inmate=w.inmate, by=w.sup, first_name="José", security_level=SecurityLevel.MEDIUM
    )
    event = LedgerEvent.objects.filter(subject="inmate:GT-1").order_by("-seq").first()
    assert event.action == "inmate.updated"
    assert set(event.data["changes"]) == {"first_name"}  # the level did not change
    assert event.data["changes"]["first_name"]["to"] == "José"
    assert not Movement.objects.filter(kind=K.CELL_MOVE).exists()


def test_the_cell_cannot_be_changed_on_the_record_during_a_movement(w):
    request(w, K.COURT)
    with pytest.raises(Conflict, match="open movement"):
        services.inmate_update(inmate=w.inmate, by=w.sup, cell=w.a2)
    assert Inmate.objects.get(pk=w.inmate.pk).cell == w.a1


def _rows(cell, count, start):
    return [
        {
            "booking_number": f"BULK-{start + n:05d}",
            "first_name": "Juan",
            "last_name": "López",
            "security_level": SecurityLevel.MINIMUM,
            "cell": cell,
        }
        for n in range(count)
    ]


def _roomy(cell, places=2000):
    """Bulk admissions fill one cell: give it the beds (custody.services.capacity)."""
    type(cell).objects.filter(pk=cell.pk).update(capacity=places)


def test_bulk_admission_records_movements_assignments_and_events_for_everyone(w):
    _roomy(w.a2)
    assert services.inmates_admit_bulk(facility=w.facility, rows=_rows(w.a2, 30, 0)) == 30
    bulk = Q(inmate__booking_number__startswith="BULK-")
    assert Movement.objects.filter(bulk, kind=K.ADMISSION, status=S.COMPLETED).count() == 30
    assert CellAssignment.objects.filter(bulk, cell=w.a2, ended_at=None).count() == 30
    assert LedgerEvent.objects.filter(subject__startswith="inmate:BULK-").count() == 30
    assert services.ledger_verify(facility=w.facility).ok
    assert_invariant()


def test_bulk_admission_costs_the_same_number_of_queries_for_50_or_500_people(w):
    from django.db import connection

    _roomy(w.a2)
    counts = []
    for start, size in [(0, 50), (1000, 500)]:
        with CaptureQueriesContext(connection) as queries:
            services.inmates_admit_bulk(facility=w.facility, rows=_rows(w.a2, size, start))
        counts.append(len(queries))
    assert counts[0] == counts[1], counts
    assert counts[0] <= 12, counts


# --- Invariant 1 under random actions ---------------------------------------------------

OFFICERS = ["sup", "sup2", "dest", "boss"]
# Mostly what the person's status allows, sometimes anything (to be refused).
STARTS = {
    InmateStatus.IN_CUSTODY: [*OUTINGS, K.TRANSFER, K.RELEASE, K.CELL_MOVE, "escape"],
    InmateStatus.RELEASED: [K.ADMISSION],
    InmateStatus.ESCAPED: [K.RETURN],
}


def _legal_steps(movement) -> list[str]:
    return [
        name for name, table in STEP_FROM.items() if movement.status in table.get(movement.kind, ())
    ]


def _random_request(w, inmate, kind, by, pick):
    now = timezone.now()
    here = inmate.facility
    there = w.other if here == w.facility else w.facility
    cells = {w.facility.pk: [w.a1, w.a2], w.other.pk: [w.z1, w.z2]}
    fields = {
        K.TRANSFER: {
            "to_facility": there,
            "expected_arrival_at": now + timedelta(hours=2),
            "to_location": cells[there.pk][pick],
        },
        K.CELL_MOVE: {"to_location": cells[here.pk][pick]},
        K.ADMISSION: {"to_location": cells[here.pk][pick]},
        K.RETURN: {"to_location": cells[here.pk][pick]},
        K.RELEASE: {},
    }.get(kind, {"expected_back_at": now + timedelta(hours=3)})
    return services.movement_request(inmate=inmate, kind=kind, by=by, **fields)


def _random_step(w, data, inmate):
    who = getattr(w, data.draw(st.sampled_from(OFFICERS)))
    pick = data.draw(st.integers(0, 1))
    movement = inmate.movements.filter(status__in=[S.REQUESTED, S.APPROVED, S.DEPARTED]).first()
    if movement is None:
        kind = data.draw(st.sampled_from([*STARTS.get(inmate.status, []), *K.values]))
        if kind == "escape":
            # What the alerting side will do for someone who vanished from a cell.
            Inmate.objects.filter(pk=inmate.pk).update(status=InmateStatus.ESCAPED)
            return "escape"
        _random_request(w, inmate, kind, who, pick)
        return f"request {kind}"
    name = data.draw(st.sampled_from([*_legal_steps(movement) * 3, *STEPS]))
    kwargs = {}
    if name == "arrive" and movement.kind == K.TRANSFER and data.draw(st.booleans()):
        kwargs["cell"] = [w.z1, w.z2, w.a1, w.a2][data.draw(st.integers(0, 3))]
    STEPS[name](movement=movement, by=who, **kwargs)
    return f"{name} {movement.kind}"


@settings(
    max_examples=45,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_random_movement_actions_keep_invariant_1(w, data):
    w.z2 = getattr(w, "z2", None) or factories.CellFactory(facility=w.other, code="Z-02")
    with transaction.atomic():
        inmates = [w.inmate] + [
            factories.InmateFactory(facility=w.facility, cell=w.a2, booking_number=f"GT-R{n}")
            for n in range(2)
        ]
        for _ in range(data.draw(st.integers(1, 40))):
            inmate = Inmate.objects.get(pk=data.draw(st.sampled_from(inmates)).pk)
            try:
                done = _random_step(w, data, inmate)
            except (Conflict, PermissionDenied, ValidationError) as refused:
                done = f"refused: {refused}"  # a refused step must change nothing
            problems = custody_invariant_problems()
            assert problems == [], (done, problems)
        assert services.ledger_verify(facility=w.facility).ok
        assert services.ledger_verify(facility=w.other).ok
        transaction.set_rollback(True)


@pytest.mark.parametrize("kind", sorted(OUTINGS))
def test_an_outing_may_name_a_place_inside_its_own_facility_only(w, kind):
    infirmary = factories.LocationFactory(facility=w.facility, code="ENF", kind="infirmary")
    elsewhere = factories.LocationFactory(facility=w.other, code="ENF-Z", kind="infirmary")

    movement = request(w, kind, to_location=infirmary)
    assert movement.to_location == infirmary
    services.movement_cancel(movement=movement, by=w.sup)
    with pytest.raises(ValidationError) as refused:
        request(w, kind, to_location=elsewhere)
    assert "to_location" in refused.value.message_dict
