"""What a scan's answer gives away, and where a refused scan is kept.

A reader, a tablet or a guard of facility A learns nothing about facility B
from a refused scan: another facility's person or place gets the very answer
an unknown one gets. And a scan refused from a guard of several facilities is
kept under each of them, so the supervisors and auditors of every facility
that guard covers see it; none is lost for want of a facility."""

import uuid
from datetime import timedelta

import pytest
from django.apps import apps
from django.utils import timezone

from custody.models import LedgerEvent, LocationKind, QuarantinedCheckIn, User
from custody.services import ledger_verify
from tests import factories

pytestmark = pytest.mark.django_db

URL = "/api/v1/checkins/"
QUARANTINE = "/api/v1/quarantine/"
NOBODY = "GT-0000-999999"


@pytest.fixture
def w(make_user):
    a = factories.FacilityFactory(code="FA", name="Centro Alfa")
    b = factories.FacilityFactory(code="FB", name="Centro Beta")
    unit_a = factories.LocationFactory(facility=a, code="A", kind=LocationKind.UNIT)
    cell_a = factories.CellFactory(facility=a, parent=unit_a, code="A-01")
    cell_b = factories.CellFactory(facility=b, code="B-SECRETA-07")
    return {
        "a": a,
        "b": b,
        "cell_a": cell_a,
        "cell_b": cell_b,
        "ana": factories.InmateFactory(facility=a, cell=cell_a, booking_number="GT-A-1"),
        "beto": factories.InmateFactory(facility=b, cell=cell_b, booking_number="GT-B-1"),
        "guard_a": make_user("guard", a, username="guardia_a"),
        "guard_ab": make_user("guard", a, b, username="guardia_ab"),
        "sup_a": make_user("supervisor", a, username="sup_a"),
        "sup_b": make_user("supervisor", b, username="sup_b"),
        "aud_b": make_user("auditor", b, username="aud_b"),
    }


def item(booking: str, location: str, *, method="fingerprint", **extra) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "inmate": booking,
        "location": location,
        "method": method,
        "observed_at": (timezone.now() - timedelta(minutes=1)).isoformat(),
        **extra,
    }


def answer(client, *items) -> list[dict]:
    response = client.post(URL, list(items), format="json")
    assert response.status_code == 200, response.content
    return response.json()["results"]


def without(text, *words) -> str:
    for word in words:
        text = text.replace(word, "<X>")
    return text


def assert_tells_nothing_about_b(w, response_text: str):
    for secret in ("FB", "Centro Beta", "B-SECRETA-07"):
        assert secret not in response_text


# --- Nothing learnt about another facility ----------------------------------------


@pytest.mark.parametrize("sender", ["reader", "guard"])
def test_another_facilitys_person_is_answered_as_nobody(w, api_as, sender):
    if sender == "reader":
        _device, key = factories.device(w["a"])
        client, method = api_as(device_key=key), "fingerprint"
    else:
        client, method = api_as(w["guard_a"]), "visual"

    theirs, nobody = answer(
        client,
        item("GT-B-1", "A-01", method=method),
        item(NOBODY, "A-01", method=method),
    )

    assert theirs["status"] == nobody["status"] == "rejected"
    assert without(str(theirs["errors"]), "GT-B-1") == without(str(nobody["errors"]), NOBODY)
    assert_tells_nothing_about_b(w, str(theirs))
    reasons = QuarantinedCheckIn.objects.filter(facility=w["a"]).values_list("reason", flat=True)
    assert sorted(reasons) == ["unknown_inmate", "unknown_inmate"]
    # Kept under A, the sender's facility: nothing was written to B's record.
    assert not QuarantinedCheckIn.objects.filter(facility=w["b"]).exists()
    assert not LedgerEvent.objects.filter(facility=w["b"], action__startswith="checkins.").exists()


def test_another_facilitys_place_is_answered_as_no_place(w, api_as):
    _device, key = factories.device(w["a"])
    theirs, nowhere = answer(
        api_as(device_key=key), item("GT-A-1", "B-SECRETA-07"), item("GT-A-1", "NOWHERE")
    )

    assert theirs["status"] == nowhere["status"] == "rejected"
    assert without(str(theirs["errors"]), "B-SECRETA-07") == without(
        str(nowhere["errors"]), "NOWHERE"
    )
    assert_tells_nothing_about_b(w, without(str(theirs), "B-SECRETA-07"))


def test_the_quarantine_of_a_reader_tells_its_supervisor_nothing_about_b(w, api_as):
    _device, key = factories.device(w["a"])
    answer(api_as(device_key=key), item("GT-B-1", "A-01"))

    listing = api_as(w["sup_a"]).get(QUARANTINE)
    assert listing.status_code == 200
    [row] = listing.json()["results"]
    assert row["facility"] == "FA" and row["reason"] == "unknown_inmate"
    assert_tells_nothing_about_b(w, listing.content.decode())


# --- A guard of several facilities: never lost -------------------------------------


def listed_items(api_as, user) -> list[str]:
    response = api_as(user).get(QUARANTINE)
    assert response.status_code == 200
    return [row["item_id"] for row in response.json()["results"]]


def test_a_refused_scan_from_a_guard_of_two_facilities_is_seen_by_both(w, api_as):
    unknown = item(NOBODY, "A-01", method="visual")
    malformed = item("GT-A-1", "A-01", method="smell")

    results = answer(api_as(w["guard_ab"]), unknown, malformed)

    assert [r["status"] for r in results] == ["rejected", "rejected"]
    expected = sorted([unknown["id"], malformed["id"]])
    assert sorted(listed_items(api_as, w["sup_a"])) == expected
    assert sorted(listed_items(api_as, w["sup_b"])) == expected
    assert sorted(listed_items(api_as, w["aud_b"])) == expected
    for facility in (w["a"], w["b"]):
        event = LedgerEvent.objects.get(facility=facility, action="checkins.quarantined")
        assert event.data["count"] == 2 and event.actor == "user:guardia_ab"
        assert ledger_verify(facility=facility).ok
    # A retried request keeps nothing twice.
    answer(api_as(w["guard_ab"]), unknown, malformed)
    assert QuarantinedCheckIn.objects.count() == 4


def test_a_refused_scan_of_a_known_person_stays_with_that_persons_facility(w, api_as):
    wrong_place = item("GT-A-1", "NOWHERE", method="visual")

    [result] = answer(api_as(w["guard_ab"]), wrong_place)

    assert result["status"] == "rejected" and "location" in result["errors"]
    assert listed_items(api_as, w["sup_a"]) == [wrong_place["id"]]
    assert listed_items(api_as, w["sup_b"]) == []


def test_a_superuser_of_no_facility_keeps_its_rejects_in_sight_of_superusers(w, api_as):
    root = User.objects.create_superuser("root", "root@example.org", "a-long-root-pass-2026")
    unknown = item(NOBODY, "A-01", method="visual")

    answer(api_as(root), unknown)

    assert QuarantinedCheckIn.objects.get().facility is None
    assert listed_items(api_as, root) == [unknown["id"]]
    assert listed_items(api_as, w["sup_a"]) == []


def test_rejects_kept_under_no_facility_before_are_copied_under_their_senders(w, api_as):
    """The data migration: rows quarantined without a facility before this fix."""
    old = QuarantinedCheckIn.objects.create(
        received_at=timezone.now(),
        facility=None,
        submitted_by=w["guard_ab"],
        item_id="old-item",
        reason="unknown_inmate",
        errors={"inmate": ["No person"]},
        raw={"inmate": NOBODY},
        fingerprint="f" * 64,
    )
    migration = __import__(
        "custody.migrations.0018_quarantine_rows_without_facility", fromlist=["x"]
    )

    migration.copy_under_the_senders_facilities(apps, None)
    migration.copy_under_the_senders_facilities(apps, None)  # twice changes nothing

    copies = QuarantinedCheckIn.objects.exclude(pk=old.pk)
    assert sorted(copies.values_list("facility__code", flat=True)) == ["FA", "FB"]
    assert listed_items(api_as, w["sup_a"]) == ["old-item"]
    assert listed_items(api_as, w["sup_b"]) == ["old-item"]
