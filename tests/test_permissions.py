"""Every role against every endpoint: who may read, who may write, who is refused."""

import itertools
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from tests import factories
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

ROLES = ["guard", "supervisor", "auditor", "admin"]
EVERYONE = set(ROLES)
ADMIN = {"admin"}
ADMIN_AND_SUPERVISOR = {"admin", "supervisor"}
OVERSIGHT = {"admin", "supervisor", "auditor"}
OFFICERS = {"admin", "supervisor", "guard"}
# Endpoints a device key is meant to use (its own test covers them).
FOR_DEVICES = {"check-in post", "device heartbeat"}


@pytest.fixture
def world(facility):
    cell = factories.CellFactory(facility=facility, code="A-01")
    inmate = factories.InmateFactory(facility=facility, cell=cell, booking_number="GT-1")
    device, key = factories.device(facility, name="reader-A", location=cell.parent)
    users = {role: factories.UserFactory(role=role, facilities=[facility]) for role in ROLES}
    return {
        "facility": facility,
        "cell": cell,
        "inmate": inmate,
        "device": device,
        "device_key": key,
        "users": users,
    }


def _requests(w):
    """(name, method, path, body, roles allowed) for every endpoint."""
    f = w["facility"].code
    unit = w["cell"].parent.code
    n = itertools.count()
    return [
        ("facility list", "get", "/api/v1/facilities/", None, EVERYONE),
        ("facility detail", "get", f"/api/v1/facilities/{f}/", None, EVERYONE),
        ("facility headcount", "get", f"/api/v1/facilities/{f}/headcount/", None, EVERYONE),
        (
            "facility create",
            "post",
            "/api/v1/facilities/",
            lambda: {"code": f"N{next(n)}", "name": "Nuevo"},
            ADMIN,
        ),
        (
            "facility edit",
            "patch",
            f"/api/v1/facilities/{f}/",
            lambda: {"grace_seconds": 240},
            ADMIN,
        ),
        ("location list", "get", "/api/v1/locations/", None, EVERYONE),
        ("location detail", "get", f"/api/v1/locations/{w['cell'].pk}/", None, EVERYONE),
        (
            "location create",
            "post",
            "/api/v1/locations/",
            lambda: {
                "facility": f,
                "code": f"X-{next(n)}",
                "name": "Celda",
                "kind": "cell",
                "parent": unit,
                "capacity": 2,
            },
            ADMIN_AND_SUPERVISOR,
        ),
        (
            "location edit",
            "patch",
            f"/api/v1/locations/{w['cell'].pk}/",
            lambda: {"capacity": 400},  # lower than the factory's: applies at once
            ADMIN_AND_SUPERVISOR,
        ),
        ("inmate list", "get", "/api/v1/inmates/", None, EVERYONE),
        ("inmate detail", "get", "/api/v1/inmates/GT-1/", None, EVERYONE),
        (
            "inmate create",
            "post",
            "/api/v1/inmates/",
            lambda: {
                "booking_number": f"GT-N{next(n)}",
                "first_name": "Ana",
                "last_name": "López",
                "facility": f,
                "cell": "A-01",
                "security_level": "maximum",
            },
            ADMIN_AND_SUPERVISOR,
        ),
        (
            "inmate edit",
            "patch",
            "/api/v1/inmates/GT-1/",
            lambda: {"first_name": "José"},
            ADMIN_AND_SUPERVISOR,
        ),
        ("device list", "get", "/api/v1/devices/", None, EVERYONE),
        ("device detail", "get", f"/api/v1/devices/{w['device'].pk}/", None, EVERYONE),
        (
            "device create",
            "post",
            "/api/v1/devices/",
            lambda: {
                "facility": f,
                "name": f"tablet-{next(n)}",
                "kind": "tablet",
                "methods": ["rfid", "visual"],
            },
            ADMIN,
        ),
        (
            "device edit",
            "patch",
            f"/api/v1/devices/{w['device'].pk}/",
            # The defaults of a reader, declared: gaining or keeping methods, never losing.
            lambda: {
                "name": f"reader-{next(n)}",
                "methods": ["fingerprint", "face", "iris", "rfid"],
            },
            ADMIN,
        ),
        ("device rotate key", "post", f"/api/v1/devices/{w['device'].pk}/rotate-key/", None, ADMIN),
        ("user list", "get", "/api/v1/users/", None, ADMIN),
        ("user detail", "get", f"/api/v1/users/{w['users']['guard'].username}/", None, ADMIN),
        (
            "user create",
            "post",
            "/api/v1/users/",
            lambda: {
                "username": f"nuevo{next(n)}",
                "password": "una-clave-larga-2026",
                "role": "guard",
                "facilities": [f],
            },
            ADMIN,
        ),
        (
            "user edit",
            "patch",
            f"/api/v1/users/{w['users']['guard'].username}/",
            lambda: {"first_name": "Luis"},
            ADMIN,
        ),
        ("me", "get", "/api/v1/users/me/", None, EVERYONE),
        ("check-in list", "get", "/api/v1/checkins/", None, EVERYONE),
        (
            "check-in post",
            "post",
            "/api/v1/checkins/",
            lambda: [
                {
                    "id": str(uuid.uuid4()),
                    "inmate": "GT-1",
                    "location": "A-01",
                    "method": "visual",
                    "observed_at": timezone.now().isoformat(),
                }
            ],
            OFFICERS,
        ),
        ("device heartbeat", "post", "/api/v1/devices/heartbeat/", None, set()),
        ("quarantine list", "get", "/api/v1/quarantine/", None, OVERSIGHT),
        ("movement list", "get", "/api/v1/movements/", None, EVERYONE),
        (
            "movement request",
            "post",
            "/api/v1/movements/",
            lambda: {
                "inmate": factories.InmateFactory(
                    facility=w["facility"], cell=w["cell"]
                ).booking_number,
                "kind": "court",
                "destination": "Juzgado 3",
                "expected_back_at": (timezone.now() + timedelta(hours=4)).isoformat(),
            },
            ADMIN_AND_SUPERVISOR,
        ),
        (
            "movement approve (a second officer)",
            "post",
            lambda: f"/api/v1/movements/{_movement(w).pk}/approve/",
            None,
            ADMIN_AND_SUPERVISOR,
        ),
        (
            "movement extend",
            "post",
            lambda: f"/api/v1/movements/{_movement(w, departed=True).pk}/extend/",
            lambda: {
                "expected_back_at": (timezone.now() + timedelta(hours=8)).isoformat(),
                "reason": "La audiencia se alarga",
            },
            ADMIN_AND_SUPERVISOR,
        ),
        (
            "extension approve (a second officer)",
            "post",
            lambda: _extension_path(w, "approve"),
            None,
            ADMIN_AND_SUPERVISOR,
        ),
        (
            "extension reject",
            "post",
            lambda: _extension_path(w, "reject"),
            {"reason": "El juez no lo autorizó"},
            ADMIN_AND_SUPERVISOR,
        ),
        ("cell assignment list", "get", "/api/v1/cell-assignments/", None, EVERYONE),
        ("ledger", "get", "/api/v1/ledger/", None, OVERSIGHT),
        ("ledger verify", "get", f"/api/v1/ledger/verify/?facility={f}", None, OVERSIGHT),
        ("custody history", "get", "/api/v1/inmates/GT-1/history/", None, EVERYONE),
        ("alert list", "get", "/api/v1/alerts/", None, EVERYONE),
        ("alert detail", "get", lambda: f"/api/v1/alerts/{_open_alert(w).pk}/", None, EVERYONE),
        (
            "alert deliveries",
            "get",
            lambda: f"/api/v1/alerts/{_open_alert(w).pk}/notifications/",
            None,
            EVERYONE,
        ),
        (
            "alert acknowledge",
            "post",
            lambda: f"/api/v1/alerts/{_open_alert(w).pk}/acknowledge/",
            None,
            ADMIN_AND_SUPERVISOR,
        ),
        (
            "alert resolve",
            "post",
            lambda: f"/api/v1/alerts/{_open_alert(w).pk}/resolve/",
            {"resolution": "Encontrado en el taller, lector averiado."},
            ADMIN_AND_SUPERVISOR,
        ),
        ("roll call list", "get", "/api/v1/rollcalls/", None, EVERYONE),
        ("roll call detail", "get", lambda: f"/api/v1/rollcalls/{_count(w).pk}/", None, EVERYONE),
        (
            "roll call start",
            "post",
            "/api/v1/rollcalls/",
            lambda: {"location": _unit(w).code, "kind": "formal"},
            OFFICERS,
        ),
        (
            "roll call entries",
            "post",
            lambda: f"/api/v1/rollcalls/{_count(w).pk}/entries/",
            lambda: [
                {
                    "id": str(uuid.uuid4()),
                    "inmate": "GT-1",
                    "status": "present",
                    "observed_at": timezone.now().isoformat(),
                }
            ],
            OFFICERS,
        ),
        (
            "roll call submit",
            "post",
            lambda: f"/api/v1/rollcalls/{_count(w).pk}/submit/",
            None,
            OFFICERS,
        ),
        (
            # Verifying starts with the server drawing the recount sample.
            "roll call recount",
            "post",
            lambda: f"/api/v1/rollcalls/{_count(w, submitted=True).pk}/recount/",
            None,
            OFFICERS,
        ),
        (
            "roll call cancel",
            "post",
            lambda: f"/api/v1/rollcalls/{_count(w).pk}/cancel/",
            {"reason": "Tableta equivocada, se reinicia."},
            ADMIN_AND_SUPERVISOR,
        ),
        ("count schedule list", "get", "/api/v1/count-schedules/", None, EVERYONE),
        (
            "count schedule create",
            "post",
            "/api/v1/count-schedules/",
            lambda: {"facility": f, "location": _unit(w).code, "time_of_day": "06:00"},
            ADMIN_AND_SUPERVISOR,
        ),
        (
            "count schedule edit",
            "patch",
            lambda: f"/api/v1/count-schedules/{_schedule(w).pk}/",
            # Shorter: applies at once (a longer grace waits for a second officer).
            {"grace_minutes": 10},
            ADMIN_AND_SUPERVISOR,
        ),
        ("count call list", "get", "/api/v1/count-calls/", None, EVERYONE),
        (
            "count call create",
            "post",
            "/api/v1/count-calls/",
            {"facility": f, "reason": "Simulacro de recuento"},
            ADMIN_AND_SUPERVISOR,
        ),
        ("change list", "get", "/api/v1/changes/", None, OVERSIGHT),
        ("change detail", "get", lambda: f"/api/v1/changes/{_change(w).pk}/", None, OVERSIGHT),
        (
            "change approve",
            "post",
            lambda: f"/api/v1/changes/{_change(w).pk}/approve/",
            None,
            ADMIN_AND_SUPERVISOR,
        ),
        (
            "change reject",
            "post",
            lambda: f"/api/v1/changes/{_change(w).pk}/reject/",
            {"reason": "No hace falta"},
            ADMIN_AND_SUPERVISOR,
        ),
        ("hold list", "get", "/api/v1/holds/", None, OVERSIGHT),
        ("hold detail", "get", lambda: f"/api/v1/holds/{_hold(w).pk}/", None, OVERSIGHT),
        (
            "hold place",
            "post",
            "/api/v1/holds/",
            {"facility": f, "period_start": "2025-01-01T00:00:00Z", "reason": "Causa 12/2025"},
            ADMIN_AND_SUPERVISOR,
        ),
        (
            "hold lift request",
            "post",
            lambda: f"/api/v1/holds/{_hold(w).pk}/lift-request/",
            {"reason": "Causa cerrada"},
            ADMIN_AND_SUPERVISOR,
        ),
        (
            "hold lift approve",
            "post",
            lambda: f"/api/v1/holds/{_hold(w, lift_requested=True).pk}/lift-approve/",
            None,
            ADMIN_AND_SUPERVISOR,
        ),
        ("escalation ladder", "get", f"/api/v1/facilities/{f}/escalation/", None, ADMIN),
        (
            "escalation ladder replace",
            "put",
            f"/api/v1/facilities/{f}/escalation/",
            # Faster than the default ladder, with as many rungs: applies at once.
            {
                "levels": [
                    {"level": 0, "name": "Jefe", "acknowledge_within_seconds": 60},
                    {"level": 1, "name": "Director", "acknowledge_within_seconds": 120},
                    {"level": 2, "name": "Nacional"},
                ]
            },
            ADMIN,
        ),
        # Each call signs in afresh (one token per sign-in), so signing out is safe here.
        ("sign out", "post", "/api/v1/auth/token/revoke/", None, EVERYONE),
    ]


_alert_numbers = itertools.count()
_unit_numbers = itertools.count()


def _unit(w):
    """A fresh unit (one count in progress per unit) holding the world's cell's neighbour."""
    unit = factories.LocationFactory(facility=w["facility"], code=f"U{next(_unit_numbers)}")
    factories.CellFactory(facility=w["facility"], parent=unit)
    return unit


def _count(w, *, submitted=False):
    """A fresh count of the world's unit, started (and submitted) by another guard."""
    from custody.models import RollCall
    from custody.services import rollcalls

    RollCall.objects.filter(location=w["cell"].parent, status="in_progress").update(
        status="cancelled", cancelled_at=timezone.now(), cancel_reason="test"
    )
    if "counter" not in w:  # made when first needed: other tests count the guards
        w["counter"] = factories.UserFactory(role="guard", facilities=[w["facility"]])
    rollcall, _ = rollcalls.rollcall_start(
        location=w["cell"].parent, kind="formal", by=w["counter"]
    )
    if submitted:
        rollcall = rollcalls.rollcall_submit(rollcall=rollcall, by=w["counter"])
    return rollcall


def _officers(w):
    """Two officers of the world's facility who ask and approve (made when
    first needed: other tests count the supervisors)."""
    if "maker" not in w:
        w["maker"] = factories.UserFactory(role="supervisor", facilities=[w["facility"]])
        w["checker"] = factories.UserFactory(role="supervisor", facilities=[w["facility"]])
    return w["maker"], w["checker"]


def _movement(w, *, departed=False):
    """A fresh court movement requested by another officer (and, if asked,
    approved by a third and departed)."""
    from custody import services

    maker, checker = _officers(w)
    inmate = factories.InmateFactory(facility=w["facility"], cell=w["cell"])
    movement = services.movement_request(
        inmate=inmate,
        kind="court",
        by=maker,
        expected_back_at=timezone.now() + timedelta(hours=4),
    )
    if departed:
        services.movement_approve(movement=movement, by=checker)
        services.movement_depart(movement=movement, by=maker)
    return movement


def _extension_path(w, step):
    from custody import services

    movement = _movement(w, departed=True)
    extension = services.extension_request(
        movement=movement,
        by=_officers(w)[0],
        expected_back_at=timezone.now() + timedelta(hours=8),
        reason="La audiencia se alarga",
    )
    return f"/api/v1/movements/{movement.pk}/extensions/{extension.pk}/{step}/"


def _schedule(w):
    from custody.models import CountSchedule

    return CountSchedule.objects.create(
        facility=w["facility"], location=_unit(w), time_of_day="06:00"
    )


_graces = itertools.count()


def _change(w):
    """A fresh pending change of the world's facility (each call decides its
    own), proposed by an admin who is none of the roles acting on it."""
    from custody.services.changes import change_submit

    if "proposer" not in w:
        w["proposer"] = factories.UserFactory(role="admin", facilities=[w["facility"]])
    w["facility"].refresh_from_db()
    longer = w["facility"].grace_seconds + 10 + next(_graces)
    return change_submit(
        kind="facility", target=w["facility"], by=w["proposer"], fields={"grace_seconds": longer}
    ).change


def _hold(w, *, lift_requested=False):
    """A fresh legal hold of the world's facility, placed (and, if asked,
    its lifting requested) by an admin who is none of the roles acting on it."""
    from datetime import UTC, datetime

    from custody.services.holds import hold_lift_request, hold_place

    if "proposer" not in w:
        w["proposer"] = factories.UserFactory(role="admin", facilities=[w["facility"]])
    hold = hold_place(
        facility=w["facility"],
        by=w["proposer"],
        period_start=datetime(2025, 1, 1, tzinfo=UTC),
        reason="Causa 12/2025",
    )
    if lift_requested:
        hold_lift_request(hold=hold, by=w["proposer"], reason="Causa cerrada")
    return hold


def _open_alert(w):
    """A fresh open alert of the world's facility (each call acts on its own)."""
    from alerts.models import Alert

    return Alert.objects.create(
        facility=w["facility"],
        kind="missed_checkin",
        severity="high",
        dedup_key=f"missed_checkin:test:{next(_alert_numbers)}",
        inmate=w["inmate"],
        opened_at=timezone.now(),
    )


SUCCESS = {"get": 200, "patch": 200, "put": 200, "post": (200, 201, 204)}


def _call(client, method, path, body):
    path = path() if callable(path) else path
    data = body() if callable(body) else body
    return (
        getattr(client, method)(path, data, format="json")
        if data
        else getattr(client, method)(path)
    )


def test_every_role_against_every_endpoint(world, api_as):
    failures = []
    for name, method, path, body, allowed in _requests(world):
        for role in ROLES:
            response = _call(api_as(world["users"][role]), method, path, body)
            expected = SUCCESS[method] if role in allowed else 403
            ok = (
                response.status_code in expected
                if isinstance(expected, tuple)
                else response.status_code == expected
            )
            if not ok:
                failures.append(
                    f"{role:10} {name}: {response.status_code} {response.content[:120]}"
                )
            if response.status_code != 204:
                assert response["Content-Type"].startswith("application/json"), (role, name)
    assert not failures, "\n".join(failures)


def test_anonymous_callers_get_401_everywhere(world, api_as):
    for name, method, path, body, _allowed in _requests(world):
        response = _call(api_as(), method, path, body)
        assert response.status_code == 401, name
        assert "detail" in response.json()


def test_a_device_key_reads_no_records_and_writes_none(world, api_as):
    device_client = api_as(device_key=world["device_key"])
    for name, method, path, body, _allowed in _requests(world):
        if name in FOR_DEVICES:
            continue
        response = _call(device_client, method, path, body)
        assert response.status_code == 403, name


def test_a_device_key_posts_check_ins_and_heartbeats_for_its_facility(world, api_as):
    device_client = api_as(device_key=world["device_key"])
    item = {
        "id": str(uuid.uuid4()),
        "inmate": "GT-1",
        "location": "A-01",
        "method": "fingerprint",
        "observed_at": timezone.now().isoformat(),
    }
    posted = device_client.post("/api/v1/checkins/", [item], format="json")
    assert posted.status_code == 200 and posted.json()["accepted"] == 1
    assert device_client.post("/api/v1/devices/heartbeat/", {}).status_code == 200


def test_revoked_or_unknown_device_keys_are_refused(world, api_as):
    world["device"].is_active = False
    world["device"].save()
    assert api_as(device_key=world["device_key"]).get("/api/v1/facilities/").status_code == 401
    assert api_as(device_key="dk_not-a-real-key").get("/api/v1/facilities/").status_code == 401


def test_a_rotated_device_key_stops_working(world, api_as):
    admin = api_as(world["users"]["admin"])
    response = admin.post(f"/api/v1/devices/{world['device'].pk}/rotate-key/")
    new_key = response.json()["key"]
    assert new_key != world["device_key"]
    assert api_as(device_key=world["device_key"]).get("/api/v1/inmates/").status_code == 401
    assert api_as(device_key=new_key).get("/api/v1/inmates/").status_code == 403


def test_a_user_without_a_role_is_refused(world, api_as):
    user = world["users"]["guard"]
    user.groups.clear()
    assert api_as(user).get("/api/v1/facilities/").status_code == 403


def test_password_guessing_is_throttled(facility, make_user, api_as, settings):
    from django.core.cache import cache

    settings.AUTH_THROTTLE_RATE = "3/minute"
    cache.delete("throttle_auth_127.0.0.1")
    user = make_user("guard", facility)
    client = api_as()
    answers = [
        client.post(
            "/api/v1/auth/token/", {"username": user.username, "password": "guess"}, format="json"
        ).status_code
        for _ in range(4)
    ]
    assert answers == [400, 400, 400, 429]
    cache.delete("throttle_auth_127.0.0.1")


def test_a_facility_admin_cannot_see_or_take_over_a_superuser(facility, make_user, api_as):
    from django.core.exceptions import PermissionDenied

    from custody import services
    from custody.models import User

    root = User.objects.create_superuser("root", "root@example.org", "a-long-root-pass-2026")
    root.facilities.add(facility)
    admin = make_user("admin", facility)
    client = api_as(admin)
    assert client.get("/api/v1/users/root/").status_code == 404
    assert (
        client.patch(
            "/api/v1/users/root/", {"password": "taken-over-2026-x"}, format="json"
        ).status_code
        == 404
    )
    with pytest.raises(PermissionDenied):
        services.user_update(user=root, by=admin, password="taken-over-2026-x")
    root.refresh_from_db()
    assert root.check_password("a-long-root-pass-2026")


def test_a_new_password_or_deactivation_ends_existing_tokens(world, api_as):
    admin = api_as(world["users"]["admin"])
    guard = world["users"]["guard"]
    guard_client = api_as(guard)
    assert guard_client.get("/api/v1/users/me/").status_code == 200
    admin.patch(
        f"/api/v1/users/{guard.username}/", {"password": "otra-clave-larga-2026"}, format="json"
    )
    assert guard_client.get("/api/v1/users/me/").status_code == 401


def test_an_admin_cannot_lock_themselves_out(world, api_as):
    admin_user = world["users"]["admin"]
    client = api_as(admin_user)
    path = f"/api/v1/users/{admin_user.username}/"
    assert client.patch(path, {"is_active": False}, format="json").status_code == 400
    assert client.patch(path, {"role": "guard"}, format="json").status_code == 400
    assert client.get("/api/v1/users/me/").json()["role"] == "admin"


def test_signing_out_revokes_the_token(world, api_as):
    client = api_as(world["users"]["guard"])
    assert client.post("/api/v1/auth/token/revoke/").status_code == 204
    assert client.get("/api/v1/users/me/").status_code == 401


def test_users_can_be_filtered_by_role_and_facility(world, api_as):
    client = api_as(world["users"]["admin"])
    body = client.get(f"/api/v1/users/?role=guard&facility={world['facility'].code}").json()
    assert [u["role"] for u in body["results"]] == ["guard"]
    assert client.get("/api/v1/users/?role=warden").status_code == 400


def _sign_in(user):
    from rest_framework.test import APIClient

    client = APIClient()
    answer = client.post(
        "/api/v1/auth/token/",
        {"username": user.username, "password": factories.PASSWORD},
        format="json",
    ).json()
    client.credentials(HTTP_AUTHORIZATION=f"Token {answer['token']}")
    return client, answer


def test_each_sign_in_has_its_own_token_stored_only_as_a_hash(world):
    from knox.models import AuthToken

    guard = world["users"]["guard"]
    tablet_one, first = _sign_in(guard)
    tablet_two, second = _sign_in(guard)
    assert first["token"] != second["token"]
    stored = list(AuthToken.objects.filter(user=guard).values_list("digest", "token_key"))
    assert all(first["token"] not in digest + key for digest, key in stored)
    assert tablet_one.post("/api/v1/auth/token/revoke/").status_code == 204
    assert tablet_one.get("/api/v1/users/me/").status_code == 401
    assert tablet_two.get("/api/v1/users/me/").status_code == 200


def test_an_unused_token_lapses_after_a_shift_and_none_outlives_a_day(world):
    import time_machine

    guard = world["users"]["guard"]
    with time_machine.travel("2026-11-24 06:00:00+00:00", tick=False) as clock:
        idle, _ = _sign_in(guard)
        busy, _ = _sign_in(guard)
        for _hour in range(20):  # used every hour: each use extends it...
            clock.shift(3600)
            assert busy.get("/api/v1/users/me/").status_code == 200
        assert idle.get("/api/v1/users/me/").status_code == 401  # ...unused: gone after 12 h
        clock.shift(5 * 3600)  # ...but never past 24 h after sign-in
        assert busy.get("/api/v1/users/me/").status_code == 401


def test_the_sign_in_page_shares_the_sign_in_budget(facility, make_user, client, settings):
    from django.core.cache import cache

    settings.AUTH_THROTTLE_RATE = "3/minute"
    cache.delete("throttle_auth_127.0.0.1")
    user = make_user("guard", facility)
    api = APIClient()
    api.post("/api/v1/auth/token/", {"username": user.username, "password": "guess"})
    pages = [
        client.post("/login/", {"username": user.username, "password": "guess"}).status_code
        for _ in range(3)
    ]
    assert pages == [200, 200, 429]  # the API attempt counted too
    refused = client.post("/login/", {"username": user.username, "password": "x"})
    assert "Demasiados intentos" in refused.content.decode()  # Spanish first
    cache.delete("throttle_auth_127.0.0.1")
    signed_in = client.post("/login/", {"username": user.username, "password": PASSWORD})
    assert signed_in.status_code == 302


def test_no_ones_token_posts_a_machine_read_to_a_count(world, api_as):
    """Whatever the role, a person's token vouches only for visual and manual
    marks; a scan or a biometric match needs an enrolled tablet (docs/api.md
    "Tablets")."""
    path = f"/api/v1/rollcalls/{_count(world).pk}/entries/"
    for role in ("guard", "supervisor", "admin"):
        marks = [
            {
                "id": str(uuid.uuid4()),
                "inmate": world["inmate"].booking_number,
                "status": "present",
                "method": method,
                "observed_at": timezone.now().isoformat(),
            }
            for method in ("rfid", "fingerprint", "face", "iris")
        ]
        body = _call(api_as(world["users"][role]), "post", path, marks).json()
        assert {r["reason"] for r in body["results"]} == {"method_not_allowed"}, (role, body)
