"""Evidence insiders cannot forge (DESIGN.md invariant 10): who may vouch with
which method, from which place, and how late. For each rule the attack is
refused (or shown to auditors) and the honest case passes."""

import uuid
from datetime import UTC, datetime, timedelta
from io import StringIO
from types import SimpleNamespace

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from alerts.models import Alert, AlertKind, AlertStatus
from custody.models import CheckIn, Device, DeviceKind, Inmate, QuarantinedCheckIn, User
from custody.services import evidence
from custody.services.checkins import Sender, checkins_ingest
from tests import factories
from tests.alerting import reconcile
from tests.second_factor import sign_in

pytestmark = pytest.mark.django_db

URL = "/api/v1/checkins/"
# 02:10 in Guatemala (-06:00), the facility's zone.
T0 = datetime(2026, 11, 24, 8, 10, tzinfo=UTC)


@pytest.fixture
def w(facility, other_facility, make_user, api_as):
    """Units A (cells A-01, A-02) and B (cell B-01); a reader mounted on unit A
    that reads fingerprints and tags; a handheld reader; a guard."""
    with time_machine.travel(T0 - timedelta(days=4), tick=False):
        unit_a = factories.LocationFactory(facility=facility, code="A", kind="unit")
        unit_b = factories.LocationFactory(facility=facility, code="B", kind="unit")
        a1 = factories.CellFactory(facility=facility, parent=unit_a, code="A-01")
        a2 = factories.CellFactory(facility=facility, parent=unit_a, code="A-02")
        b1 = factories.CellFactory(facility=facility, parent=unit_b, code="B-01")
        reader, reader_key = factories.device(
            facility, name="reader-A", location=unit_a, methods=["fingerprint", "rfid"]
        )
        _handheld, handheld_key = factories.device(facility, name="handheld")
        ana = factories.InmateFactory(facility=facility, cell=a1, booking_number="GT-A-1")
        bea = factories.InmateFactory(facility=facility, cell=b1, booking_number="GT-B-1")
        guard = make_user("guard", facility, username="guard1")
    return type(
        "World",
        (),
        {
            "facility": facility,
            "unit_a": unit_a,
            "a1": a1,
            "a2": a2,
            "b1": b1,
            "reader": reader,
            "reader_api": api_as(device_key=reader_key),
            "handheld_api": api_as(device_key=handheld_key),
            "ana": ana,
            "bea": bea,
            "guard": guard,
            "guard_api": api_as(guard),
        },
    )


def item(person, location, at, method="fingerprint", **extra) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "inmate": person.booking_number,
        "location": location.code,
        "method": method,
        "observed_at": at.isoformat(),
        **extra,
    }


def post(client, items, at):
    with time_machine.travel(at, tick=False):
        response = client.post(URL, items, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def statuses(body) -> list[str]:
    return [r["status"] for r in body["results"]]


def reasons() -> list[str]:
    return list(QuarantinedCheckIn.objects.order_by("id").values_list("reason", flat=True))


# --- The rule module ------------------------------------------------------------


def test_defaults_of_each_kind_and_the_declared_methods(w):
    handheld = Device.objects.get(name="handheld")
    tablet = Device(kind=DeviceKind.TABLET, facility=w.facility)
    assert evidence.device_methods(w.reader) == {"fingerprint", "rfid"}
    assert evidence.device_methods(handheld) == {"fingerprint", "face", "iris", "rfid"}
    assert evidence.device_methods(tablet) == {"rfid", "visual", "manual"}

    refusal = evidence.method_refusal
    assert refusal(method="visual", device=None) is None
    assert refusal(method="manual", device=None) is None
    for method in ("fingerprint", "face", "iris", "rfid"):
        assert refusal(method=method, device=None) == "method_not_allowed"
    assert refusal(method="face", device=w.reader) == "method_not_allowed"
    assert refusal(method="rfid", device=w.reader) is None
    assert refusal(method="fingerprint", device=tablet) == "method_not_allowed"


def test_a_mounted_reader_reports_its_place_and_what_lies_under_it(w, other_facility):
    places = evidence.device_places(w.reader)
    assert places == {w.unit_a.pk, w.a1.pk, w.a2.pk}
    assert evidence.location_refusal(device=w.reader, location=w.a2) is None
    assert evidence.location_refusal(device=w.reader, location=w.b1) == "wrong_location"
    handheld = Device.objects.get(name="handheld")
    assert evidence.location_refusal(device=handheld, location=w.b1) is None
    elsewhere = factories.CellFactory(facility=other_facility, code="X-01")
    assert evidence.location_refusal(device=handheld, location=elsewhere) == "wrong_location"
    assert evidence.location_refusal(device=None, location=w.b1) is None


# --- Methods --------------------------------------------------------------------


def test_a_persons_fingerprint_is_refused_and_their_visual_check_accepted(w):
    at = T0
    body = post(
        w.guard_api,
        [
            item(w.ana, w.a1, at, "fingerprint", score=1.0),
            item(w.ana, w.a1, at, "iris"),
            item(w.ana, w.a1, at, "rfid"),
            item(w.ana, w.a1, at, "visual"),
            item(w.bea, w.b1, at, "manual"),
        ],
        at,
    )

    assert statuses(body) == ["rejected"] * 3 + ["accepted"] * 2
    assert "method" in body["results"][0]["errors"]
    assert reasons() == ["method_not_allowed"] * 3
    stored = CheckIn.objects.order_by("method")
    assert [(c.method, c.is_biometric, c.recorded_by) for c in stored] == [
        ("manual", False, w.guard),
        ("visual", False, w.guard),
    ]
    w.ana.refresh_from_db()
    assert w.ana.last_seen_at == at  # the guard's eyes still count as seen


def test_refused_claims_are_listed_in_the_quarantine_by_reason(w, make_user, api_as):
    post(w.guard_api, [item(w.ana, w.a1, T0, "face"), item(w.ana, w.a1, T0, "bogus")], T0)
    auditor = api_as(make_user("auditor", w.facility))

    listed = auditor.get("/api/v1/quarantine/", {"reason": "method_not_allowed"}).json()

    assert [r["reason"] for r in listed["results"]] == ["method_not_allowed"]
    assert listed["results"][0]["submitted_by"] == "guard1"
    assert listed["results"][0]["raw"]["method"] == "face"


def test_a_reader_posts_only_the_methods_it_declares(w):
    body = post(
        w.reader_api,
        [
            item(w.ana, w.a1, T0, "fingerprint"),
            item(w.ana, w.a1, T0, "rfid"),
            item(w.ana, w.a1, T0, "face"),
            item(w.ana, w.a1, T0, "manual"),
        ],
        T0,
    )

    assert statuses(body) == ["accepted", "accepted", "rejected", "rejected"]
    assert reasons() == ["method_not_allowed", "method_not_allowed"]
    # A tag read is a machine read, not a match of the person's body.
    assert dict(CheckIn.objects.values_list("method", "is_biometric")) == {
        "fingerprint": True,
        "rfid": False,
    }


# --- Places ---------------------------------------------------------------------


def test_a_leaked_reader_key_naming_another_units_cell_is_refused(w):
    body = post(
        w.reader_api,
        [item(w.bea, w.b1, T0), item(w.ana, w.a2, T0), item(w.ana, w.unit_a, T0)],
        T0,
    )

    assert statuses(body) == ["rejected", "accepted", "accepted"]
    assert "location" in body["results"][0]["errors"]
    assert reasons() == ["wrong_location"]
    w.bea.refresh_from_db()
    assert w.bea.last_seen_at is None  # nobody kept "seen" from the wrong place


def test_a_handheld_reader_reports_anywhere_in_its_facility(w):
    body = post(w.handheld_api, [item(w.bea, w.b1, T0), item(w.ana, w.a1, T0)], T0)
    assert statuses(body) == ["accepted", "accepted"]


def test_the_place_rule_costs_one_query_per_batch_not_per_item(w):
    people = [
        factories.InmateFactory(facility=w.facility, cell=w.a1, booking_number=f"GT-N-{n}")
        for n in range(30)
    ]
    reader = Device.objects.select_related("location").get(pk=w.reader.pk)
    sender = Sender(
        principal=SimpleNamespace(device=reader, is_authenticated=True),
        device=reader,
        user=None,
        facility_ids=frozenset({w.facility.pk}),
    )

    def queries(batch):
        with CaptureQueriesContext(connection) as captured:
            checkins_ingest(raw_items=batch, sender=sender, now=T0)
        return len(captured)

    with time_machine.travel(T0, tick=False):
        small = queries([item(p, w.a1, T0) for p in people[:2]] + [item(w.bea, w.b1, T0)])
        large = queries([item(p, w.a1, T0) for p in people[2:]] + [item(w.bea, w.b1, T0)])
    assert small == large
    assert reasons() == ["wrong_location", "wrong_location"]


# --- Time -----------------------------------------------------------------------


def test_a_persons_three_hour_old_visual_check_is_refused_as_clock_past(w):
    received = T0 + timedelta(hours=3)
    body = post(
        w.guard_api,
        [
            item(w.ana, w.a1, T0, "visual"),
            item(w.ana, w.a1, received - timedelta(minutes=9), "visual"),
        ],
        received,
    )

    assert statuses(body) == ["rejected", "accepted"]
    assert "observed_at" in body["results"][0]["errors"]
    assert reasons() == ["clock_past"]


def test_a_reader_buffering_two_days_offline_is_accepted(w):
    made = T0 - timedelta(days=2)
    body = post(w.reader_api, [item(w.ana, w.a1, made)], T0)
    assert statuses(body) == ["accepted"]
    assert CheckIn.objects.get().observed_at == made


def test_a_devices_late_scan_closing_an_alert_records_the_delay(w):
    # Ana is due by 02:00 + grace; the alert opens; her reader was offline.
    with time_machine.travel(T0 - timedelta(hours=2), tick=False):
        Inmate.objects.filter(pk=w.ana.pk).update(
            next_due_at=T0 - timedelta(hours=1), last_seen_at=T0 - timedelta(hours=2)
        )
    Device.objects.update(last_heartbeat_at=T0 + timedelta(hours=3))
    reconcile(w.facility, T0 - timedelta(minutes=50))
    alert = Alert.objects.get(kind=AlertKind.MISSED_CHECKIN, inmate=w.ana)

    # Seen at 02:10 local, received at 04:55 local.
    received = T0 + timedelta(hours=2, minutes=45)
    body = post(w.reader_api, [item(w.ana, w.a1, T0)], received)
    assert statuses(body) == ["accepted"]
    reconcile(w.facility, received + timedelta(seconds=30))

    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED
    assert "observado 02:10, recibido 04:55" in alert.resolution  # the service speaks Spanish
    observation = alert.resolved_by_observation
    assert observation["checkin"] == body["results"][0]["id"]
    assert observation["delay_seconds"] == 2 * 3600 + 45 * 60


def test_a_scan_on_time_closes_its_alert_without_a_delay_note(w):
    Inmate.objects.filter(pk=w.ana.pk).update(
        next_due_at=T0 - timedelta(hours=1), last_seen_at=T0 - timedelta(hours=2)
    )
    Device.objects.update(last_heartbeat_at=T0)
    reconcile(w.facility, T0 - timedelta(minutes=50))
    post(w.reader_api, [item(w.ana, w.a1, T0)], T0 + timedelta(seconds=5))
    reconcile(w.facility, T0 + timedelta(seconds=30))

    alert = Alert.objects.get(kind=AlertKind.MISSED_CHECKIN, inmate=w.ana)
    assert alert.status == AlertStatus.RESOLVED
    assert "received" not in alert.resolution
    assert alert.resolved_by_observation["delay_seconds"] == 5


# --- Declaring methods ----------------------------------------------------------


@pytest.fixture
def admin_api(facility, make_user, api_as):
    return api_as(make_user("admin", facility))


def test_an_admin_declares_a_readers_methods_and_reads_the_effective_ones(admin_api, facility):
    created = admin_api.post(
        "/api/v1/devices/",
        {"facility": facility.code, "name": "r1", "kind": "biometric", "methods": ["rfid"]},
        format="json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["methods"] == ["rfid"]
    plain = admin_api.post(
        "/api/v1/devices/", {"facility": facility.code, "name": "t1", "kind": "tablet"}
    ).json()
    assert plain["methods"] == ["rfid", "visual", "manual"]

    path = f"/api/v1/devices/{created.json()['id']}/"
    # Adding methods applies at once (losing one would wait for a second officer).
    changed = admin_api.patch(path, {"methods": ["iris", "rfid", "fingerprint"]}, format="json")
    assert changed.status_code == 200, changed.content
    assert changed.json()["methods"] == ["fingerprint", "iris", "rfid"]
    assert Device.objects.get(name="r1").methods == ["fingerprint", "iris", "rfid"]


@pytest.mark.parametrize(
    "methods",
    [
        "fingerprint",
        {"fingerprint": True},
        ["laser"],
        [7],
        [None],
        ["fingerprint", "fingerprint"],
        ["fingerprint", "visual"],
        ["manual"],
    ],
)
def test_bad_methods_answer_400_naming_the_field(admin_api, facility, methods):
    response = admin_api.post(
        "/api/v1/devices/",
        {"facility": facility.code, "name": "r1", "kind": "biometric", "methods": methods},
        format="json",
    )
    assert response.status_code == 400, response.content
    assert "methods" in response.json()["errors"]
    assert not Device.objects.filter(name="r1").exists()


def test_a_tablet_with_person_methods_cannot_become_a_reader(admin_api, facility):
    tablet = admin_api.post(
        "/api/v1/devices/",
        {"facility": facility.code, "name": "t1", "kind": "tablet", "methods": ["visual"]},
        format="json",
    ).json()
    response = admin_api.patch(
        f"/api/v1/devices/{tablet['id']}/", {"kind": "biometric"}, format="json"
    )
    assert response.status_code == 400
    assert "methods" in response.json()["errors"]


def test_create_device_declares_methods_and_refuses_bad_ones(facility):
    factories.LocationFactory(facility=facility, code="A", kind="unit")
    call_command(
        "create_device",
        facility=facility.code,
        name="r1",
        kind="biometric",
        location="A",
        methods="fingerprint, rfid",
        stdout=StringIO(),
    )
    assert Device.objects.get(name="r1").methods == ["fingerprint", "rfid"]
    with pytest.raises(CommandError, match="methods:"):
        call_command(
            "create_device", facility=facility.code, name="r2", kind="biometric", methods="visual"
        )
    assert not Device.objects.filter(name="r2").exists()


@pytest.fixture
def root_client(client):
    root = User.objects.create_superuser("root", "root@example.org", "a-long-root-pass-2026")
    sign_in(client, root)
    return client


def test_the_admin_declares_methods_by_the_same_rule(root_client, facility):
    form = {"facility": facility.pk, "kind": "biometric", "is_active": "on"}
    refused = root_client.post(
        "/admin/custody/device/add/", {**form, "name": "r1", "methods": ["fingerprint", "visual"]}
    )
    assert refused.status_code == 200
    assert "methods" in refused.context["adminform"].form.errors
    assert not Device.objects.filter(name="r1").exists()

    created = root_client.post(
        "/admin/custody/device/add/", {**form, "name": "r2", "methods": ["iris", "rfid"]}
    )
    assert created.status_code == 302, created.content[:2000]
    assert Device.objects.get(name="r2").methods == ["iris", "rfid"]
