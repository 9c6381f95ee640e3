"""Sign-in hardening: one throttle for every sign-in (by address and by
username), accounts locked after repeated failures and unlocked by an admin on
the record, a second factor for admins and superusers on the web, and admin
API tokens on the record."""

import re
import uuid
from datetime import UTC, datetime

import pytest
import time_machine
from django.core.cache import cache
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from custody.models import LedgerEvent, User
from custody.throttling import UsernameThrottle
from tests import factories
from tests.factories import PASSWORD
from tests.second_factor import sign_in

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 30, 14, 0, 0, tzinfo=UTC)


def unique(prefix: str) -> str:
    # Throttle budgets live in Redis across tests and runs: fresh names each time.
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def fresh_address() -> str:
    n = uuid.uuid4().int
    return f"10.{n % 250}.{(n >> 8) % 250}.{(n >> 16) % 250 + 1}"


def forget_budgets(*, addresses=(), usernames=()):
    keys = [f"throttle_auth_{a}" for a in addresses]
    keys += [UsernameThrottle(u).get_cache_key(None, None) for u in usernames]
    cache.delete_many(keys)


def events(username: str, action: str):
    return list(
        LedgerEvent.objects.filter(subject=f"user:{username}", action=action).order_by("at", "seq")
    )


def token_attempt(username, password, *, address="127.0.0.1", **extra):
    return APIClient().post(
        "/api/v1/auth/token/",
        {"username": username, "password": password, **extra},
        format="json",
        REMOTE_ADDR=address,
        HTTP_ACCEPT_LANGUAGE="en",
    )


# --- One throttle for every sign-in ----------------------------------------------


def test_the_django_admin_sign_in_spends_the_same_budget_as_the_sign_in_page(
    facility, make_user, settings
):
    settings.AUTH_THROTTLE_RATE = "3/minute"
    address = fresh_address()
    user = make_user("guard", facility, username=unique("g"))
    client = Client(REMOTE_ADDR=address)
    answers = [
        client.post("/admin/login/", {"username": user.username, "password": "guess"}).status_code
        for _ in range(3)
    ]
    assert answers == [200, 200, 200]
    assert client.post("/admin/login/", {"username": "x", "password": "y"}).status_code == 429
    # The same address's budget is spent on the pages and the API too.
    assert client.post("/login/", {"username": "x", "password": "y"}).status_code == 429
    assert token_attempt("x", "y", address=address).status_code == 429
    forget_budgets(addresses=[address], usernames=[user.username])


def test_guessing_one_account_from_many_addresses_is_throttled_by_username(
    facility, make_user, settings
):
    settings.AUTH_THROTTLE_USERNAME_RATE = "3/minute"
    user = make_user("guard", facility, username=unique("g"))
    other = make_user("guard", facility, username=unique("g"))
    answers = [
        token_attempt(user.username, "guess", address=fresh_address()).status_code for _ in range(4)
    ]
    assert answers == [400, 400, 400, 429]
    page = Client(REMOTE_ADDR=fresh_address())
    refused = page.post("/login/", {"username": user.username, "password": PASSWORD})
    assert refused.status_code == 429  # even with the right password, for now
    # Another account from the same places is not held up.
    assert token_attempt(other.username, PASSWORD, address=fresh_address()).status_code == 200
    forget_budgets(usernames=[user.username, other.username])


def test_a_forged_forwarded_for_header_does_not_buy_a_new_budget(settings):
    settings.AUTH_THROTTLE_RATE = "2/minute"
    address = fresh_address()
    answers = [
        APIClient()
        .post(
            "/api/v1/auth/token/",
            {"username": unique("nobody"), "password": "guess"},
            format="json",
            REMOTE_ADDR=address,
            HTTP_X_FORWARDED_FOR=fresh_address(),  # NUM_PROXIES=0: not believed
        )
        .status_code
        for _ in range(3)
    ]
    assert answers == [400, 400, 429]
    forget_budgets(addresses=[address])


# --- Lockout after repeated failures ------------------------------------------


def test_five_wrong_passwords_lock_the_account_on_the_web_even_with_the_right_one_after(
    facility, make_user, api_as
):
    guard = make_user("guard", facility)
    admin = make_user("admin", facility)
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    answers = [
        client.post("/login/", {"username": guard.username, "password": "guess"}) for _ in range(5)
    ]
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 403]
    locked = client.post("/login/", {"username": guard.username, "password": PASSWORD})
    assert locked.status_code == 403
    assert "locked" in locked.content.decode() and "administrator" in locked.content.decode()
    assert "_auth_user_id" not in client.session
    spanish = Client().post("/login/", {"username": guard.username, "password": PASSWORD})
    assert "Cuenta bloqueada" in spanish.content.decode()  # Spanish first
    [event] = events(guard.username, "user.locked")
    assert event.facility == facility and event.data["failures"] == 5
    assert event.data["address"] == "127.0.0.1"

    unlocked = api_as(admin).post(f"/api/v1/users/{guard.username}/unlock/")
    assert unlocked.status_code == 200
    assert unlocked.json() == {
        "username": guard.username,
        "was_locked": True,
        "failures_cleared": 7,
    }
    [event] = events(guard.username, "user.unlocked")
    assert event.actor == f"user:{admin.username}"
    assert (
        client.post("/login/", {"username": guard.username, "password": PASSWORD}).status_code
        == 302
    )


def test_the_api_locks_an_account_tried_from_rotating_addresses(facility, make_user):
    guard = make_user("guard", facility)
    answers = [token_attempt(guard.username, "guess", address=fresh_address()) for _ in range(5)]
    assert [a.status_code for a in answers] == [400, 400, 400, 400, 403]
    right = token_attempt(guard.username, PASSWORD, address=fresh_address())
    assert right.status_code == 403
    assert right.json()["code"] == "account_locked" and "locked" in right.json()["detail"]
    assert len(events(guard.username, "user.locked")) == 1  # the moment, not each refusal


def test_only_an_admin_covering_every_facility_of_the_account_unlocks_it(
    facility, other_facility, make_user, api_as
):
    guard = make_user("guard", facility, other_facility)
    for _ in range(5):
        token_attempt(guard.username, "guess")
    path = f"/api/v1/users/{guard.username}/unlock/"
    half = make_user("admin", facility)
    stranger = make_user("admin", factories.FacilityFactory())
    assert api_as(half).post(path).status_code == 403
    assert api_as(stranger).post(path).status_code == 404
    assert api_as(make_user("supervisor", facility, other_facility)).post(path).status_code == 403
    assert token_attempt(guard.username, PASSWORD).status_code == 403  # still locked
    assert events(guard.username, "user.unlocked") == []
    both = make_user("admin", facility, other_facility)
    assert api_as(both).post(path).json()["was_locked"] is True
    assert token_attempt(guard.username, PASSWORD).status_code == 200


def test_a_superuser_unlocks_from_the_django_admin_on_the_record(facility, make_user):
    guard = make_user("guard", facility)
    for _ in range(5):
        token_attempt(guard.username, "guess")
    root = User.objects.create_superuser("root", "root@example.org", "a-long-root-pass-2026")
    client = sign_in(Client(), root)
    response = client.post(
        "/admin/custody/user/",
        {"action": "unlock_sign_in", "_selected_action": [guard.pk]},
    )
    assert response.status_code == 302
    [event] = events(guard.username, "user.unlocked")
    assert event.actor == "user:root"
    assert token_attempt(guard.username, PASSWORD).status_code == 200


# --- The second factor on the web -----------------------------------------------


def code_for(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def password_step(client, user, password=PASSWORD, path="/login/", **data):
    return client.post(path, {"username": user.username, "password": password, **data})


def test_an_admin_enrols_an_authenticator_and_keeps_recovery_codes(facility, make_user):
    admin = make_user("admin", facility)
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    with time_machine.travel(T0, tick=False) as clock:
        step = password_step(client, admin, next="/dashboard/")
        assert step.status_code == 302 and step["Location"] == "/login/enrol/"
        # The password alone signs nobody in: no page, no admin.
        assert "_auth_user_id" not in client.session
        assert client.get("/").status_code == 302
        assert client.get("/dashboard/").status_code == 302

        page = client.get("/login/enrol/")
        html = page.content.decode()
        assert page.status_code == 200 and "<svg" in html
        device = TOTPDevice.objects.get(user=admin, confirmed=False)
        secret = re.search(r"<code>([A-Z2-7 ]+)</code>", html).group(1)
        assert secret.replace(" ", "") in device.config_url
        assert client.get("/login/enrol/").content.decode().count(secret) == 1  # same key

        wrong = client.post("/login/enrol/", {"code": "000000"})
        assert wrong.status_code == 400
        clock.shift(30)
        done = client.post("/login/enrol/", {"code": code_for(device)})
        assert done.status_code == 200
        codes = re.findall(r"<li><code>([a-z2-7]+)</code></li>", done.content.decode())
        assert len(codes) == 10 and len(set(codes)) == 10
        assert client.get("/").status_code == 200
        assert client.get("/dashboard/", follow=True).status_code == 200
    [event] = events(admin.username, "user.second_factor_enrolled")
    assert event.data["recovery_codes"] == 10
    assert all(code not in str(event.data) for code in codes)
    assert device.config_url.split("secret=")[1][:16] not in str(event.data)


@pytest.fixture
def enrolled_admin(facility, make_user):
    admin = make_user("admin", facility)
    device = TOTPDevice.objects.create(user=admin, name="phone", confirmed=True)
    from custody.services.signin import _new_recovery_codes

    return admin, device, _new_recovery_codes(admin)


def test_an_enrolled_admin_passes_the_code_step(enrolled_admin):
    admin, device, _codes = enrolled_admin
    with time_machine.travel(T0, tick=False) as clock:
        client = Client()
        step = password_step(client, admin, next="/dashboard/")
        assert step.status_code == 302 and step["Location"] == "/login/code/"
        assert client.get("/dashboard/").status_code == 302
        assert client.post("/login/code/", {"code": "123456"}).status_code == 400
        clock.shift(60)
        signed_in = client.post("/login/code/", {"code": code_for(device)})
        assert signed_in.status_code == 302 and signed_in["Location"] == "/dashboard/"
        assert client.get("/").status_code == 200
        # A code is good once: the same code cannot sign in a second session.
        again = Client()
        password_step(again, admin)
        assert again.post("/login/code/", {"code": code_for(device)}).status_code == 400


def test_a_recovery_code_signs_in_once(enrolled_admin):
    admin, _device, codes = enrolled_admin
    first = Client()
    password_step(first, admin)
    assert first.post("/login/code/", {"code": codes[0].upper()}).status_code == 302
    assert first.get("/").status_code == 200
    second = Client()
    password_step(second, admin)
    assert second.post("/login/code/", {"code": codes[0]}).status_code == 400
    assert second.get("/").status_code == 302
    [event] = events(admin.username, "user.recovery_code_used")
    assert event.data["remaining"] == 9


def test_wrong_codes_count_towards_the_lockout(enrolled_admin):
    admin, _device, _codes = enrolled_admin
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    password_step(client, admin)
    answers = [client.post("/login/code/", {"code": "zzzzzzzz"}).status_code for _ in range(5)]
    assert answers == [400, 400, 400, 400, 403]
    assert client.post("/login/code/", {"code": "zzzzzzzz"}).status_code == 302  # back to sign in
    assert password_step(Client(), admin).status_code == 403
    assert len(events(admin.username, "user.locked")) == 1


def test_an_admin_session_without_the_second_factor_opens_nothing(facility, make_user):
    admin = make_user("admin", facility)
    client = Client()
    client.force_login(admin)  # e.g. a session from before the second factor
    assert client.get("/").status_code == 302
    assert "_auth_user_id" not in client.session  # ended, not just turned away
    client.force_login(admin)
    response = client.get("/api/v1/users/me/")
    assert response.status_code == 401
    client.force_login(admin)
    assert client.get("/admin/").status_code == 302
    assert client.get("/dashboard/").status_code == 302


def test_a_superuser_passes_the_second_factor_on_the_django_admin_sign_in():
    root = User.objects.create_superuser("root", "root@example.org", "a-long-root-pass-2026")
    client = Client()
    login = {"username": "root", "password": "a-long-root-pass-2026"}
    assert client.post("/admin/login/?next=/admin/custody/", login)["Location"] == "/login/enrol/"
    assert client.get("/admin/custody/").status_code == 302
    device = TOTPDevice.objects.create(user=root, name="phone", confirmed=True)
    with time_machine.travel(T0, tick=False):
        step = client.post("/admin/login/?next=/admin/custody/", login)
        assert step["Location"] == "/login/code/"
        signed_in = client.post("/login/code/", {"code": code_for(device)})
        assert signed_in["Location"] == "/admin/custody/"
        assert client.get("/admin/custody/").status_code == 200
        assert client.get("/admin/").status_code == 200


def test_a_guard_signs_in_with_the_password_alone(facility, make_user):
    guard = make_user("guard", facility)
    client = Client()
    assert password_step(client, guard)["Location"] == "/"
    assert client.get("/").status_code == 200
    assert not TOTPDevice.objects.filter(user=guard).exists()


# --- Admin API tokens ------------------------------------------------------------


def test_an_admin_api_token_is_on_the_record_and_needs_the_enrolled_code(enrolled_admin):
    admin, device, _codes = enrolled_admin
    missing = token_attempt(admin.username, PASSWORD)
    assert missing.status_code == 400 and "otp" in missing.json()["errors"]
    with time_machine.travel(T0, tick=False) as clock:
        assert token_attempt(admin.username, PASSWORD, otp="000000").status_code == 400
        clock.shift(30)  # django-otp waits a moment after a wrong code
        issued = token_attempt(admin.username, PASSWORD, otp=code_for(device), address="10.9.8.7")
    assert issued.status_code == 200
    token = issued.json()["token"]
    [event] = events(admin.username, "user.api_token_issued")
    assert event.actor == f"user:{admin.username}"
    assert event.data["address"] == "10.9.8.7" and event.data["second_factor"] is True
    assert event.data["token_prefix"] == token[:8]
    assert token not in str(event.data) and token[:15] not in str(event.data)


def test_token_issuance_is_recorded_for_superusers_and_not_for_guards(facility, make_user):
    User.objects.create_superuser("root", "root@example.org", "a-long-root-pass-2026")
    answer = token_attempt("root", "a-long-root-pass-2026")  # not enrolled yet: password
    assert answer.status_code == 200
    [event] = events("root", "user.api_token_issued")
    assert event.facility.is_national and event.data["second_factor"] is False
    guard = make_user("guard", facility)
    assert token_attempt(guard.username, PASSWORD).status_code == 200
    assert events(guard.username, "user.api_token_issued") == []


def test_a_lost_authenticator_is_reset_by_a_superuser_on_the_record(enrolled_admin):
    admin, _device, _codes = enrolled_admin
    root = User.objects.create_superuser("root", "root@example.org", "a-long-root-pass-2026")
    client = sign_in(Client(), root)
    response = client.post(
        "/admin/custody/user/",
        {"action": "reset_second_factor", "_selected_action": [admin.pk, root.pk]},
    )
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=admin).exists()
    assert TOTPDevice.objects.filter(user=root).exists()  # never one's own
    [event] = events(admin.username, "user.second_factor_reset")
    assert event.actor == "user:root" and event.data["devices_removed"] == 2
    # The next sign-in enrols again.
    assert password_step(Client(), admin)["Location"] == "/login/enrol/"
