"""Django admin for the record, and the signed-in home page."""

import json

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from custody.models import Device, Inmate, LedgerEvent, User, hash_device_key
from custody.services import ledger_verify
from tests import factories
from tests.second_factor import sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def root_client(client):
    root = User.objects.create_superuser("root", "root@example.org", "a-long-root-pass-2026")
    sign_in(client, root)
    return client


def test_admin_admission_sets_the_first_deadline(root_client, facility):
    cell = factories.CellFactory(facility=facility)
    now = timezone.localtime()  # the admin form reads times in the current zone
    response = root_client.post(
        "/admin/custody/inmate/add/",
        {
            "booking_number": "GT-ADM-1",
            "first_name": "Ana",
            "last_name": "Ruiz",
            "facility": facility.pk,
            "cell": cell.pk,
            "security_level": "maximum",
            "admitted_at_0": now.strftime("%Y-%m-%d"),
            "admitted_at_1": now.strftime("%H:%M:%S"),
        },
    )
    assert response.status_code == 302, response.content[:2000]
    inmate = Inmate.objects.get(booking_number="GT-ADM-1")
    assert inmate.next_due_at is not None


def test_admin_refuses_a_cell_of_another_facility_with_a_form_error(
    root_client, facility, other_facility
):
    foreign_cell = factories.CellFactory(facility=other_facility)
    now = timezone.localtime()
    response = root_client.post(
        "/admin/custody/inmate/add/",
        {
            "booking_number": "GT-ADM-2",
            "first_name": "Ana",
            "last_name": "Ruiz",
            "facility": facility.pk,
            "cell": foreign_cell.pk,
            "security_level": "maximum",
            "admitted_at_0": now.strftime("%Y-%m-%d"),
            "admitted_at_1": now.strftime("%H:%M:%S"),
        },
    )
    assert response.status_code == 200
    assert "cell" in response.context["adminform"].form.errors
    assert not Inmate.objects.filter(booking_number="GT-ADM-2").exists()


def test_admin_device_creation_shows_the_key_once_and_stores_its_hash(root_client, facility):
    response = root_client.post(
        "/admin/custody/device/add/",
        {"facility": facility.pk, "name": "Lector X", "kind": "biometric", "is_active": "on"},
        follow=True,
    )
    assert response.status_code == 200
    device = Device.objects.get(name="Lector X")
    shown = [str(m) for m in response.context["messages"]]
    key = next(m.split(": ", 1)[1] for m in shown if device.key_prefix in m)
    assert hash_device_key(key) == device.key_hash


@pytest.mark.parametrize(
    "model",
    [
        "facility",
        "location",
        "inmate",
        "device",
        "user",
        "movement",
        "cellassignment",
        "quarantinedcheckin",
        "ledgerevent",
    ],
)
def test_every_record_has_an_admin_list_and_nothing_is_deleted_there(root_client, model, facility):
    factories.InmateFactory(facility=facility)
    page = root_client.get(f"/admin/custody/{model}/")
    assert page.status_code == 200
    assert "delete_selected" not in page.content.decode()


def test_admin_edits_reach_the_ledger(root_client, facility):
    response = root_client.post(
        f"/admin/custody/facility/{facility.pk}/change/",
        {
            "code": facility.code,
            "name": "Renamed",
            "timezone": facility.timezone,
            "check_interval_seconds": '{"maximum": 900, "medium": 3600, "minimum": 7200}',
            "grace_seconds": 120,
            "identity_window_seconds": facility.identity_window_seconds,
            "max_absence_seconds": json.dumps(facility.max_absence_seconds),
            "count_freeze_seconds": facility.count_freeze_seconds,
            "recount_sample_percent": facility.recount_sample_percent,
            "internal_movement_max_seconds": facility.internal_movement_max_seconds,
            "round_intervals": json.dumps(facility.round_intervals),
            "round_grace_seconds": facility.round_grace_seconds,
            "round_min_spread_percent": facility.round_min_spread_percent,
            "reception_deadline_seconds": facility.reception_deadline_seconds,
        },
    )
    assert response.status_code == 302, response.content[:3000]
    event = LedgerEvent.objects.filter(facility=facility, action="facility.updated").get()
    assert event.actor == "user:root"
    assert event.data["changes"]["grace_seconds"] == {"from": 300, "to": 120}
    assert ledger_verify(facility=facility).ok


def test_admin_user_changes_reach_the_ledger(root_client, facility):
    guard = factories.UserFactory(role="guard", facilities=[facility], username="g1")
    supervisors = Group.objects.get(name="supervisor")
    before = LedgerEvent.objects.filter(facility=facility, subject="user:g1").count()
    response = root_client.post(
        f"/admin/custody/user/{guard.pk}/change/",
        {
            "username": "g1",
            "is_active": "on",
            "groups": [supervisors.pk],
            "facilities": [facility.pk],
            "date_joined_0": "2026-11-01",
            "date_joined_1": "08:00:00",
        },
    )
    assert response.status_code == 302, response.content[:3000]
    events = LedgerEvent.objects.filter(facility=facility, subject="user:g1").order_by("seq")
    assert events.count() == before + 1
    assert events.last().data["changes"]["role"] == {"from": "guard", "to": "supervisor"}


def test_the_append_only_records_cannot_be_changed_in_the_admin(root_client, facility):
    factories.InmateFactory(facility=facility)
    event = LedgerEvent.objects.filter(facility=facility).first()
    assert root_client.get("/admin/custody/ledgerevent/add/").status_code == 403
    page = root_client.get(f"/admin/custody/ledgerevent/{event.pk}/change/")
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert root_client.post(f"/admin/custody/ledgerevent/{event.pk}/change/").status_code == 403
    assert root_client.post(f"/admin/custody/ledgerevent/{event.pk}/delete/").status_code == 403


def test_home_page_lists_only_my_facilities(client, facility, other_facility, make_user):
    factories.InmateFactory(facility=facility)
    client.force_login(make_user("guard", facility))
    page = client.get("/").content.decode()
    assert facility.name in page and other_facility.name not in page


def test_home_page_needs_a_sign_in(client):
    response = client.get("/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_home_page_costs_a_fixed_number_of_queries(
    client, facility, other_facility, make_user, django_assert_max_num_queries
):
    for f in (facility, other_facility):
        for _ in range(5):
            factories.InmateFactory(facility=f)
    client.force_login(make_user("supervisor", facility, other_facility))
    with django_assert_max_num_queries(8):
        assert client.get("/").status_code == 200
