"""Django admin for the record, and the signed-in home page."""

import pytest
from django.utils import timezone

from custody.models import Device, Inmate, User, hash_device_key
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def root_client(client):
    root = User.objects.create_superuser("root", "root@example.org", "a-long-root-pass-2026")
    client.force_login(root)
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


@pytest.mark.parametrize("model", ["facility", "location", "inmate", "device", "user"])
def test_every_record_has_an_admin_list(root_client, model, facility):
    factories.InmateFactory(facility=facility)
    assert root_client.get(f"/admin/custody/{model}/").status_code == 200


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
