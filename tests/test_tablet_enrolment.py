"""Tablets as enrolled devices (docs/api.md "Tablets"): an admin enrols the
browser; its marks then go under the officer and the tablet; only such a
tablet may record a scan as ``rfid``, and a person's word (typed, seen) is
never machine evidence."""

import uuid

import pytest

from custody.models import CheckIn, Device, LedgerEvent, RollCallEntry
from custody.services import rollcalls, tablets
from custody.services.access import device_update
from custody.services.evidence import device_methods, location_refusal, method_refusal
from custody.tablet_credential import TABLET_COOKIE
from tests import factories
from tests.rollcall_world import count_world, entry
from tests.second_factor import sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def w(facility, make_user):
    return count_world(facility, make_user)


def begin(w):
    rollcall, _created = rollcalls.rollcall_start(
        location=w.unit, kind="formal", by=w.users["guard"]
    )
    return rollcall


def enrol(w, *, facility=None, methods=("rfid", "visual", "manual"), **extra):
    admin = w.users["admin"]
    return tablets.tablet_enrol(
        facility=facility or w.facility,
        name=extra.pop("name", f"Tablet {uuid.uuid4().hex[:6]}"),
        methods=list(methods),
        by=admin,
        **extra,
    )


def post_entries(client, rollcall, items):
    response = client.post(f"/api/v1/rollcalls/{rollcall.pk}/entries/", items, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def on_tablet(client, key):
    client.cookies[TABLET_COOKIE] = key
    return client


# --- Who vouches for which method ------------------------------------------------------


def test_a_person_alone_vouches_only_for_what_they_saw_or_typed(facility):
    for method in ("visual", "manual"):
        assert method_refusal(method=method, device=None) is None
    for method in ("rfid", "fingerprint", "face", "iris"):
        assert method_refusal(method=method, device=None) == "method_not_allowed"


def test_a_device_vouches_for_its_methods_or_its_kinds_while_active(facility):
    reader, _key = factories.device(facility, kind="biometric")
    tablet, _key = factories.device(facility, kind="tablet")
    assert device_methods(reader) == {"fingerprint", "face", "iris", "rfid"}
    assert device_methods(tablet) == {"rfid", "visual", "manual"}
    assert method_refusal(method="fingerprint", device=tablet) == "method_not_allowed"
    assert method_refusal(method="rfid", device=tablet) is None
    tablet.methods = ["manual"]
    assert method_refusal(method="rfid", device=tablet) == "method_not_allowed"
    reader.is_active = False
    assert method_refusal(method="face", device=reader) == "method_not_allowed"


def test_a_device_with_a_place_reports_only_there_and_under_it(w):
    tablet, _key = factories.device(w.facility, kind="tablet", location=w.unit)
    assert location_refusal(device=tablet, location=w.unit) is None
    assert location_refusal(device=tablet, location=w.cells[0]) is None
    assert location_refusal(device=tablet, location=w.other_unit) == "wrong_location"
    assert location_refusal(device=None, location=w.other_unit) is None


# --- The API ------------------------------------------------------------------------------


def test_a_guards_token_may_not_post_rfid_or_biometric_marks(w, english_api_as):
    rollcall = begin(w)
    client = english_api_as(w.users["guard"])
    body = post_entries(
        client,
        rollcall,
        [
            entry(w.booking(0), method="rfid"),
            entry(w.booking(1), method="fingerprint"),
            entry(w.booking(2), method="manual"),
            entry(w.booking(3), method="visual"),
        ],
    )
    assert [r["status"] for r in body["results"]] == [
        "rejected",
        "rejected",
        "accepted",
        "accepted",
    ]
    assert [r["reason"] for r in body["results"]] == ["method_not_allowed"] * 2 + ["", ""]
    assert "enrolled, active tablet" in body["results"][0]["errors"]["method"][0]
    # Nothing good in the batch lost; the person's word is never biometric.
    stored = RollCallEntry.objects.filter(rollcall=rollcall)
    assert sorted(stored.values_list("method", flat=True)) == ["manual", "visual"]
    assert set(stored.values_list("device", flat=True)) == {None}
    assert set(CheckIn.objects.values_list("method", "is_biometric")) == {
        ("manual", False),
        ("visual", False),
    }
    # The refusals are on the record, with their reason.
    event = LedgerEvent.objects.filter(action="rollcall.entries").latest("seq")
    assert [r["reason"] for r in event.data["rejected"]] == ["method_not_allowed"] * 2


def test_an_enrolled_tablet_records_rfid_under_the_officer_and_the_tablet(w, english_api_as):
    rollcall = begin(w)
    tablet, key = enrol(w)
    client = on_tablet(english_api_as(w.users["guard"]), key)
    body = post_entries(
        client,
        rollcall,
        [entry(w.booking(0), method="rfid"), entry(w.booking(1), method="manual")],
    )
    assert body["accepted"] == 2, body
    rfid = RollCallEntry.objects.get(rollcall=rollcall, method="rfid")
    assert (rfid.recorded_by, rfid.device) == (w.users["guard"], tablet)
    assert RollCallEntry.objects.get(method="manual").device == tablet
    checkins = {c.method: c for c in CheckIn.objects.all()}
    # A machine read of the tablet, but a tag, not a person's body: not biometric.
    assert (checkins["rfid"].is_biometric, checkins["rfid"].device_id) == (False, tablet.pk)
    assert checkins["rfid"].recorded_by == w.users["guard"]
    assert (checkins["manual"].is_biometric, checkins["manual"].device_id) == (False, None)
    shown = client.get(f"/api/v1/rollcalls/{rollcall.pk}/").json()
    assert {e["device"] for e in shown["entries"]} == {str(tablet.pk)}
    assert {line["mark_method"] for line in shown["expected"]} == {"rfid", "manual", None}
    tablet.refresh_from_db()
    assert tablet.last_heartbeat_at is not None  # a tablet in use is not offline
    event = LedgerEvent.objects.filter(action="rollcall.entries").latest("seq")
    assert event.data["device"] == str(tablet.pk)
    assert event.data["methods"] == {"rfid": 1, "manual": 1}


def test_a_tablet_of_another_facility_vouches_for_nothing(w, other_facility, english_api_as):
    rollcall = begin(w)
    w.users["admin"].facilities.add(other_facility)
    _foreign, key = enrol(w, facility=other_facility)
    client = on_tablet(english_api_as(w.users["guard"]), key)
    body = post_entries(client, rollcall, [entry(w.booking(0), method="rfid"), entry(w.booking(1))])
    assert [r["reason"] for r in body["results"]] == ["method_not_allowed", ""]
    assert RollCallEntry.objects.get(rollcall=rollcall).device is None


def test_a_deactivated_tablet_or_one_without_rfid_is_refused(w, english_api_as):
    rollcall = begin(w)
    ended, ended_key = enrol(w)
    device_update(device=ended, by=w.users["admin"], is_active=False)
    _typing_only, typing_key = enrol(w, methods=["visual", "manual"])
    for key in (ended_key, typing_key):
        client = on_tablet(english_api_as(w.users["guard"]), key)
        body = post_entries(client, rollcall, [entry(w.booking(0), method="rfid")])
        assert body["results"][0]["reason"] == "method_not_allowed", body
    assert not RollCallEntry.objects.filter(rollcall=rollcall).exists()


def test_a_tablet_placed_in_another_unit_cannot_scan_this_one(w, english_api_as):
    rollcall = begin(w)
    _tablet, key = enrol(w, location=w.other_unit)
    client = on_tablet(english_api_as(w.users["guard"]), key)
    body = post_entries(client, rollcall, [entry(w.booking(0), method="rfid")])
    assert body["results"][0]["reason"] == "wrong_location"


def test_a_device_key_alone_takes_no_count(w, api_as):
    rollcall = begin(w)
    _tablet, key = enrol(w)
    response = api_as(device_key=key).post(
        f"/api/v1/rollcalls/{rollcall.pk}/entries/",
        [entry(w.booking(0), method="rfid")],
        format="json",
    )
    assert response.status_code == 403
    assert not RollCallEntry.objects.exists()


# --- Enrolment on the tablet ----------------------------------------------------------------


def enrol_form(w, **extra):
    return {
        "facility": w.facility.pk,
        "name": "Tablet B-2",
        "location": "",
        "methods": ["rfid", "visual", "manual"],
        **extra,
    }


def test_an_admin_enrols_this_browser_and_it_keeps_an_unreadable_credential(client, w):
    sign_in(client, w.users["admin"])
    assert (
        "not an enrolled tablet"
        in client.get("/counts/tablet/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    )
    response = client.post("/counts/tablet/", enrol_form(w, location=w.unit.pk))
    assert response.status_code == 302, response.content.decode()
    device = Device.objects.get(name="Tablet B-2")
    assert (device.kind, device.facility, device.location) == ("tablet", w.facility, w.unit)
    assert device.methods == ["rfid", "visual", "manual"]
    cookie = response.cookies[TABLET_COOKIE]
    assert cookie.value.startswith("dk_") and device.key_prefix == cookie.value[:10]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/"
    assert int(cookie["max-age"]) >= 365 * 86400
    event = LedgerEvent.objects.get(action="tablet.enrolled")
    assert event.actor == f"user:{w.users['admin'].username}"
    assert event.data["methods"] == device.methods and event.data["replaces"] is None
    assert cookie.value not in str(event.data)
    page = client.get("/counts/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Tablet B-2" in page and 'data-tablet="enrolled"' in page


def test_enrolling_again_ends_the_tablet_this_browser_held(client, w):
    sign_in(client, w.users["admin"])
    client.post("/counts/tablet/", enrol_form(w, name="Old"))
    response = client.post("/counts/tablet/", enrol_form(w, name="New"))
    assert response.status_code == 302
    old, new = Device.objects.get(name="Old"), Device.objects.get(name="New")
    assert not old.is_active and new.is_active
    assert LedgerEvent.objects.filter(action="tablet.enrolled").latest("seq").data[
        "replaces"
    ] == str(old.pk)


def test_only_an_admin_enrols_and_names_are_checked(client, w, other_facility):
    for role in ("guard", "supervisor", "auditor"):
        sign_in(client, w.users[role])
        assert client.get("/counts/tablet/").status_code == 403
        assert client.post("/counts/tablet/", enrol_form(w)).status_code == 403
    sign_in(client, w.users["admin"])
    refused = client.post(
        "/counts/tablet/", enrol_form(w, facility=other_facility.pk), HTTP_ACCEPT_LANGUAGE="en"
    )
    assert refused.status_code == 400
    refused = client.post(
        "/counts/tablet/", enrol_form(w, methods=["fingerprint"]), HTTP_ACCEPT_LANGUAGE="en"
    )
    assert refused.status_code == 400
    assert not Device.objects.exists()
    assert TABLET_COOKIE not in refused.cookies


def test_the_count_page_says_which_tablet_marks_go_under(client, w):
    rollcall = begin(w)
    sign_in(client, w.users["guard"])
    page = client.get(f"/counts/{rollcall.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'data-tablet="none"' in page and 'data-tablet-rfid="0"' in page
    assert "Enrol this tablet" not in page  # only admins are offered it
    tablet, key = enrol(w, name="Tablet B-7")
    client.cookies[TABLET_COOKIE] = key
    response = client.get(f"/counts/{rollcall.pk}/", HTTP_ACCEPT_LANGUAGE="en")
    page = response.content.decode()
    assert 'data-tablet="enrolled"' in page and 'data-tablet-rfid="1"' in page
    assert "Tablet B-7" in page
    assert response.cookies[TABLET_COOKIE].value == key  # renewed while in use
    device_update(device=tablet, by=w.users["admin"], is_active=False)
    page = client.get(f"/counts/{rollcall.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'data-tablet="ended"' in page and 'data-tablet-rfid="0"' in page


def test_the_page_without_javascript_never_records_a_persons_scan_as_rfid(client, w):
    rollcall = begin(w)
    sign_in(client, w.users["guard"])
    url = f"/counts/{rollcall.pk}/mark/"
    form = {"entry_id": str(uuid.uuid4()), "status": "present", "inmate": w.booking(0)}
    refused = client.post(url, {**form, "method": "rfid"}, HTTP_ACCEPT_LANGUAGE="en")
    assert refused.status_code == 400
    assert "enrolled, active tablet" in refused.content.decode()
    assert not RollCallEntry.objects.exists()
    _tablet, key = enrol(w)
    client.cookies[TABLET_COOKIE] = key
    assert client.post(url, {**form, "method": "rfid"}).status_code == 302
    assert RollCallEntry.objects.get().method == "rfid"
