"""Accounts across facilities: who may take over whose account, and every
change to an account on the record, through the API and the Django admin."""

import io

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.test import Client
from django.utils import translation
from knox.models import AuthToken

from custody import services
from custody.models import NATIONAL_CODE, LedgerEvent, User
from tests.factories import PASSWORD
from tests.second_factor import sign_in

NEW_PASSWORD = "otra-clave-muy-larga-2027"


@pytest.fixture
def root(db):
    return User.objects.create_superuser("root", "root@example.org", "a-long-root-pass-2026")


@pytest.fixture
def other_root(db):
    return User.objects.create_superuser("jefa", "jefa@example.org", "a-long-jefa-pass-2026")


def national_events(**filters):
    return list(LedgerEvent.objects.filter(facility__code=NATIONAL_CODE, **filters).order_by("seq"))


def chain_events(facility, **filters):
    return list(LedgerEvent.objects.filter(facility=facility, **filters).order_by("seq"))


def signed_in_page(user) -> Client:
    client = Client()
    sign_in(client, user)
    assert client.get("/").status_code == 200
    return client


def verify(code) -> str:
    out = io.StringIO()
    with translation.override("en"):
        call_command("verify_ledger", "--facility", code, stdout=out)
    return out.getvalue()


# --- The fuzzer's case: a superuser and its own admin role -----------------


def test_a_superuser_cannot_make_itself_a_guard_through_the_api(root, english_api_as):
    client = english_api_as(root)
    before = LedgerEvent.objects.count()

    response = client.patch("/api/v1/users/root/", {"role": "guard"}, format="json")

    assert response.status_code == 400
    assert "own admin role" in str(response.json())
    assert User.objects.get(pk=root.pk).role == "admin"
    assert LedgerEvent.objects.count() == before
    assert (
        client.patch("/api/v1/users/root/", {"is_active": False}, format="json").status_code == 400
    )


def test_another_superuser_may_demote_it_on_the_national_chain(root, other_root, api_as):
    response = api_as(other_root).patch("/api/v1/users/root/", {"role": "guard"}, format="json")

    assert response.status_code == 200
    event = national_events(subject="user:root")[-1]
    assert (event.action, event.actor) == ("user.updated", "user:jefa")
    assert event.data["changes"] == {"role": {"from": "admin", "to": "guard"}}
    assert event.data["facilities"] == []
    assert "ok" in verify(NATIONAL_CODE)


# --- A facility admin and accounts they do not wholly administer ----------


@pytest.mark.parametrize(
    "change",
    [
        {"password": NEW_PASSWORD},
        {"role": "supervisor"},
        {"is_active": False},
        {"username": "renamed"},
        {"email": "mine@example.org"},
    ],
)
def test_an_admin_of_one_facility_cannot_take_over_a_colleague_of_two(
    facility, other_facility, make_user, english_api_as, change
):
    admin = make_user("admin", facility)
    colleague = make_user("guard", facility, other_facility)
    token_client = english_api_as(colleague)

    response = english_api_as(admin).patch(
        f"/api/v1/users/{colleague.username}/", change, format="json"
    )

    assert response.status_code == 403
    assert "every facility" in response.json()["detail"]
    colleague = User.objects.get(pk=colleague.pk)
    assert colleague.check_password(PASSWORD) and colleague.is_active
    assert colleague.role == "guard" and colleague.email != "mine@example.org"
    assert token_client.get("/api/v1/users/me/").status_code == 200


def test_an_admin_of_one_facility_may_still_fix_a_colleagues_name(
    facility, other_facility, make_user, api_as
):
    admin = make_user("admin", facility)
    colleague = make_user("guard", facility, other_facility)
    response = api_as(admin).patch(
        f"/api/v1/users/{colleague.username}/", {"first_name": "Luisa"}, format="json"
    )
    assert response.status_code == 200
    colleague.refresh_from_db()
    assert colleague.first_name == "Luisa"


def test_an_admin_of_every_facility_may_reset_the_password_and_it_ends_every_sign_in(
    facility, other_facility, make_user, api_as
):
    admin = make_user("admin", facility, other_facility)
    colleague = make_user("guard", facility, other_facility)
    token_client = api_as(colleague)
    page = signed_in_page(colleague)

    response = api_as(admin).patch(
        f"/api/v1/users/{colleague.username}/", {"password": NEW_PASSWORD}, format="json"
    )

    assert response.status_code == 200
    assert not AuthToken.objects.filter(user=colleague).exists()
    assert token_client.get("/api/v1/users/me/").status_code == 401
    assert page.get("/").status_code == 302  # back to the sign-in page
    for chain in (facility, other_facility):
        event = chain_events(chain, subject=f"user:{colleague.username}")[-1]
        assert event.data["password_changed"] is True
        assert NEW_PASSWORD not in str(event.data) and "pbkdf2" not in str(event.data)


def test_an_admin_cannot_assign_a_facility_they_do_not_administer(
    facility, other_facility, make_user, api_as
):
    admin = make_user("admin", facility)
    guard = make_user("guard", facility)
    response = api_as(admin).patch(
        f"/api/v1/users/{guard.username}/",
        {"facilities": [facility.code, other_facility.code]},
        format="json",
    )
    assert response.status_code == 400  # a code they cannot see does not exist for them
    with pytest.raises(PermissionDenied):
        services.user_update(user=guard, by=admin, facilities=[facility, other_facility])
    with pytest.raises(PermissionDenied):
        services.user_create(
            username="nuevo",
            password=NEW_PASSWORD,
            role="guard",
            facilities=[other_facility],
            by=admin,
        )
    assert set(guard.facilities.all()) == {facility}


def test_a_facility_move_is_on_both_chains_and_a_national_one_on_the_national_chain(
    facility, other_facility, root, api_as
):
    guard = services.user_create(
        username="ana", password=PASSWORD, role="guard", facilities=[facility], by=root
    )
    client = api_as(root)
    client.patch("/api/v1/users/ana/", {"facilities": [other_facility.code]}, format="json")

    assert chain_events(facility, subject="user:ana")[-1].data["changes"] == {
        "assigned": {"from": True, "to": False}
    }
    assert chain_events(other_facility, subject="user:ana")[-1].data["assigned"] is True
    assert not national_events(subject="user:ana")  # a facility account all along
    guard.refresh_from_db()


def test_an_admin_cannot_lock_themselves_out(facility, make_user, english_api_as):
    admin = make_user("admin", facility)
    client = english_api_as(admin)
    url = f"/api/v1/users/{admin.username}/"
    assert client.patch(url, {"is_active": False}, format="json").status_code == 400
    response = client.patch(url, {"role": "supervisor"}, format="json")
    assert response.status_code == 400 and "own admin role" in str(response.json())
    admin = User.objects.get(pk=admin.pk)
    assert admin.is_active and admin.role == "admin"


def test_accounts_are_never_deleted_through_the_api(root, facility, make_user, api_as):
    guard = make_user("guard", facility)
    assert api_as(root).delete(f"/api/v1/users/{guard.username}/").status_code == 405
    assert User.objects.filter(pk=guard.pk).exists()


# --- Every path that sets a password ends the account's sign-ins -----------


def test_a_console_reset_ends_every_token(facility, make_user, api_as):
    guard = make_user("guard", facility)
    token_client = api_as(guard)
    services.user_reset(user=guard, role="guard", password=NEW_PASSWORD, facilities=[facility])
    assert token_client.get("/api/v1/users/me/").status_code == 401


def test_a_password_set_outside_the_services_still_ends_every_token(facility, make_user, api_as):
    guard = make_user("guard", facility)
    token_client = api_as(guard)
    guard.set_password(NEW_PASSWORD)  # what changepassword does
    guard.save()
    assert token_client.get("/api/v1/users/me/").status_code == 401


def test_a_console_superuser_is_on_the_national_chain(db):
    call_command("createsuperuser", username="consola", email="c@example.org", interactive=False)
    event = national_events(subject="user:consola")[-1]
    assert (event.action, event.actor) == ("user.created", "system")
    assert event.data["is_superuser"] is True


# --- The Django admin ------------------------------------------------------


def admin_form(user, **overrides) -> dict:
    """The admin's change form for ``user`` as it stands, with ``overrides``
    (None removes a checkbox, i.e. unticks it)."""
    data = {
        "username": user.username,
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "groups": [g.pk for g in user.groups.all()],
        "facilities": [f.pk for f in user.facilities.all()],
        "date_joined_0": "2026-11-01",
        "date_joined_1": "08:00:00",
    }
    for flag in ("is_active", "is_staff", "is_superuser"):
        if getattr(user, flag):
            data[flag] = "on"
    for name, value in overrides.items():
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
    return data


@pytest.mark.parametrize(
    "change",
    [
        {"groups": "guard"},
        {"is_superuser": None},
        {"is_active": None},
    ],
)
def test_a_superuser_cannot_demote_or_lock_out_itself_in_the_admin(root, change):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    sign_in(client, root)
    if change.get("groups"):
        change = {"groups": [Group.objects.get_or_create(name="guard")[0].pk]}
    before = LedgerEvent.objects.count()

    response = client.post(f"/admin/custody/user/{root.pk}/change/", admin_form(root, **change))

    assert response.status_code == 200  # the form again, with the reason
    assert "your own" in response.content.decode()
    root = User.objects.get(pk=root.pk)
    assert root.is_superuser and root.is_active and root.role == "admin"
    assert LedgerEvent.objects.count() == before


def test_another_superuser_demotes_it_in_the_admin_on_the_record(root, other_root):
    client = Client()
    sign_in(client, other_root)
    guard_group = Group.objects.get_or_create(name="guard")[0]
    response = client.post(
        f"/admin/custody/user/{root.pk}/change/",
        admin_form(root, groups=[guard_group.pk], is_superuser=None),
    )
    assert response.status_code == 302, response.content[:2000]
    event = national_events(subject="user:root")[-1]
    assert event.actor == "user:jefa"
    assert event.data["changes"]["is_superuser"] == {"from": True, "to": False}
    assert event.data["changes"]["role"] == {"from": "admin", "to": "guard"}
    assert "ok" in verify(NATIONAL_CODE)


def test_a_password_set_in_the_admin_ends_every_sign_in_and_is_recorded(
    root, facility, make_user, api_as
):
    guard = make_user("guard", facility)
    token_client = api_as(guard)
    page = signed_in_page(guard)
    client = Client()
    sign_in(client, root)

    response = client.post(
        f"/admin/custody/user/{guard.pk}/password/",
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"},
    )

    assert response.status_code == 302, response.content[:2000]
    guard.refresh_from_db()
    assert guard.check_password(NEW_PASSWORD)
    assert token_client.get("/api/v1/users/me/").status_code == 401
    assert page.get("/").status_code == 302
    event = chain_events(facility, subject=f"user:{guard.username}")[-1]
    assert (event.actor, event.data["password_changed"]) == ("user:root", True)


def test_my_own_password_change_in_the_admin_ends_my_other_sign_ins(root, api_as):
    token_client = api_as(root)
    other_page = signed_in_page(root)
    client = Client()
    sign_in(client, root)

    response = client.post(
        "/admin/password_change/",
        {
            "old_password": "a-long-root-pass-2026",
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        },
    )

    assert response.status_code == 302, response.content[:2000]
    assert token_client.get("/api/v1/users/me/").status_code == 401
    assert other_page.get("/").status_code == 302
    assert client.get("/").status_code == 200  # this session goes on
    event = national_events(subject="user:root")[-1]
    assert (event.actor, event.data["password_changed"]) == ("user:root", True)


def test_a_deactivation_in_the_admin_ends_every_token_and_is_recorded(
    root, facility, make_user, api_as
):
    guard = make_user("guard", facility)
    token_client = api_as(guard)
    client = Client()
    sign_in(client, root)
    response = client.post(
        f"/admin/custody/user/{guard.pk}/change/", admin_form(guard, is_active=None)
    )
    assert response.status_code == 302, response.content[:2000]
    assert token_client.get("/api/v1/users/me/").status_code == 401
    event = chain_events(facility, subject=f"user:{guard.username}")[-1]
    assert event.data["changes"] == {"is_active": {"from": True, "to": False}}


def test_accounts_cannot_be_deleted_in_the_admin(root, facility, make_user):
    guard = make_user("guard", facility)
    client = Client()
    sign_in(client, root)
    assert client.get(f"/admin/custody/user/{guard.pk}/delete/").status_code == 403
    assert "delete_selected" not in client.get("/admin/custody/user/").content.decode()


@pytest.fixture
def staff_admin(facility, make_user):
    """A facility admin a superuser let into the Django admin's users."""
    admin = make_user("admin", facility)
    admin.is_staff = True
    admin.save()
    admin.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_user", "change_user"])
    )
    return admin


def test_a_staff_admin_sees_only_accounts_of_their_facilities_in_the_admin(
    staff_admin, facility, other_facility, make_user, root
):
    colleague = make_user("guard", facility, other_facility)
    stranger = make_user("guard", other_facility)
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    sign_in(client, staff_admin)
    listing = client.get("/admin/custody/user/").content.decode()
    assert colleague.username in listing
    assert stranger.username not in listing and ">root<" not in listing
    # Half theirs: no password page, no role change.
    password_page = client.get(f"/admin/custody/user/{colleague.pk}/password/")
    assert password_page.status_code == 403
    supervisors = Group.objects.get_or_create(name="supervisor")[0]
    response = client.post(
        f"/admin/custody/user/{colleague.pk}/change/",
        admin_form(colleague, groups=[supervisors.pk], facilities=[facility.pk]),
    )
    assert response.status_code == 200 and "every facility" in response.content.decode()
    assert User.objects.get(pk=colleague.pk).role == "guard"


def test_a_staff_admin_manages_wholly_theirs_but_hands_out_no_privileges(
    staff_admin, facility, make_user
):
    guard = make_user("guard", facility)
    client = Client()
    sign_in(client, staff_admin)
    supervisors = Group.objects.get_or_create(name="supervisor")[0]
    response = client.post(
        f"/admin/custody/user/{guard.pk}/change/",
        admin_form(guard, groups=[supervisors.pk], is_superuser="on", is_staff="on"),
    )
    assert response.status_code == 302, response.content[:2000]
    guard = User.objects.get(pk=guard.pk)
    assert guard.role == "supervisor"
    assert not guard.is_superuser and not guard.is_staff
    assert client.get(f"/admin/custody/user/{guard.pk}/password/").status_code == 200


def test_an_account_added_in_the_admin_is_on_the_national_chain_once(root):
    client = Client()
    sign_in(client, root)
    response = client.post(
        "/admin/custody/user/add/",
        {"username": "nacional", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert response.status_code == 302, response.content[:2000]
    events = national_events(subject="user:nacional")
    assert [(e.action, e.actor) for e in events] == [("user.created", "user:root")]
    assert events[0].data["password_changed"] is True
    assert NEW_PASSWORD not in str(events[0].data)
