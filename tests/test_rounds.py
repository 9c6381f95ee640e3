"""Issue 18: observation rounds proven by a cell's tag, staggered at random,
every bad item refused with its own reason and kept, never a 500."""

import statistics
import uuid
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from custody.models import (
    LedgerEvent,
    Location,
    LocationTag,
    QuarantinedCheckIn,
    RoundCheck,
    RoundObservation,
)
from custody.selectors.rounds import (
    cells_without_tag,
    due_within_minutes,
    round_regularity,
    rounds_due,
)
from custody.services import round_tags
from custody.services.rounds import rounds_ingest
from custody.tablet_credential import TABLET_COOKIE
from tests import factories
from tests.rounds_world import check, rounds_world


@pytest.fixture
def world(facility, make_user):
    return rounds_world(facility, make_user)


def seen(booking: str) -> dict:
    return {"inmate": booking, "state": "seen_alive"}


def ingest(world, items, *, officer=None, device="tablet", now=None):
    device = world.tablet if device == "tablet" else device
    return rounds_ingest(
        raw_items=items, officer=officer or world.users["guard"], device=device, now=now
    )


# --- Tags ----------------------------------------------------------------------------


def test_a_uid_is_normalised_and_never_registered_twice_in_a_facility(world, other_facility):
    cell = world.cells[0]
    assert world.tags[cell.code] == "04A200FF"
    with pytest.raises(ValidationError):
        round_tags.tag_register(
            location=world.cells[1], kind="nfc", uid="04-a2-00-ff", by=world.users["admin"]
        )
    # Another facility may have a tag with the same uid (uids are per facility).
    elsewhere = factories.CellFactory(facility=other_facility)
    admin = factories.UserFactory(role="admin", facilities=[other_facility])
    tag = round_tags.tag_register(location=elsewhere, kind="rfid", uid="04A200FF", by=admin)
    assert tag.facility_id == other_facility.pk


def test_a_retired_uid_stays_taken_and_the_ledger_has_both(world):
    tag = LocationTag.objects.get(uid=world.tags["R-01"])
    round_tags.tag_retire(tag=tag, reason="Tag roto por el interno", by=world.users["admin"])
    with pytest.raises(ValidationError):
        round_tags.tag_retire(tag=tag, reason="again, twice", by=world.users["admin"])
    with pytest.raises(ValidationError):
        round_tags.tag_register(
            location=world.cells[0], kind="rfid", uid=tag.uid, by=world.users["admin"]
        )
    actions = set(LedgerEvent.objects.values_list("action", flat=True))
    assert {"location.tag_registered", "location.tag_retired"} <= actions


def test_the_database_refuses_to_move_rewrite_or_delete_a_tag(world):
    tag = LocationTag.objects.get(uid=world.tags["R-01"])
    for sql, params in [
        ("UPDATE custody_locationtag SET location_id = %s WHERE id = %s", [world.cells[1].pk]),
        ("UPDATE custody_locationtag SET uid = 'X' || uid WHERE id = %s", []),
        ("DELETE FROM custody_locationtag WHERE id = %s", []),
    ]:
        with (
            pytest.raises(Exception, match=r"never|only be retired"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, [*params, tag.pk])
    round_tags.tag_retire(tag=tag, reason="Reemplazado", by=world.users["admin"])
    with (
        pytest.raises(Exception, match="retired"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "UPDATE custody_locationtag SET retire_reason = 'nada' WHERE id = %s", [tag.pk]
        )


def test_a_qr_tag_gets_a_random_uid_and_only_admins_and_auditors_list_tags(world, api_as):
    cell = world.cells[0]
    admin = api_as(world.users["admin"])
    made = admin.post(f"/api/v1/locations/{cell.pk}/tags/", {"kind": "qr"}, format="json")
    assert made.status_code == 201, made.content
    assert made.json()["uid"].startswith("QR") and len(made.json()["uid"]) > 12
    listed = api_as(world.users["auditor"]).get(f"/api/v1/locations/{world.unit.pk}/tags/")
    assert listed.status_code == 200
    assert {t["location"] for t in listed.json()} == {c.code for c in world.cells[:3]}
    assert api_as(world.users["guard"]).get(f"/api/v1/locations/{cell.pk}/tags/").status_code == 403
    refused = api_as(world.users["supervisor"]).post(
        f"/api/v1/locations/{cell.pk}/tags/", {"kind": "qr"}, format="json"
    )
    assert refused.status_code == 403
    retired = admin.post(
        f"/api/v1/locations/{cell.pk}/tags/{world.tags[cell.code]}/retire/",
        {"reason": "Puerta cambiada"},
        format="json",
    )
    assert retired.status_code == 200 and retired.json()["is_active"] is False


# --- Ingestion -------------------------------------------------------------------------


def test_a_batch_is_stored_with_its_observations_and_the_cells_are_due_later(world):
    now = timezone.now()
    items = ingest(world, [check(world, "R-01", at=now), check(world, "R-02", at=now)], now=now)
    assert [i.status for i in items] == ["accepted", "accepted"]
    assert RoundCheck.objects.count() == 2
    assert RoundObservation.objects.count() == 4
    cell = Location.objects.get(code="R-01")
    assert cell.last_round_at == now
    assert now + timedelta(minutes=30) <= cell.next_round_due_at <= now + timedelta(minutes=60)
    assert cell.round_deadline_at == now + timedelta(minutes=60)
    event = LedgerEvent.objects.filter(action="rounds.received").get()
    assert event.data["accepted"] == 2 and event.data["observations"] == {"seen_alive": 4}


def test_a_repeated_batch_is_answered_duplicate_and_stored_once(world):
    now = timezone.now()
    batch = [check(world, "R-01", at=now)]
    ingest(world, batch, now=now)
    again = ingest(world, batch + batch, now=now)
    assert [i.status for i in again] == ["duplicate", "duplicate"]
    assert RoundCheck.objects.count() == 1


def test_every_bad_item_is_refused_with_its_own_reason_and_quarantined(world, other_facility):
    now = timezone.now()
    retired = LocationTag.objects.get(uid=world.tags["R-03"])
    round_tags.tag_retire(tag=retired, reason="Se perdió", by=world.users["admin"], now=now)
    elsewhere = factories.CellFactory(facility=other_facility)
    foreign_admin = factories.UserFactory(role="admin", facilities=[other_facility])
    round_tags.tag_register(location=elsewhere, kind="nfc", uid="CAFE01", by=foreign_admin)
    stranger = world.people["R-02"][0].booking_number
    items = ingest(
        world,
        [
            check(world, "R-01", at=now, tag=""),
            check(world, "R-01", at=now, tag="DEADBEEF"),
            check(world, "R-01", at=now, tag="cafe01"),
            check(world, "R-03", at=now + timedelta(seconds=1)),
            check(world, "R-01", at=now, observations=[seen(stranger)]),
            check(world, "R-01", at=now + timedelta(minutes=10)),
            check(world, "R-01", at=now - timedelta(hours=80)),
            check(world, "R-01", at=now, observations=[{"inmate": "X", "state": "asleep"}]),
            "not an object",
            check(world, "R-02", at=now),
        ],
        now=now + timedelta(seconds=2),
    )
    assert [i.reason for i in items] == [
        "tag_required",
        "unknown_tag",
        "tag_other_facility",
        "tag_retired",
        "not_in_cell",
        "clock_future",
        "clock_past",
        "invalid",
        "invalid",
        "",
    ]
    assert [i.status for i in items][-1] == "accepted"
    kept = QuarantinedCheckIn.objects.filter(source="rounds")
    assert kept.count() == 9
    assert set(kept.values_list("facility_id", flat=True)) == {world.facility.pk}


def test_a_scan_made_before_its_tag_was_retired_still_counts(world):
    now = timezone.now() + timedelta(minutes=10)
    tag = LocationTag.objects.get(uid=world.tags["R-01"])
    round_tags.tag_retire(tag=tag, reason="Dañado", by=world.users["admin"], now=now)
    items = ingest(world, [check(world, "R-01", at=now - timedelta(minutes=5))], now=now)
    assert items[0].status == "accepted"


def test_without_an_enrolled_tablet_of_the_facility_nothing_is_a_round(world, other_facility):
    now = timezone.now()
    items = ingest(world, [check(world, "R-01", at=now)], device=None, now=now)
    assert items[0].reason == "tablet_required"
    foreign, _key = factories.device(other_facility, kind="tablet", name="otra")
    items = ingest(world, [check(world, "R-01", at=now)], device=foreign, now=now)
    assert items[0].reason == "not_your_facility"
    reader, _key = factories.device(world.facility, kind="biometric", name="lector")
    assert ingest(world, [check(world, "R-01")], device=reader)[0].reason == "tablet_required"
    assert RoundCheck.objects.count() == 0
    assert QuarantinedCheckIn.objects.filter(source="rounds").count() == 3


def test_a_late_offline_check_never_pulls_the_schedule_back(world):
    now = timezone.now()
    ingest(world, [check(world, "R-01", at=now)], now=now)
    due = Location.objects.get(code="R-01").next_round_due_at
    items = ingest(world, [check(world, "R-01", at=now - timedelta(minutes=20))], now=now)
    assert items[0].status == "accepted"
    cell = Location.objects.get(code="R-01")
    assert (cell.last_round_at, cell.next_round_due_at) == (now, due)


def test_the_next_check_is_drawn_at_random_within_the_level_bounds(world):
    cell = world.cells[0]
    cell.watch_level = "close"
    cell.save()
    start = timezone.now() - timedelta(hours=40)
    gaps = []
    for n in range(30):
        at = start + timedelta(minutes=20 * n)
        ingest(world, [check(world, "R-01", at=at)], now=at)
        cell.refresh_from_db()
        gaps.append((cell.next_round_due_at - at).total_seconds())
    assert all(300 <= g <= 900 for g in gaps)
    assert statistics.pstdev(gaps) > 60  # not constant: nobody can predict it
    assert len(set(gaps)) > 20


def test_two_tablets_checking_one_cell_both_count_and_the_latest_wins(world):
    now = timezone.now()
    second, _key = factories.device(world.facility, kind="tablet", name="ronda-2")
    ingest(world, [check(world, "R-01", at=now)], now=now)
    items = ingest(
        world,
        [check(world, "R-01", at=now + timedelta(seconds=30))],
        officer=world.users["guard2"],
        device=second,
        now=now + timedelta(seconds=31),
    )
    assert items[0].status == "accepted"
    assert Location.objects.get(code="R-01").last_round_at == now + timedelta(seconds=30)
    assert RoundCheck.objects.filter(location__code="R-01").count() == 2


def test_a_forty_cell_batch_costs_a_fixed_number_of_queries(facility, make_user):
    world = rounds_world(facility, make_user, cells=40, per_cell=1)
    now = timezone.now()
    batch = [check(world, c.code, at=now) for c in world.cells[:40]]
    with CaptureQueriesContext(connection) as queries:
        items = ingest(world, batch, now=now)
    assert all(i.status == "accepted" for i in items)
    # 10 statements, plus the savepoint and its release of the test's own transaction.
    assert len(queries) <= 12, [q["sql"][:80] for q in queries]


def test_rounds_are_append_only_in_the_database(world):
    ingest(world, [check(world, "R-01")])
    for sql in (
        "UPDATE custody_roundcheck SET scanned_at = scanned_at - interval '1 hour'",
        "DELETE FROM custody_roundobservation",
    ):
        with (
            pytest.raises(Exception, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql)


def test_the_api_needs_the_tablet_cookie_and_answers_each_item(world, api_as):
    client = api_as(world.users["guard"])
    refused = client.post("/api/v1/rounds/", [check(world, "R-01")], format="json")
    assert refused.status_code == 200
    assert refused.json()["results"][0]["reason"] == "tablet_required"
    client.cookies[TABLET_COOKIE] = world.tablet_key
    answer = client.post("/api/v1/rounds/", [check(world, "R-01"), {"id": 5}], format="json")
    assert answer.status_code == 200
    assert answer.json()["accepted"] == 1 and answer.json()["rejected"] == 1
    assert client.post("/api/v1/rounds/", "nope", format="json").status_code == 400
    auditor = api_as(world.users["auditor"])
    auditor.cookies[TABLET_COOKIE] = world.tablet_key
    assert auditor.post("/api/v1/rounds/", [check(world, "R-01")], format="json").status_code == 403


# --- The tablet's list and the watch levels ------------------------------------------------


def test_the_due_list_gives_buckets_never_the_time(world, api_as):
    now = timezone.now()
    ingest(world, [check(world, "R-01", at=now)], now=now)
    answer = api_as(world.users["guard"]).get("/api/v1/rounds/due/?unit=R")
    assert answer.status_code == 200
    body = answer.json()
    assert body["unit"] == "R" and [c["location"] for c in body["cells"]][-1] == "R-01"
    first = body["cells"][0]
    assert set(first) == {
        "location",
        "name",
        "watch_level",
        "strictest_level",
        "checkable",
        "due_within_minutes",
        "overdue",
        "people",
    }
    assert body["cells"][-1]["due_within_minutes"] in (30, 60)
    assert "next_round_due_at" not in answer.content.decode()
    assert due_within_minutes(now - timedelta(seconds=1), now=now) == 0
    assert due_within_minutes(now + timedelta(minutes=7), now=now) == 15


def test_a_person_on_close_watch_makes_the_cell_due_sooner_and_moves_with_them(world):
    from custody.services.inmates import inmate_update

    person = world.people["R-02"][0]
    now = timezone.now()
    inmate_update(inmate=person, by=world.users["supervisor"], watch_level="close")
    person.refresh_from_db()
    assert person.round_deadline_at <= now + timedelta(minutes=16)
    rows = {r["code"]: r for r in rounds_due(facility=world.facility, unit=None, now=now)}
    assert rows["R-02"]["due_at"] <= now + timedelta(minutes=16)
    ingest(world, [check(world, "R-02", at=now)], now=now)
    person.refresh_from_db()
    assert person.last_round_at == now
    assert now + timedelta(minutes=5) <= person.next_round_due_at <= now + timedelta(minutes=15)


def test_lowering_a_watch_level_waits_for_a_second_officer(world, api_as):
    person = world.people["R-01"][0]
    first = api_as(world.users["supervisor"])
    raised = first.patch(
        f"/api/v1/inmates/{person.booking_number}/", {"watch_level": "close"}, format="json"
    )
    assert raised.status_code == 200, raised.content
    lowered = first.patch(
        f"/api/v1/inmates/{person.booking_number}/", {"watch_level": ""}, format="json"
    )
    assert lowered.status_code == 202
    assert lowered.json()["weakened"] == ["watch_level"]
    person.refresh_from_db()
    assert person.watch_level == "close"
    cell = world.cells[0]
    lowered_cell = first.patch(f"/api/v1/locations/{cell.pk}/", {"watch_level": "standard"})
    assert lowered_cell.status_code == 200  # standard already: nothing weaker
    special = first.patch(f"/api/v1/locations/{cell.pk}/", {"watch_level": "special"})
    assert special.status_code == 200
    back = first.patch(f"/api/v1/locations/{cell.pk}/", {"watch_level": "standard"})
    assert back.status_code == 202


def test_cells_nobody_can_check_are_listed(world):
    tag = LocationTag.objects.get(uid=world.tags["R-01"])
    round_tags.tag_retire(tag=tag, reason="Robado", by=world.users["admin"])
    assert [code for _pk, code in cells_without_tag(facility=world.facility)] == ["R-01"]


# --- Regularity ------------------------------------------------------------------------------


def test_rounds_exactly_every_fifteen_minutes_are_flagged_too_regular(world):
    start = timezone.now() - timedelta(hours=10)
    for n in range(8):
        at = start + timedelta(minutes=15 * n)
        ingest(world, [check(world, "R-01", at=at)], now=at)
    for n, minutes in enumerate([0, 7, 20, 26, 40, 52, 58, 71]):
        at = start + timedelta(minutes=minutes, seconds=n)
        ingest(world, [check(world, "R-02", at=at)], now=at)
    until = start + timedelta(hours=3)
    regular = round_regularity(location=world.cells[0], since=start, until=until)
    varied = round_regularity(location=world.cells[1], since=start, until=until)
    assert regular.too_regular and regular.spread == 0 and regular.intervals == 7
    assert not varied.too_regular and varied.spread > 0.3


def test_the_due_queries_run_on_their_partial_indexes(world):
    from custody.models import Inmate
    from custody.selectors.rounds import (
        inmates_round_overdue_query,
        locations_round_overdue_query,
    )

    # Enough rows for the planner to choose as it would at scale (bench:
    # 200,000 people): 3,000 cells and people, a few of them on watch.
    now = timezone.now()
    later = now + timedelta(hours=1)
    cells = Location.objects.bulk_create(
        Location(
            facility=world.facility,
            code=f"Z-{n}",
            name=f"Z {n}",
            kind="cell",
            capacity=1,
            parent=world.unit,
            round_deadline_at=later if n % 50 else None,
        )
        for n in range(3000)
    )
    Inmate.objects.bulk_create(
        Inmate(
            facility=world.facility,
            booking_number=f"Z-{n}",
            first_name="Z",
            last_name="Z",
            cell=cell,
            security_level="medium",
            admitted_at=now,
            next_due_at=later,
            watch_level="close" if n % 100 == 0 else "",
            round_deadline_at=later if n % 100 == 0 else None,
        )
        for n, cell in enumerate(cells)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE custody_location")
        cursor.execute("ANALYZE custody_inmate")
    places = locations_round_overdue_query(facility=world.facility, deadline_before=now)
    people = inmates_round_overdue_query(facility=world.facility, deadline_before=now)
    assert "location_round_due" in places.explain()
    assert "inmate_round_due" in people.explain()


def test_the_unique_uid_constraint_holds_in_the_database(world):
    tag = LocationTag.objects.get(uid=world.tags["R-01"])
    with pytest.raises(IntegrityError), transaction.atomic():
        LocationTag.objects.create(
            facility=world.facility,
            location=world.cells[1],
            uid=tag.uid,
            kind="rfid",
            registered_at=timezone.now(),
            registered_by=world.users["admin"],
        )
    assert uuid.UUID(str(RoundCheck._meta.pk.default()))


@pytest.mark.django_db(transaction=True)
def test_two_tablets_racing_on_one_cell_and_one_retried_id_store_each_check_once(
    facility, make_user
):
    from tests.concurrent import race

    world = rounds_world(facility, make_user, cells=1, per_cell=1)
    second, _key = factories.device(world.facility, kind="tablet", name="ronda-2")
    now = timezone.now()
    same = check(world, "R-01", at=now)
    other = check(world, "R-01", at=now + timedelta(seconds=3))

    def post(item, officer, device):
        return lambda: [
            i.status
            for i in rounds_ingest(raw_items=[item], officer=officer, device=device, now=now)
        ]

    answers = race(
        [
            post(same, world.users["guard"], world.tablet),
            post(same, world.users["guard"], world.tablet),
            post(other, world.users["guard2"], second),
        ]
    )
    assert sorted(a[0] for a in answers[:2]) == ["accepted", "duplicate"]
    assert answers[2] == ["accepted"]
    assert RoundCheck.objects.count() == 2
    assert Location.objects.get(code="R-01").last_round_at == now + timedelta(seconds=3)


def test_an_admission_on_close_watch_is_due_within_fifteen_minutes(world):
    admitted = factories.InmateFactory(
        facility=world.facility, cell=world.cells[0], booking_number="R-NEW", watch_level="close"
    )
    assert admitted.round_deadline_at == admitted.admitted_at + timedelta(minutes=15)
    assert (
        admitted.admitted_at + timedelta(minutes=5)
        <= admitted.next_round_due_at
        <= admitted.round_deadline_at
    )


def test_looser_round_settings_wait_for_a_second_officer(world, api_as):
    client = api_as(world.users["admin"])
    url = f"/api/v1/facilities/{world.facility.code}/"
    stricter = {"standard": [1200, 3000], "special": [600, 1500], "close": [240, 840]}
    assert client.patch(url, {"round_intervals": stricter}, format="json").status_code == 200
    for change in (
        {"round_intervals": {**stricter, "close": [240, 1200]}},  # a longer wait
        {"round_intervals": {**stricter, "close": [800, 840]}},  # nearly predictable
        {"round_grace_seconds": 600},
        {"round_min_spread_percent": 1},
    ):
        answer = client.patch(url, change, format="json")
        assert answer.status_code == 202, (change, answer.content)
    world.facility.refresh_from_db()
    assert world.facility.round_intervals == stricter
