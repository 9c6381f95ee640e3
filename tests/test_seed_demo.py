"""`manage.py seed_demo` and the bulk admission service it uses."""

import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db.models import Count
from django.utils import timezone
from rest_framework.test import APIClient

from custody import services
from custody.models import (
    Device,
    DeviceKind,
    Facility,
    Inmate,
    InmateStatus,
    Location,
    LocationKind,
    SecurityLevel,
    User,
    hash_device_key,
)
from tests import factories

pytestmark = pytest.mark.django_db

ROLES = {"guardia": "guard", "supervisor": "supervisor", "auditor": "auditor", "admin": "admin"}


def seed(inmates=40, **options):
    out = StringIO()
    # The suite runs with DEBUG off, as production does.
    options.setdefault("demo_on_production", True)
    call_command("seed_demo", inmates=inmates, stdout=out, **options)
    return out.getvalue()


def printed_passwords(output: str) -> dict[str, str]:
    """username -> password, read from the sign-in table the command prints."""
    table = output.split("Demo sign-ins", 1)[1].splitlines()[2:]
    rows = [line.split() for line in table if line.strip() and not line.startswith("Demo")]
    return {row[0]: row[-1] for row in rows if row[0] in ROLES}


def printed_keys(output: str) -> list[str]:
    return re.findall(r"\bdk_[A-Za-z0-9_-]{20,}", output)


def counts():
    return {
        "facilities": Facility.objects.count(),
        "locations": Location.objects.count(),
        "inmates": Inmate.objects.count(),
        "devices": Device.objects.count(),
        "users": User.objects.count(),
        "memberships": User.facilities.through.objects.count(),
        "roles": User.groups.through.objects.count(),
    }


def test_seed_builds_a_facility_shaped_like_a_real_one():
    seed()
    facility = Facility.objects.get(code="FJ2")
    assert facility.name == "Centro de Detención Fraijanes II"
    assert facility.timezone == "America/Guatemala"

    units = facility.locations.filter(kind=LocationKind.UNIT)
    assert sorted(units.values_list("code", flat=True)) == list("ABCDEF")
    assert all(unit.name == f"Sector {unit.code}" for unit in units)

    cells = facility.locations.filter(kind=LocationKind.CELL).select_related("parent")
    assert 300 <= cells.count() <= 400
    for cell in cells:
        assert cell.parent.kind == LocationKind.UNIT
        assert re.fullmatch(rf"{cell.parent.code}-\d\d", cell.code)
        assert 4 <= cell.capacity <= 8
    for kind in (
        LocationKind.YARD,
        LocationKind.WORKSHOP,
        LocationKind.INFIRMARY,
        LocationKind.RECEPTION,
    ):
        assert facility.locations.filter(kind=kind).count() == 1


def test_seed_registers_a_reader_per_unit_and_two_tablets_with_working_keys():
    output = seed()
    facility = Facility.objects.get(code="FJ2")
    readers = facility.devices.filter(kind=DeviceKind.BIOMETRIC).select_related("location")
    assert sorted(reader.location.code for reader in readers) == list("ABCDEF")
    assert facility.devices.filter(kind=DeviceKind.TABLET, location=None).count() == 2

    keys = printed_keys(output)
    assert len(keys) == 8
    hashes = set(facility.devices.values_list("key_hash", flat=True))
    assert {hash_device_key(key) for key in keys} == hashes

    # A device key authenticates (403: devices may not read records) where a
    # made-up key does not (401).
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {keys[0]}")
    assert client.get("/api/v1/facilities/").status_code == 403
    client.credentials(HTTP_AUTHORIZATION="Token dk_" + "x" * 43)
    assert client.get("/api/v1/facilities/").status_code == 401


def test_seed_makes_one_sign_in_per_role_on_fj2():
    seed()
    facility = Facility.objects.get(code="FJ2")
    for username, role in ROLES.items():
        user = User.objects.get(username=username)
        assert list(user.groups.values_list("name", flat=True)) == [role]
        assert list(user.facilities.all()) == [facility]
        assert user.is_active and not user.is_superuser


def test_demo_users_get_a_token_with_the_printed_password():
    passwords = printed_passwords(seed())
    assert set(passwords) == set(ROLES)
    for username, password in passwords.items():
        r = APIClient().post(
            "/api/v1/auth/token/", {"username": username, "password": password}, format="json"
        )
        assert r.status_code == 200, (username, r.json())
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {r.json()['token']}")
        codes = [f["code"] for f in client.get("/api/v1/facilities/").json()["results"]]
        assert codes == ["FJ2"]


def test_everyone_in_custody_has_a_cell_and_a_staggered_deadline_in_the_future():
    before = timezone.now()
    seed(inmates=120)
    facility = Facility.objects.get(code="FJ2")
    inmates = list(facility.inmates.select_related("cell"))
    assert len(inmates) == 120
    now = timezone.now()
    for inmate in inmates:
        assert inmate.status == InmateStatus.IN_CUSTODY
        assert inmate.cell.kind == LocationKind.CELL
        assert inmate.cell.facility_id == facility.pk
        assert inmate.next_due_at > now
        # Admitted days ago (the demo's past comes after), last seen by their
        # unit's reader less than one interval ago: due one interval after that.
        assert inmate.admitted_at <= now - timedelta(days=3)
        assert inmate.last_seen_at > now - facility.check_interval(inmate.security_level)
        assert inmate.next_due_at == inmate.last_seen_at + facility.check_interval(
            inmate.security_level
        )
    # Spread out, not all due at the same second, and the earliest minutes away.
    assert len({inmate.next_due_at for inmate in inmates}) > 100
    assert min(inmate.next_due_at for inmate in inmates) > before + timedelta(minutes=2)


def test_default_size_population_by_level_and_unit():
    seed(inmates=2000)
    inmates = Inmate.objects.filter(facility__code="FJ2")
    assert inmates.count() == 2000
    assert inmates.filter(booking_number="GT-2025-000001").exists()
    assert inmates.filter(booking_number="GT-2025-002000").exists()

    by_level = dict(inmates.values_list("security_level").annotate(n=Count("id")))
    assert 300 <= by_level[SecurityLevel.MAXIMUM] <= 500
    assert 900 <= by_level[SecurityLevel.MEDIUM] <= 1100
    assert 500 <= by_level[SecurityLevel.MINIMUM] <= 700

    # Maximum security is concentrated in the two high-security units.
    maximum = inmates.filter(security_level=SecurityLevel.MAXIMUM)
    assert maximum.filter(cell__parent__code__in=["A", "B"]).count() == maximum.count()

    overfull = Location.objects.filter(kind=LocationKind.CELL).annotate(n=Count("inmates"))
    assert not [cell.code for cell in overfull if cell.n > cell.capacity]
    # Real names: both surnames, from the fixed lists.
    assert all(" " in last for last in inmates.values_list("last_name", flat=True)[:50])


def test_running_twice_creates_nothing_and_shows_no_new_keys():
    seed(inmates=60)
    hashes = set(Device.objects.values_list("key_hash", flat=True))
    before = counts()

    output = seed(inmates=60)

    assert counts() == before
    assert set(Device.objects.values_list("key_hash", flat=True)) == hashes
    assert printed_keys(output) == []
    assert "already there" in output
    assert "create_device" in output


def test_rerun_resets_the_demo_users():
    seed()
    other = factories.FacilityFactory()  # a demo database may gain facilities
    guard = User.objects.get(username="guardia")
    services.user_reset(
        user=guard, role="supervisor", password="changed-1234-x", facilities=[other]
    )
    guard.is_active = False
    guard.save()

    passwords = printed_passwords(seed(force=True))

    guard = User.objects.get(username="guardia")
    assert guard.check_password(passwords["guardia"])
    assert guard.is_active
    assert guard.role == "guard"
    assert [f.code for f in guard.facilities.all()] == ["FJ2"]


def test_a_superuser_named_admin_keeps_its_password():
    User.objects.create_superuser("admin", password="the-real-admin-pass-77")
    output = seed()
    assert User.objects.get(username="admin").check_password("the-real-admin-pass-77")
    assert printed_passwords(output)["admin"] == "unchanged)"  # "(superuser; left unchanged)"
    assert User.objects.get(username="guardia").role == "guard"


def test_a_larger_rerun_adds_only_the_newcomers_within_capacity():
    seed(inmates=30)
    first = dict(Inmate.objects.values_list("booking_number", "cell_id"))
    seed(inmates=90)
    assert Inmate.objects.count() == 90
    assert {
        number: cell for number, cell in Inmate.objects.values_list("booking_number", "cell_id")
    }.items() >= first.items()
    overfull = Location.objects.filter(kind=LocationKind.CELL).annotate(n=Count("inmates"))
    assert not [cell.code for cell in overfull if cell.n > cell.capacity]


def test_more_people_than_cells_fails_and_leaves_nothing_behind():
    with pytest.raises(CommandError, match="Room for"):
        seed(inmates=5_000)
    assert counts()["facilities"] == 0 and counts()["inmates"] == 0


def test_negative_inmates_is_refused():
    with pytest.raises(CommandError):
        seed(inmates=-1)


# --- services.inmates_admit_bulk --------------------------------------------


def row(cell, number, **overrides):
    return {
        "booking_number": f"BULK-{number:04d}",
        "first_name": "Juan",
        "last_name": "López Pérez",
        "security_level": SecurityLevel.MAXIMUM,
        "cell": cell,
        **overrides,
    }


def test_bulk_admission_follows_the_admission_rule(facility):
    cell = factories.CellFactory(facility=facility)
    at = timezone.now() - timedelta(minutes=5)
    own = at - timedelta(minutes=10)
    rows = [row(cell, 1), row(cell, 2, admitted_at=own, security_level=SecurityLevel.MINIMUM)]

    assert services.inmates_admit_bulk(facility=facility, rows=rows, admitted_at=at) == 2

    one, two = Inmate.objects.order_by("booking_number")
    assert (one.status, one.cell, one.admitted_at) == (InmateStatus.IN_CUSTODY, cell, at)
    assert one.next_due_at == at + facility.check_interval(SecurityLevel.MAXIMUM)
    assert two.next_due_at == own + facility.check_interval(SecurityLevel.MINIMUM)
    # The same deadline inmate_admit gives.
    single = services.inmate_admit(facility=facility, admitted_at=at, **row(cell, 3))
    assert single.next_due_at == one.next_due_at


def test_bulk_admission_skips_booking_numbers_already_in_the_record(facility):
    cell = factories.CellFactory(facility=facility)
    services.inmates_admit_bulk(facility=facility, rows=[row(cell, 1)])
    assert services.inmates_admit_bulk(facility=facility, rows=[row(cell, 1), row(cell, 2)]) == 1
    assert Inmate.objects.count() == 2


@pytest.mark.parametrize("problem", ["other_facility", "not_a_cell", "no_cell", "bad_level"])
def test_bulk_admission_rejects_the_whole_batch_on_one_bad_row(facility, other_facility, problem):
    cell = factories.CellFactory(facility=facility)
    bad = {
        "other_facility": {"cell": factories.CellFactory(facility=other_facility)},
        "not_a_cell": {"cell": cell.parent},
        "no_cell": {"cell": None},
        "bad_level": {"security_level": "extreme"},
    }[problem]
    rows = [row(cell, 1), {**row(cell, 2), **bad}]
    with pytest.raises(ValidationError) as exc:
        services.inmates_admit_bulk(facility=facility, rows=rows)
    assert list(exc.value.message_dict) == [
        "rows[1].security_level" if problem == "bad_level" else "rows[1].cell"
    ]
    assert not Inmate.objects.exists()


def test_bulk_admission_rejects_a_booking_number_twice_in_one_batch(facility):
    cell = factories.CellFactory(facility=facility)
    with pytest.raises(ValidationError, match=r"Repeated|Repetid"):
        services.inmates_admit_bulk(facility=facility, rows=[row(cell, 1), row(cell, 1)])
    assert not Inmate.objects.exists()


def test_seed_demo_refuses_a_database_with_real_facilities(db):
    from tests.factories import FacilityFactory

    FacilityFactory(code="REAL-1")
    with pytest.raises(CommandError, match="real facilities"):
        seed(inmates=5)
    seed(inmates=5, force=True)
