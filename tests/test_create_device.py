"""`manage.py create_device`: a device and its key, printed once."""

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from custody.models import Device, hash_device_key
from tests import factories

pytestmark = pytest.mark.django_db


def create_device(**options):
    out = StringIO()
    call_command("create_device", stdout=out, **options)
    return out.getvalue()


def test_prints_the_id_and_a_key_that_authenticates(facility):
    unit = factories.LocationFactory(facility=facility, code="A")
    output = create_device(facility=facility.code, name="Lector A", kind="biometric", location="A")

    device = Device.objects.get(facility=facility, name="Lector A")
    assert (device.kind, device.location) == ("biometric", unit)
    assert f"id:  {device.pk}" in output
    key = re.search(r"key: (dk_\S+)", output).group(1)
    assert hash_device_key(key) == device.key_hash
    assert device.key_prefix == key[:10]

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    # Authenticated as a device (403: devices may not read records), not refused (401).
    assert client.get("/api/v1/facilities/").status_code == 403


def test_a_tablet_needs_no_location(facility):
    create_device(facility=facility.code, name="Tableta 9", kind="tablet")
    assert Device.objects.get(name="Tableta 9").location is None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"facility": "NOPE"}, "Unknown facility 'NOPE'"),
        ({"kind": "camera"}, "Unknown kind 'camera'"),
        ({"location": "Z-99"}, "Unknown location 'Z-99'"),
        ({"name": ""}, "name:"),
    ],
)
def test_bad_input_is_a_clear_error_and_creates_nothing(facility, options, message):
    args = {"facility": facility.code, "name": "Lector", "kind": "biometric", **options}
    with pytest.raises(CommandError, match=message):
        create_device(**args)
    assert not Device.objects.exists()


def test_a_location_of_another_facility_is_unknown_here(facility, other_facility):
    factories.LocationFactory(facility=other_facility, code="B")
    with pytest.raises(CommandError, match="Unknown location 'B'"):
        create_device(facility=facility.code, name="Lector", kind="biometric", location="B")


def test_a_name_already_used_in_the_facility_is_refused(facility):
    create_device(facility=facility.code, name="Lector", kind="biometric")
    with pytest.raises(CommandError, match="Device not created"):
        create_device(facility=facility.code, name="Lector", kind="tablet")
    assert Device.objects.count() == 1
