"""The national chain: accounts with no facility are on the record too, and
the chain's owner row never passes for a prison."""

import io

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.utils import translation

from custody import services
from custody.models import NATIONAL_CODE, Facility, LedgerEvent, User
from custody.services.account_record import account_chains, account_event
from tests.second_factor import sign_in


@pytest.fixture
def root(db):
    return User.objects.create_superuser("root", "root@example.org", "a-long-root-pass-2026")


def chain_of(facility, **filters):
    return list(LedgerEvent.objects.filter(facility=facility, **filters).order_by("seq"))


def test_the_national_chain_is_created_once_and_never_listed_as_a_facility(facility):
    national = services.national_chain()
    assert services.national_chain().pk == national.pk
    assert national.is_national and national.code == NATIONAL_CODE
    assert list(Facility.objects.all()) == [facility]
    assert Facility.chain_owners.count() == 2


def test_the_database_holds_at_most_one_national_chain_under_the_reserved_code(db):
    services.national_chain()
    with pytest.raises(IntegrityError), transaction.atomic():
        Facility.chain_owners.create(code="OTHER", name="x", is_national=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        Facility.chain_owners.create(code=NATIONAL_CODE + "2", name="x", is_national=True)


def test_a_real_facility_cannot_take_the_reserved_code(db):
    with pytest.raises(IntegrityError), transaction.atomic():
        Facility.chain_owners.create(code=NATIONAL_CODE, name="Impostor")


def test_an_account_with_no_facility_is_recorded_on_the_national_chain(root, facility):
    events = account_event(user=root, actor=None, action="user.locked", data={"failures": 5})

    national = services.national_chain()
    assert [e.facility_id for e in events] == [national.pk]
    event = chain_of(national, subject="user:root")[-1]
    assert (event.action, event.actor, event.data) == ("user.locked", "system", {"failures": 5})
    assert not chain_of(facility)


def test_an_account_event_goes_to_each_of_the_users_facilities(facility, other_facility, make_user):
    admin = make_user("admin", facility)
    user = make_user("guard", facility, other_facility)

    account_event(user=user, actor=admin, action="user.unlocked", data={})

    for chain in (facility, other_facility):
        event = chain_of(chain, subject=f"user:{user.username}")[-1]
        assert (event.action, event.actor) == ("user.unlocked", f"user:{admin.username}")
    assert not Facility.chain_owners.filter(is_national=True).exists()


def test_a_superuser_with_facilities_is_also_on_the_national_chain(facility):
    user = services.user_create(
        username="jefa", password="a-long-pass-2026", role="admin", facilities=[facility]
    )
    user.is_superuser = True
    user.save()
    assert {c.code for c in account_chains(user)} == {facility.code, NATIONAL_CODE}


@pytest.mark.parametrize("secret", ["password", "token", "secret", "key"])
def test_an_account_event_refuses_to_carry_a_secret(root, secret):
    before = LedgerEvent.objects.count()
    with pytest.raises(ValueError):
        account_event(user=root, actor=None, action="user.updated", data={"x": {secret: "s3"}})
    assert LedgerEvent.objects.count() == before


def test_verify_ledger_checks_the_national_chain(root, facility):
    account_event(user=root, actor=root, action="user.updated", data={"role": "admin"})
    out = io.StringIO()
    with translation.override("en"):
        call_command("verify_ledger", stdout=out)
        # The superuser's creation (console, createsuperuser) and the update.
        assert f"{NATIONAL_CODE}: ok, 2 events" in out.getvalue()
        out = io.StringIO()
        call_command("verify_ledger", "--facility", NATIONAL_CODE, stdout=out)
    assert f"{NATIONAL_CODE}: ok" in out.getvalue()


def test_the_daily_verification_covers_the_national_chain(root):
    from custody.tasks import verify_ledgers

    account_event(user=root, actor=root, action="user.updated", data={})
    national = services.national_chain()
    with transaction.atomic(), connection.cursor() as cursor:
        # Only a superuser session can do this; the point is that it is seen.
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(
            'UPDATE custody_ledgerevent SET data = \'{"role": "guard"}\' WHERE facility_id = %s',
            [national.pk],
        )
    assert verify_ledgers() == [NATIONAL_CODE]


def test_only_a_superuser_reads_the_national_chain(root, facility, make_user, api_as):
    account_event(user=root, actor=root, action="user.updated", data={})
    admin = make_user("admin", facility)

    body = api_as(root).get("/api/v1/ledger/", {"facility": NATIONAL_CODE}).json()
    assert [(e["facility"], e["action"], e["actor"]) for e in body["results"]] == [
        (NATIONAL_CODE, "user.created", "system"),
        (NATIONAL_CODE, "user.updated", "user:root"),
    ]
    verified = api_as(root).get("/api/v1/ledger/verify/", {"facility": NATIONAL_CODE})
    assert verified.status_code == 200 and verified.json()["ok"] is True

    assert not api_as(admin).get("/api/v1/ledger/", {"facility": NATIONAL_CODE}).json()["results"]
    verified = api_as(admin).get("/api/v1/ledger/verify/", {"facility": NATIONAL_CODE})
    assert verified.status_code == 404
    # Never a prison: not among a superuser's facilities.
    codes = [f["code"] for f in api_as(root).get("/api/v1/facilities/").json()["results"]]
    assert codes == [facility.code]


def test_a_superuser_opens_the_national_chains_ledger_page(root, facility, make_user, client):
    account_event(user=root, actor=root, action="user.updated", data={})
    sign_in(client, root)
    assert client.get(f"/audit/{NATIONAL_CODE}/ledger/").status_code == 200
    sign_in(client, make_user("auditor", facility))
    assert client.get(f"/audit/{NATIONAL_CODE}/ledger/").status_code == 404


def test_a_superusers_pages_never_show_the_national_chain_as_a_prison(root, facility, client):
    account_event(user=root, actor=root, action="user.updated", data={})
    sign_in(client, root)
    for url in ("/", "/admin/custody/facility/"):
        page = client.get(url)
        assert page.status_code == 200
        assert NATIONAL_CODE not in page.content.decode()
    assert client.get(f"/audit/{NATIONAL_CODE}/").status_code == 404
