"""The auditor role reads and never writes, by construction: every write the
API documents and every page that takes a POST refuses an auditor, and the
database is left exactly as it was. New endpoints are covered without editing
this file, because both lists are read from the service itself (the OpenAPI
schema and the URL configuration)."""

import hashlib
import json
import re

import pytest
from django.apps import apps
from django.core.serializers.json import DjangoJSONEncoder
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.generators import SchemaGenerator

from tests import factories
from tests.test_permissions import _count, _hold, _open_alert, _schedule, world  # noqa: F401

pytestmark = pytest.mark.django_db

WRITE_METHODS = ("post", "put", "patch", "delete")
# Signing in and out changes no custody record.
OPEN_TO_EVERYONE = {"/api/v1/auth/token/", "/api/v1/auth/token/revoke/"}
PAGES_OPEN_TO_EVERYONE = {"login", "logout", "set_language"}
# The documented exception: exports change no record, but each writes the
# ledger event that says who took which file, so they are POSTs an auditor may
# make (``custody.permissions.records_a_read``). Exactly these, nothing else.
EXPORTS = {
    "audit-inmate-export",
    "audit-unit-counts-export",
    "audit-integrity-export",
    "audit-rounds-export",
}
# The ledger itself: the one place an export may write.
LEDGER_TABLES = {"custody.LedgerEvent", "custody.LedgerHead"}
# An auditor may ask for a ledger verification or a chain export: that writes a
# job row (and the export's own ledger event), never a custody record; see
# test_audit_ledger.
AUDITOR_REQUESTS = {"audit-ledger-verify", "audit-ledger-chain"}


# Sign-in state, not records: a token's expiry moves each time it is used.
SIGN_IN_STATE = {"knox", "sessions"}


def database_fingerprint(*, leave_out=frozenset()) -> str:
    """One hash of every row of every table: any write at all changes it."""
    digest = hashlib.sha256()
    models = [
        m
        for m in apps.get_models()
        if m._meta.app_label not in SIGN_IN_STATE and m._meta.label not in leave_out
    ]
    for model in sorted(models, key=lambda m: m._meta.label):
        rows = model._base_manager.order_by("pk").values()
        digest.update(model._meta.label.encode())
        digest.update(json.dumps(list(rows), cls=DjangoJSONEncoder, sort_keys=True).encode())
    return digest.hexdigest()


def api_writes() -> list[tuple[str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return [
        (method, path)
        for path, operations in schema["paths"].items()
        for method in operations
        if method in WRITE_METHODS and path not in OPEN_TO_EVERYONE
    ]


def _fill_api_path(path: str, w) -> str:
    rollcall = _count(w)
    values = {
        "code": w["facility"].code,
        "booking_number": w["inmate"].booking_number,
        "username": w["users"]["guard"].username,
    }
    by_collection = {
        "alerts": lambda: _open_alert(w).pk,
        "count-schedules": lambda: _schedule(w).pk,
        "devices": lambda: w["device"].pk,
        "locations": lambda: w["cell"].pk,
        "rollcalls": lambda: rollcall.pk,
        "movements": lambda: _movement(w).pk,
        "changes": lambda: _pending_change(w).pk,
        "sessions": lambda: _session(w).pk,
        "holds": lambda: _hold(w).pk,
    }
    collection = path.split("/")[3]

    def value(match):
        name = match.group(1)
        if name in values:
            return str(values[name])
        return str(by_collection[collection]())

    return re.sub(r"\{(\w+)\}", value, path)


def _movement(w):
    """The world's one open movement (a person has one at a time)."""
    from datetime import timedelta

    from django.utils import timezone

    from custody.services import movement_request

    if "movement" not in w:
        w["movement"] = movement_request(
            by=w["users"]["supervisor"],
            inmate=w["inmate"],
            kind="medical",
            destination="Hospital",
            expected_back_at=timezone.now() + timedelta(hours=4),
        )
    return w["movement"]


def _session(w):
    """A unit session (stored as the service leaves it: nobody needs to move)."""
    from datetime import timedelta

    from django.utils import timezone

    from custody.models import MovementSession

    if "session" not in w:
        cell = w["cell"]
        w["session"] = MovementSession.objects.create(
            facility=w["facility"],
            unit=cell.parent or cell,
            to_location=cell,
            started_by=w["users"]["guard"],
            started_at=timezone.now(),
            ends_at=timezone.now() + timedelta(hours=1),
        )
    return w["session"]


def _pending_change(w):
    """A change waiting for a second officer (a longer grace, by the admin)."""
    from custody.services.changes import change_submit

    if "change" not in w:
        w["change"] = change_submit(
            kind="facility",
            target=w["facility"],
            by=w["users"]["admin"],
            fields={"grace_seconds": 900},
        ).change
    return w["change"]


def page_patterns():
    """(url name, route) of every page of the service (not the API, admin or files)."""
    found = []

    def walk(patterns, prefix=""):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern) and not route.startswith(("api/", "admin/")):
                found.append((pattern.name, route))

    walk(get_resolver().url_patterns)
    return found


def _fill_page_route(route: str, w) -> str:
    # Real values where there are records, so that a view that ran would act.
    values = {
        "<str:code>": w["facility"].code,
        "<uuid:pk>": str(_count(w).pk),
        "<str:booking_number>": w["inmate"].booking_number,
        "<str:username>": w["users"]["guard"].username,
    }
    path = "/" + route
    for placeholder, value in values.items():
        path = path.replace(placeholder, value)
    if "<int:pk>" in path:
        pk = _schedule(w).pk if "schedules" in path else _open_alert(w).pk
        path = path.replace("<int:pk>", str(pk))
    return re.sub(r"<(?:int:)?\w+>", "1", path)


def test_every_documented_write_refuses_an_auditor_and_changes_nothing(world, api_as):  # noqa: F811
    writes = api_writes()
    assert len(writes) >= 25, writes  # the walk found the API, not an empty list
    paths = [(method, _fill_api_path(path, world)) for method, path in writes]
    before = database_fingerprint()
    auditor = api_as(world["users"]["auditor"])
    refused = {
        (method, path): getattr(auditor, method)(path, {}, format="json").status_code
        for method, path in paths
    }
    assert {key: code for key, code in refused.items() if code != 403} == {}
    assert database_fingerprint() == before


def test_the_same_writes_reach_their_views_for_a_supervisor(world, api_as):  # noqa: F811
    # The counterpart: the refusal above is the auditor's, not a broken request.
    supervisor = api_as(world["users"]["supervisor"])
    answers = [
        getattr(supervisor, method)(_fill_api_path(path, world), {}, format="json").status_code
        for method, path in api_writes()
    ]
    assert sum(code != 403 for code in answers) >= len(answers) // 2


def page_views():
    found = []

    def walk(patterns, prefix=""):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern) and not route.startswith(("api/", "admin/")):
                found.append((pattern.name, route, pattern.callback))

    walk(get_resolver().url_patterns)
    return found


def test_the_pages_open_to_an_auditors_post_are_exactly_the_exports():
    marked = {name for name, _route, view in page_views() if getattr(view, "records_a_read", 0)}
    assert marked == EXPORTS


def test_every_page_refuses_an_auditors_post_and_changes_nothing(world, client):  # noqa: F811
    pages = [
        (name, route)
        for name, route in page_patterns()
        if name not in PAGES_OPEN_TO_EVERYONE | AUDITOR_REQUESTS and name not in EXPORTS
    ]
    assert len(pages) >= 20, pages
    paths = [(name, _fill_page_route(route, world)) for name, route in pages]
    client.force_login(world["users"]["auditor"])
    before = database_fingerprint()
    answers = {
        name: client.post(path, {"resolution": "visto", "reason": "x"}) for name, path in paths
    }
    assert {name: r.status_code for name, r in answers.items() if r.status_code != 403} == {}
    assert database_fingerprint() == before


def test_an_auditors_export_writes_its_ledger_event_and_nothing_else(world, client):  # noqa: F811
    from custody.models import LedgerEvent

    unit = world["cell"].parent
    code = world["facility"].code
    exports = [
        f"/audit/{code}/people/{world['inmate'].booking_number}/export.csv",
        f"/audit/{code}/units/{unit.pk}/counts/export.csv",
        f"/audit/{code}/integrity/export.pdf",
        f"/audit/{code}/rounds/export.csv",
    ]
    client.force_login(world["users"]["auditor"])
    before = database_fingerprint(leave_out=LEDGER_TABLES)
    last_seq = LedgerEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    for path in exports:
        assert client.post(path).status_code == 200, path
    assert database_fingerprint(leave_out=LEDGER_TABLES) == before
    written = LedgerEvent.objects.filter(id__gt=last_seq)
    assert [(e.action, e.actor) for e in written] == [
        ("export.created", f"user:{world['users']['auditor'].username}")
    ] * len(exports)


def test_an_auditor_signs_out_and_changes_language(world, client):  # noqa: F811
    client.force_login(world["users"]["auditor"])
    assert client.post("/i18n/setlang/", {"language": "en", "next": "/"}).status_code == 302
    assert client.post("/logout/").status_code in (200, 302)
    assert "_auth_user_id" not in client.session


def test_an_auditor_reads_what_they_cannot_change(world, api_as):  # noqa: F811
    auditor = api_as(world["users"]["auditor"])
    inmate = world["inmate"].booking_number
    for path in (
        "/api/v1/inmates/",
        f"/api/v1/inmates/{inmate}/history/",
        "/api/v1/ledger/",
        "/api/v1/ledger/verify/",
        "/api/v1/alerts/",
        "/api/v1/rollcalls/",
    ):
        assert auditor.get(path).status_code == 200, path


def test_a_superuser_holding_the_auditor_role_is_read_only_too(world, api_as):  # noqa: F811
    user = factories.UserFactory(role="auditor", facilities=[world["facility"]], is_superuser=True)
    response = api_as(user).patch(
        f"/api/v1/facilities/{world['facility'].code}/", {"grace_seconds": 60}, format="json"
    )
    assert response.status_code == 403


def test_the_permission_refuses_an_auditor_even_where_a_view_would_let_them_write(world, rf):  # noqa: F811
    from custody.permissions import ALL_ROLES, IsStaffUser

    class GenerousView:
        write_roles = ALL_ROLES

    request = rf.post("/api/v1/anything/")
    request.user = world["users"]["auditor"]
    assert not IsStaffUser().has_permission(request, GenerousView())
    request.user = world["users"]["guard"]
    assert IsStaffUser().has_permission(request, GenerousView())
