"""The ledger (invariant 4): each facility's chain has no gaps, recomputes,
names the first broken link through every door (the service, the command,
the API), and records every change to who may act, never a secret."""

import json
import threading
from contextlib import contextmanager
from datetime import timedelta
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection, connections
from django.utils import timezone, translation

from custody import services
from custody.models import GENESIS_HASH, LedgerEvent, LedgerHead
from custody.services.ledger import canonical_event, chain_hash
from tests import factories


@pytest.fixture(autouse=True)
def _english():
    # Problems are translated; the assertions below read them in English.
    with translation.override("en"):
        yield


def events(facility, **filters):
    return list(LedgerEvent.objects.filter(facility=facility, **filters).order_by("seq"))


def append(facility, n, **kwargs):
    for i in range(n):
        services.ledger_append(
            facility=facility, actor=None, action="test.event", subject=f"test:{i}", data={"i": i}
        )


# --- The chain ----------------------------------------------------------------


def test_each_event_hashes_the_previous_one_and_the_head_is_the_last(facility):
    append(facility, 4)
    chain = events(facility)
    assert [e.seq for e in chain] == [1, 2, 3, 4]
    prev = GENESIS_HASH
    for event in chain:
        canonical = canonical_event(
            facility_code=facility.code,
            seq=event.seq,
            at=event.at,
            actor=event.actor,
            action=event.action,
            subject=event.subject,
            data=event.data,
        )
        assert event.prev_hash == prev
        assert event.hash == chain_hash(prev, canonical)
        prev = event.hash
    head = LedgerHead.objects.get(facility=facility)
    assert (head.seq, head.hash) == (4, prev)
    result = services.ledger_verify(facility=facility)
    assert (result.ok, result.events, result.head, result.first_bad_seq) == (True, 4, prev, None)


def test_facilities_have_separate_chains(facility, other_facility):
    append(facility, 3)
    append(other_facility, 2)
    assert [e.seq for e in events(other_facility)] == [1, 2]
    assert events(other_facility)[0].prev_hash == GENESIS_HASH


@pytest.mark.django_db(transaction=True)
def test_two_writers_appending_at_once_leave_a_gapless_chain():
    facility = factories.FacilityFactory()
    start = threading.Barrier(2)
    errors = []

    def writer(name):
        try:
            start.wait(timeout=10)
            for i in range(15):
                services.ledger_append(
                    facility=facility,
                    actor=None,
                    action="test.race",
                    subject=f"writer:{name}",
                    data={"i": i},
                )
        except Exception as exc:  # reported below; a thread cannot fail the test
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(name,)) for name in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert [e.seq for e in events(facility)] == list(range(1, 31))
    result = services.ledger_verify(facility=facility)
    assert (result.ok, result.events) == (True, 30)


# --- Tampering ------------------------------------------------------------------


@contextmanager
def triggers_off():
    """What only a superuser can do: switch the append-only triggers off."""
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
    try:
        with connection.cursor() as cursor:
            yield cursor
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = origin")


def change_data(facility):
    with triggers_off() as cursor:
        cursor.execute(
            "UPDATE custody_ledgerevent SET data = %s WHERE facility_id = %s AND seq = 3",
            ['{"i": 99}', facility.pk],
        )


def delete_one(facility):
    with triggers_off() as cursor:
        cursor.execute(
            "DELETE FROM custody_ledgerevent WHERE facility_id = %s AND seq = 3", [facility.pk]
        )


def swap_two(facility):
    # Three steps: the (facility, seq) unique index is checked row by row.
    with triggers_off() as cursor:
        for old, new in ((2, 1000), (3, 2), (1000, 3)):
            cursor.execute(
                "UPDATE custody_ledgerevent SET seq = %s WHERE facility_id = %s AND seq = %s",
                [new, facility.pk, old],
            )


def cut_the_end(facility):
    with triggers_off() as cursor:
        cursor.execute(
            "DELETE FROM custody_ledgerevent WHERE facility_id = %s AND seq >= 4", [facility.pk]
        )


TAMPERING = [
    pytest.param(change_data, 3, "event content was changed", id="changed-data"),
    pytest.param(delete_one, 3, "missing event", id="deleted-event"),
    pytest.param(swap_two, 2, "previous hash does not match", id="reordered"),
    pytest.param(cut_the_end, 4, "events missing at the end", id="cut-end"),
]


@pytest.mark.parametrize(("tamper", "bad_seq", "problem"), TAMPERING)
def test_tampering_is_named_by_the_service_the_command_and_the_api(
    tamper, bad_seq, problem, facility, other_facility, make_user, api_as
):
    client = api_as(make_user("auditor", facility))  # its user.created event is seq 1
    append(facility, 4)
    append(other_facility, 2)
    tamper(facility)

    result = services.ledger_verify(facility=facility)
    assert (result.ok, result.first_bad_seq, result.problem) == (False, bad_seq, problem)

    out = StringIO()
    with pytest.raises(CommandError) as failed:
        call_command("verify_ledger", stdout=out)
    assert failed.value.returncode == 1
    lines = out.getvalue().splitlines()
    assert f"{facility.code}: BROKEN at seq {bad_seq}: {problem}" in lines
    assert any(line.startswith(f"{other_facility.code}: ok, 2 events") for line in lines)

    body = client.get(
        f"/api/v1/ledger/verify/?facility={facility.code}", HTTP_ACCEPT_LANGUAGE="en"
    ).json()
    assert body["ok"] is False
    assert (body["first_bad_seq"], body["problem"]) == (bad_seq, problem)


def test_the_command_reports_each_chain_and_exits_zero_when_all_are_good(facility, other_facility):
    append(facility, 3)
    out = StringIO()
    call_command("verify_ledger", "--facility", facility.code, stdout=out)
    head = LedgerHead.objects.get(facility=facility).hash
    assert out.getvalue().splitlines() == [f"{facility.code}: ok, 3 events, head {head}"]
    out = StringIO()
    call_command("verify_ledger", stdout=out)
    assert len(out.getvalue().splitlines()) == 2  # a facility with no events is ok too


def test_the_command_refuses_an_unknown_facility(facility):
    with pytest.raises(CommandError, match="NOPE"):
        call_command("verify_ledger", "--facility", "NOPE", stdout=StringIO())


# --- Hooks: who may act is on the record --------------------------------------


def data_text(facility) -> str:
    return json.dumps([e.data for e in events(facility)])


def test_device_creation_rotation_and_edits_are_on_the_devices_facility_chain(
    facility, other_facility, make_user, api_as
):
    admin = make_user("admin", facility)
    client = api_as(admin)
    created = client.post(
        "/api/v1/devices/", {"facility": facility.code, "name": "r-1", "kind": "biometric"}
    ).json()
    rotated = client.post(f"/api/v1/devices/{created['id']}/rotate-key/").json()
    # Switching a reader off waits for a second officer (tests/test_pending_changes.py).
    pending = client.patch(f"/api/v1/devices/{created['id']}/", {"is_active": False}, format="json")
    second = make_user("supervisor", facility)
    approved = api_as(second).post(f"/api/v1/changes/{pending.json()['change']}/approve/")
    assert approved.status_code == 200
    client.patch(f"/api/v1/devices/{created['id']}/", {"is_active": False}, format="json")

    chain = events(facility, subject=f"device:{created['id']}")
    assert [e.action for e in chain] == ["device.created", "device.key_rotated", "device.updated"]
    assert [e.actor for e in chain] == [f"user:{admin.username}"] * 2 + [f"user:{second.username}"]
    assert chain[0].data["name"] == "r-1"
    assert chain[1].data == {"key_prefix": rotated["key"][:10]}
    assert chain[2].data == {"changes": {"is_active": {"from": True, "to": False}}}
    text = data_text(facility)
    assert created["key"] not in text and rotated["key"] not in text
    assert "key_hash" not in text
    assert not events(other_facility)


def test_user_changes_go_to_every_facility_before_or_after_and_never_the_password(
    facility, other_facility, make_user, api_as
):
    admin = make_user("admin", facility, other_facility)
    client = api_as(admin)
    password, new_password = "una-clave-larga-2026", "otra-clave-larga-2027"
    client.post(
        "/api/v1/users/",
        {"username": "ana", "password": password, "role": "guard", "facilities": [facility.code]},
        format="json",
    )
    client.patch(
        "/api/v1/users/ana/",
        {"role": "supervisor", "facilities": [other_facility.code], "password": new_password},
        format="json",
    )

    assert client.get("/api/v1/users/ana/").json()["facilities"] == [other_facility.code]
    here, there = events(facility, subject="user:ana"), events(other_facility, subject="user:ana")
    assert [e.action for e in here] == ["user.created", "user.updated"]
    assert [e.action for e in there] == ["user.updated"]
    assert here[0].actor == f"user:{admin.username}"
    assert here[0].data == {
        "username": "ana",
        "role": "guard",
        "is_active": True,
        "assigned": True,
        "password_changed": True,
    }
    assert here[1].data["assigned"] is False
    assert here[1].data["changes"] == {
        "role": {"from": "guard", "to": "supervisor"},
        "assigned": {"from": True, "to": False},
    }
    assert there[0].data["changes"]["assigned"] == {"from": False, "to": True}
    assert there[0].data["password_changed"] is True
    for chain_facility in (facility, other_facility):
        text = data_text(chain_facility)
        assert password not in text and new_password not in text and "md5$" not in text


def test_a_chain_learns_nothing_of_the_users_other_facilities(facility, other_facility, make_user):
    user = make_user("guard", facility, other_facility)
    event = events(facility, subject=f"user:{user.username}")[0]
    assert other_facility.code not in json.dumps(event.data)


def test_an_update_that_changes_nothing_of_access_adds_no_event(facility, make_user):
    admin = make_user("admin", facility)
    user = make_user("guard", facility)
    before = LedgerEvent.objects.count()
    services.user_update(user=user, by=admin, first_name="Luis")
    assert LedgerEvent.objects.count() == before
    services.user_update(user=user, by=admin, is_active=False)
    assert events(facility, subject=f"user:{user.username}")[-1].data["changes"] == {
        "is_active": {"from": True, "to": False}
    }


def test_a_console_reset_is_on_the_record(facility, other_facility, make_user):
    user = make_user("guard", facility)
    services.user_reset(
        user=user, role="auditor", password="x-long-pass-2026", facilities=[other_facility]
    )
    reset_here = events(facility, subject=f"user:{user.username}")[-1]
    assert (reset_here.action, reset_here.actor) == ("user.reset", "system")
    assert reset_here.data["changes"]["role"] == {"from": "guard", "to": "auditor"}
    assert events(other_facility, subject=f"user:{user.username}")[-1].data["assigned"] is True


def test_facility_and_location_changes_are_on_the_facilitys_chain(make_user, api_as):
    home = factories.FacilityFactory()
    admin = make_user("admin", home)
    client = api_as(admin)
    client.post("/api/v1/facilities/", {"code": "NEW", "name": "Nuevo"}, format="json")
    client.patch(
        "/api/v1/facilities/NEW/",
        {
            "grace_seconds": 120,
            "check_interval_seconds": {"maximum": 900, "medium": 3600, "minimum": 7200},
        },
        format="json",
    )
    client.post(
        "/api/v1/locations/",
        {"facility": "NEW", "code": "U-1", "name": "Unidad", "kind": "unit"},
        format="json",
    )
    location_id = client.get("/api/v1/locations/?facility=NEW").json()["results"][0]["id"]
    client.patch(f"/api/v1/locations/{location_id}/", {"code": "U-01"}, format="json")

    from custody.models import Facility

    chain = events(Facility.objects.get(code="NEW"))
    assert [(e.action, e.subject) for e in chain] == [
        ("facility.created", "facility:NEW"),
        ("facility.updated", "facility:NEW"),
        ("location.created", "location:U-1"),
        ("location.updated", "location:U-01"),
    ]
    assert {e.actor for e in chain} == {f"user:{admin.username}"}
    assert chain[0].data["grace_seconds"] == 300
    assert chain[1].data["changes"] == {
        "grace_seconds": {"from": 300, "to": 120},
        "check_interval_seconds": {
            "from": {"maximum": 1800, "medium": 3600, "minimum": 7200},
            "to": {"maximum": 900, "medium": 3600, "minimum": 7200},
        },
    }
    assert chain[3].data == {"changes": {"code": {"from": "U-1", "to": "U-01"}}}


def test_hooks_write_in_the_same_transaction_as_the_change(facility):
    # A refused change leaves no event behind: both roll back together.
    before = LedgerEvent.objects.count()
    with pytest.raises(Exception):
        services.location_create(facility=facility, code="bad code!", name="x", kind="unit")
    assert LedgerEvent.objects.count() == before


# --- The API --------------------------------------------------------------------


ROLES = ["guard", "supervisor", "auditor", "admin"]
READERS = {"supervisor", "auditor", "admin"}


def test_only_auditors_supervisors_and_admins_read_the_ledger(facility, make_user, api_as):
    append(facility, 1)
    _device, key = factories.device(facility)
    for role in ROLES:
        client = api_as(make_user(role, facility))
        expected = 200 if role in READERS else 403
        assert client.get("/api/v1/ledger/").status_code == expected, role
        assert client.get("/api/v1/ledger/verify/").status_code == expected, role
    device = api_as(device_key=key)
    assert device.get("/api/v1/ledger/").status_code == 403
    assert device.get("/api/v1/ledger/verify/").status_code == 403
    assert api_as().get("/api/v1/ledger/").status_code == 401


def test_the_list_shows_the_callers_facilities_oldest_first_in_facility_time(
    facility, other_facility, make_user, api_as
):
    hidden = factories.FacilityFactory()
    for f in (facility, other_facility, hidden):
        append(f, 2)
    client = api_as(make_user("auditor", other_facility, facility))  # seq 3 in both
    body = client.get("/api/v1/ledger/").json()
    assert body["count"] == 6
    assert [(e["facility"], e["seq"]) for e in body["results"]] == [
        (f.code, seq) for f in (facility, other_facility) for seq in (1, 2, 3)
    ]
    first = body["results"][0]
    event = events(facility)[0]
    assert set(first) == {
        "facility",
        "seq",
        "at",
        "actor",
        "action",
        "subject",
        "data",
        "prev_hash",
        "hash",
    }
    assert first["at"].endswith("-06:00")  # America/Guatemala
    assert (first["hash"], first["prev_hash"], first["data"]) == (
        event.hash,
        GENESIS_HASH,
        {"i": 0},
    )


def test_the_list_filters(facility, other_facility, make_user, api_as):
    client = api_as(make_user("auditor", facility, other_facility))
    cell = factories.CellFactory(facility=facility)
    inmate = factories.InmateFactory(facility=facility, cell=cell)
    subject = f"inmate:{inmate.booking_number}"
    services.ledger_append(
        facility=facility, actor=None, action="inmate.note", subject=subject, data={}
    )
    append(facility, 3)
    append(other_facility, 1)
    f, o = facility.code, other_facility.code

    def listed(query):
        response = client.get(f"/api/v1/ledger/?{query}")
        assert response.status_code == 200, response.content
        return [(e["facility"], e["seq"]) for e in response.json()["results"]]

    def stored(**filters):
        return [
            (e.facility.code, e.seq)
            for e in LedgerEvent.objects.filter(**filters).order_by("facility_id", "seq")
        ]

    assert listed(f"facility={o}") == stored(facility=other_facility)
    assert listed(f"inmate={inmate.booking_number}") == stored(subject=subject)
    assert (f, stored(subject=subject, action="inmate.note")[0][1]) in listed(
        f"inmate={inmate.booking_number}"
    )
    assert listed("subject=test:0") == stored(subject="test:0")
    assert len(listed("subject=test:0")) == 2  # one in each chain
    assert listed("action=inmate.note") == stored(action="inmate.note")
    assert listed(f"facility={f}&seq_from=2&seq_to=3") == [(f, 2), (f, 3)]
    later = (timezone.now() + timedelta(minutes=5)).isoformat().replace("+", "%2B")
    assert listed(f"since={later}") == []
    assert len(listed(f"until={later}")) == LedgerEvent.objects.count()
    for bad in ("seq_from=abc", "seq_to=1.5", "since=yesterday", "facility=", "action=a&action=b"):
        assert client.get(f"/api/v1/ledger/?{bad}").status_code == 400, bad


def test_verify_needs_a_facility_only_from_someone_with_several(
    facility, other_facility, make_user, api_as
):
    one = api_as(make_user("auditor", facility))
    append(facility, 2)
    body = one.get("/api/v1/ledger/verify/").json()
    head = LedgerHead.objects.get(facility=facility).hash
    assert body == {
        "facility": facility.code,
        "ok": True,
        "events": 3,
        "head": head,
        "first_bad_seq": None,
        "problem": "",
        "witnessed_seq": None,
        "witness_lines": 0,
        "untrusted_lines": 0,
    }
    assert one.get(f"/api/v1/ledger/verify/?facility={other_facility.code}").status_code == 404
    assert one.get("/api/v1/ledger/verify/?facility=NOPE").status_code == 404
    several = api_as(make_user("auditor", facility, other_facility))
    assert several.get("/api/v1/ledger/verify/").status_code == 400
    assert several.get("/api/v1/ledger/verify/?facility=").status_code == 400
    assert several.get(f"/api/v1/ledger/verify/?facility={other_facility.code}").json() == {
        "facility": other_facility.code,
        "ok": True,
        "events": 1,
        "head": LedgerHead.objects.get(facility=other_facility).hash,
        "first_bad_seq": None,
        "problem": "",
        "witnessed_seq": None,
        "witness_lines": 0,
        "untrusted_lines": 0,
    }


def test_the_daily_task_names_the_facilities_whose_chain_is_broken(facility, other_facility):
    from custody import tasks

    for f in (facility, other_facility):
        for i in range(4):
            services.ledger_append(
                facility=f, actor=None, action="test.event", subject="x", data={"i": i}
            )
    assert tasks.verify_ledgers() == []

    change_data(facility)

    assert tasks.verify_ledgers() == [facility.code]
    # Beat runs the alerts app's pass, which opens an alert too (test_ledger_broken_alert).
    beat = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "alerts.ledgers_verify" in beat


def test_events_loaded_with_their_own_times_chain_and_verify(facility):
    # Loading a past (benchmarks, imports): each event keeps its time, and the
    # chain still recomputes.
    from datetime import timedelta

    from django.utils import timezone

    from custody.services.ledger import PendingEvent, ledger_append_many

    then = timezone.now() - timedelta(days=30)
    ledger_append_many(
        facility=facility,
        events=[
            PendingEvent("test.event", f"test:{n}", {"n": n}, at=then + timedelta(hours=n))
            for n in range(3)
        ],
    )
    assert [e.at for e in events(facility)][-3:] == [then + timedelta(hours=n) for n in range(3)]
    assert services.ledger_verify(facility=facility).ok
