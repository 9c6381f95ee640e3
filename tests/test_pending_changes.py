"""One officer cannot weaken surveillance alone (invariant 7): every
weakening change answers 202 and waits; only a second officer of the facility
applies it, never its author; strengthening applies at once."""

import json
from dataclasses import dataclass
from datetime import time, timedelta

import pytest
import time_machine
from django.utils import timezone

from alerts.models import AlertPolicy, NotificationChannel
from alerts.services.policy import alert_policy
from custody.models import (
    ChangeStatus,
    CountSchedule,
    Device,
    Facility,
    Inmate,
    LedgerEvent,
    Location,
    PendingChange,
)
from custody.services.changes import change_approve, change_submit, changes_expire
from tests import factories

pytestmark = pytest.mark.django_db


@dataclass
class World:
    facility: Facility
    other: Facility
    unit: Location
    other_unit: Location
    cell: Location
    inmate: Inmate
    device: Device
    schedule: CountSchedule
    admin: object
    author: object  # a supervisor
    second: object  # another supervisor of the facility
    stranger: object  # a supervisor of another facility
    guard: object


@pytest.fixture
def w(facility, other_facility):
    unit = factories.LocationFactory(facility=facility, code="U1")
    other_unit = factories.LocationFactory(facility=facility, code="U2")
    cell = factories.CellFactory(facility=facility, code="A-01", parent=unit)
    inmate = factories.InmateFactory(
        facility=facility, cell=cell, booking_number="GT-1", security_level="maximum"
    )
    device, _key = factories.device(facility, name="reader-A")
    Device.objects.filter(pk=device.pk).update(methods=["fingerprint", "face"])
    device.refresh_from_db()
    schedule = CountSchedule.objects.create(
        facility=facility, location=unit, time_of_day=time(6, 0), kind="formal"
    )
    for hour in (12, 18):
        CountSchedule.objects.create(facility=facility, location=unit, time_of_day=time(hour, 0))
    make = factories.UserFactory
    return World(
        facility=facility,
        other=other_facility,
        unit=unit,
        other_unit=other_unit,
        cell=cell,
        inmate=inmate,
        device=device,
        schedule=schedule,
        admin=make(role="admin", facilities=[facility], username="admin-a"),
        author=make(role="supervisor", facilities=[facility], username="sup-author"),
        second=make(role="supervisor", facilities=[facility], username="sup-second"),
        stranger=make(role="supervisor", facilities=[other_facility], username="sup-far"),
        guard=make(role="guard", facilities=[facility], username="guard-a"),
    )


@dataclass(frozen=True)
class Case:
    """One weakening change: who proposes it (a role of the world), where,
    and how to read the setting it changes."""

    name: str
    author: str
    method: str
    path: object  # callable(world) -> str
    body: object
    read: object  # callable(world) -> current value
    old: object
    new: object


def _facility_read(name):
    return lambda w: getattr(Facility.objects.get(pk=w.facility.pk), name)


INTERVALS = {"maximum": 1800, "medium": 3600, "minimum": 7200}
ABSENCE = {"court": 57600, "medical": 259200, "temporary_release": 259200}
LADDER = [
    {"level": 0, "name": "Jefe de unidad", "acknowledge_within_seconds": 300},
    {"level": 1, "name": "Director", "acknowledge_within_seconds": 600},
    {"level": 2, "name": "Nacional", "acknowledge_within_seconds": None},
]


def _ladder_read(w):
    from alerts.services.change_kinds import ladder_levels

    return [(r["level"], r["acknowledge_within_seconds"]) for r in ladder_levels(w.facility)]


WEAKENING = [
    Case(
        "security level lowered",
        "author",
        "patch",
        lambda w: "/api/v1/inmates/GT-1/",
        {"security_level": "minimum"},
        lambda w: Inmate.objects.get(pk=w.inmate.pk).security_level,
        "maximum",
        "minimum",
    ),
    Case(
        "count schedule retired",
        "author",
        "patch",
        lambda w: f"/api/v1/count-schedules/{w.schedule.pk}/",
        {"is_active": False},
        lambda w: CountSchedule.objects.get(pk=w.schedule.pk).is_active,
        True,
        False,
    ),
    Case(
        "count schedule moved later",
        "author",
        "patch",
        lambda w: f"/api/v1/count-schedules/{w.schedule.pk}/",
        {"time_of_day": "09:30"},
        lambda w: CountSchedule.objects.get(pk=w.schedule.pk).time_of_day,
        time(6, 0),
        time(9, 30),
    ),
    Case(
        "count schedule with a longer grace",
        "author",
        "patch",
        lambda w: f"/api/v1/count-schedules/{w.schedule.pk}/",
        {"grace_minutes": 45},
        lambda w: CountSchedule.objects.get(pk=w.schedule.pk).grace_minutes,
        15,
        45,
    ),
    Case(
        "formal count made informal",
        "author",
        "patch",
        lambda w: f"/api/v1/count-schedules/{w.schedule.pk}/",
        {"kind": "informal"},
        lambda w: CountSchedule.objects.get(pk=w.schedule.pk).kind,
        "formal",
        "informal",
    ),
    Case(
        "cell moved to another unit",
        "author",
        "patch",
        lambda w: f"/api/v1/locations/{w.cell.pk}/",
        {"parent": "U2"},
        lambda w: Location.objects.get(pk=w.cell.pk).parent.code,
        "U1",
        "U2",
    ),
    Case(
        "reader deactivated",
        "admin",
        "patch",
        lambda w: f"/api/v1/devices/{w.device.pk}/",
        {"is_active": False},
        lambda w: Device.objects.get(pk=w.device.pk).is_active,
        True,
        False,
    ),
    Case(
        "reader losing a method",
        "admin",
        "patch",
        lambda w: f"/api/v1/devices/{w.device.pk}/",
        {"methods": ["fingerprint"]},
        lambda w: Device.objects.get(pk=w.device.pk).methods,
        ["fingerprint", "face"],
        ["fingerprint"],
    ),
    Case(
        "longer check interval",
        "admin",
        "patch",
        lambda w: f"/api/v1/facilities/{w.facility.code}/",
        {"check_interval_seconds": {**INTERVALS, "maximum": 3600}},
        _facility_read("check_interval_seconds"),
        INTERVALS,
        {**INTERVALS, "maximum": 3600},
    ),
    Case(
        "longer grace",
        "admin",
        "patch",
        lambda w: f"/api/v1/facilities/{w.facility.code}/",
        {"grace_seconds": 900},
        _facility_read("grace_seconds"),
        300,
        900,
    ),
    Case(
        "longer identity window",
        "admin",
        "patch",
        lambda w: f"/api/v1/facilities/{w.facility.code}/",
        {"identity_window_seconds": 172800},
        _facility_read("identity_window_seconds"),
        86400,
        172800,
    ),
    Case(
        "longer absence allowed",
        "admin",
        "patch",
        lambda w: f"/api/v1/facilities/{w.facility.code}/",
        {"max_absence_seconds": {**ABSENCE, "court": 86400}},
        _facility_read("max_absence_seconds"),
        ABSENCE,
        {**ABSENCE, "court": 86400},
    ),
    Case(
        "shorter count freeze",
        "admin",
        "patch",
        lambda w: f"/api/v1/facilities/{w.facility.code}/",
        {"count_freeze_seconds": 300},
        _facility_read("count_freeze_seconds"),
        900,
        300,
    ),
    Case(
        "smaller recount sample",
        "admin",
        "patch",
        lambda w: f"/api/v1/facilities/{w.facility.code}/",
        {"recount_sample_percent": 5},
        _facility_read("recount_sample_percent"),
        10,
        5,
    ),
    Case(
        "slower escalation",
        "admin",
        "put",
        lambda w: f"/api/v1/facilities/{w.facility.code}/escalation/",
        {"levels": [{**LADDER[0], "acknowledge_within_seconds": 1800}, *LADDER[1:]]},
        _ladder_read,
        [(0, 300), (1, 600), (2, None)],
        [(0, 1800), (1, 600), (2, None)],
    ),
    Case(
        "fewer rungs",
        "admin",
        "put",
        lambda w: f"/api/v1/facilities/{w.facility.code}/escalation/",
        {"levels": LADDER[:2]},
        _ladder_read,
        [(0, 300), (1, 600), (2, None)],
        [(0, 300), (1, 600)],
    ),
]


def _propose(w, api_as, case):
    client = api_as(getattr(w, case.author))
    return getattr(client, case.method)(case.path(w), case.body, format="json")


@pytest.mark.parametrize("case", WEAKENING, ids=lambda c: c.name)
def test_a_weakening_change_waits_for_a_second_officer(w, api_as, case):
    assert case.read(w) == case.old
    answer = _propose(w, api_as, case)
    assert answer.status_code == 202, answer.content
    assert answer.json()["status"] == "pending"
    change_id = answer.json()["change"]
    assert case.read(w) == case.old  # the old setting holds

    approve = f"/api/v1/changes/{change_id}/approve/"
    assert api_as(getattr(w, case.author)).post(approve).status_code == 403
    assert api_as(w.stranger).post(approve).status_code == 404
    assert api_as(w.guard).post(approve).status_code == 403
    assert case.read(w) == case.old  # refused approvals changed nothing

    approved = api_as(w.second).post(approve)
    assert approved.status_code == 200, approved.content
    assert approved.json()["status"] == "approved"
    assert approved.json()["decided_by"] == "sup-second"
    assert case.read(w) == case.new
    actions = set(
        LedgerEvent.objects.filter(subject=f"change:{change_id}").values_list("action", flat=True)
    )
    assert actions == {"change.requested", "change.approved"}


@pytest.mark.parametrize("case", WEAKENING[:3] + WEAKENING[8:10], ids=lambda c: c.name)
def test_a_rejected_change_leaves_the_old_setting(w, api_as, case):
    change_id = _propose(w, api_as, case).json()["change"]
    reject = f"/api/v1/changes/{change_id}/reject/"
    assert api_as(w.second).post(reject, {"reason": "no"}, format="json").status_code == 400
    answer = api_as(w.second).post(reject, {"reason": "Sin motivo documentado"}, format="json")
    assert answer.status_code == 200
    assert answer.json()["status"] == "rejected"
    assert answer.json()["reason"] == "Sin motivo documentado"
    assert case.read(w) == case.old
    # A decided change is decided: approving it now is a conflict.
    assert api_as(w.admin).post(f"/api/v1/changes/{change_id}/approve/").status_code == 409
    assert case.read(w) == case.old


STRENGTHENING = [
    ("admin", "patch", "/api/v1/facilities/{code}/", {"grace_seconds": 120}),
    ("admin", "patch", "/api/v1/facilities/{code}/", {"recount_sample_percent": 20}),
    ("admin", "patch", "/api/v1/facilities/{code}/", {"count_freeze_seconds": 1800}),
    (
        "admin",
        "patch",
        "/api/v1/facilities/{code}/",
        {"check_interval_seconds": {**INTERVALS, "minimum": 3600}},
    ),
    ("author", "patch", "/api/v1/count-schedules/{schedule}/", {"grace_minutes": 5}),
    # 06:00 -> 05:00 beside 12:00 and 18:00: earlier, and the longest gap stays 12 h.
    ("author", "patch", "/api/v1/count-schedules/{schedule}/", {"time_of_day": "05:00"}),
    ("author", "patch", "/api/v1/inmates/GT-1/", {"first_name": "José"}),
    ("admin", "patch", "/api/v1/devices/{device}/", {"methods": ["fingerprint", "face", "iris"]}),
    ("author", "patch", "/api/v1/locations/{cell}/", {"capacity": 6}),
    (
        "admin",
        "put",
        "/api/v1/facilities/{code}/escalation/",
        {"levels": [{**LADDER[0], "acknowledge_within_seconds": 60}, *LADDER[1:]]},
    ),
    (
        "admin",
        "put",
        "/api/v1/facilities/{code}/escalation/",
        {
            "levels": [
                *LADDER[:2],
                {**LADDER[2], "acknowledge_within_seconds": 600},
                {"level": 3, "name": "Ministro"},
            ]
        },
    ),
]


@pytest.mark.parametrize("author, method, path, body", STRENGTHENING)
def test_a_change_that_weakens_nothing_applies_at_once(w, api_as, author, method, path, body):
    path = path.format(
        code=w.facility.code, schedule=w.schedule.pk, device=w.device.pk, cell=w.cell.pk
    )
    answer = getattr(api_as(getattr(w, author)), method)(path, body, format="json")
    assert answer.status_code == 200, answer.content
    assert not PendingChange.objects.exists()
    for name, value in body.items():
        if name != "levels":
            assert answer.json()[name] in (value, f"{value}:00")  # times answer HH:MM:SS


def test_a_raised_security_level_applies_at_once(w, api_as):
    w.inmate.refresh_from_db()
    Inmate.objects.filter(pk=w.inmate.pk).update(security_level="minimum")
    answer = api_as(w.author).patch("/api/v1/inmates/GT-1/", {"security_level": "maximum"})
    assert answer.status_code == 200
    assert Inmate.objects.get(pk=w.inmate.pk).security_level == "maximum"


def test_a_stale_approval_conflicts_and_changes_nothing(w, api_as):
    change_id = (
        api_as(w.admin)
        .patch(f"/api/v1/facilities/{w.facility.code}/", {"grace_seconds": 900}, format="json")
        .json()["change"]
    )
    # Meanwhile someone tightens the same setting (at once: it is stronger).
    assert (
        api_as(w.admin)
        .patch(f"/api/v1/facilities/{w.facility.code}/", {"grace_seconds": 200}, format="json")
        .status_code
        == 200
    )
    answer = api_as(w.second).post(f"/api/v1/changes/{change_id}/approve/")
    assert answer.status_code == 409
    assert Facility.objects.get(pk=w.facility.pk).grace_seconds == 200
    assert PendingChange.objects.get(pk=change_id).status == ChangeStatus.PENDING


def test_bad_input_in_a_weakening_change_is_refused_at_once(w, api_as):
    answer = api_as(w.admin).patch(
        f"/api/v1/facilities/{w.facility.code}/",
        {"check_interval_seconds": {**INTERVALS, "maximum": 999_999}},
        format="json",
    )
    assert answer.status_code == 400
    assert "check_interval_seconds" in str(answer.json())
    assert not PendingChange.objects.exists()


def test_an_account_the_author_made_cannot_approve(w, api_as):
    change_id = (
        api_as(w.admin)
        .patch(f"/api/v1/facilities/{w.facility.code}/", {"grace_seconds": 900}, format="json")
        .json()["change"]
    )
    made = api_as(w.admin).post(
        "/api/v1/users/",
        {
            "username": "sup-made",
            "password": "una-clave-larga-2026",
            "role": "supervisor",
            "facilities": [w.facility.code],
        },
        format="json",
    )
    assert made.status_code == 201
    from custody.models import User

    puppet = User.objects.get(username="sup-made")
    answer = api_as(puppet).post(f"/api/v1/changes/{change_id}/approve/")
    assert answer.status_code == 403
    assert Facility.objects.get(pk=w.facility.pk).grace_seconds == 300
    # Thirty days on, the account is nobody's puppet by this rule.
    with time_machine.travel(timezone.now() + timedelta(days=31)):
        change_id = (
            api_as(w.admin)
            .patch(f"/api/v1/facilities/{w.facility.code}/", {"grace_seconds": 600}, format="json")
            .json()["change"]
        )
        assert api_as(puppet).post(f"/api/v1/changes/{change_id}/approve/").status_code == 200


def test_pending_changes_expire_after_a_week(w, api_as):
    change_id = (
        api_as(w.admin)
        .patch(f"/api/v1/facilities/{w.facility.code}/", {"grace_seconds": 900}, format="json")
        .json()["change"]
    )
    with time_machine.travel(timezone.now() + timedelta(days=7, minutes=1)):
        listed = api_as(w.second).get("/api/v1/changes/?status=expired").json()
        assert [c["id"] for c in listed["results"]] == [change_id]
        assert api_as(w.second).get("/api/v1/changes/?status=pending").json()["count"] == 0
        assert api_as(w.second).post(f"/api/v1/changes/{change_id}/approve/").status_code == 409
        assert changes_expire() == 1
    assert PendingChange.objects.get(pk=change_id).status == ChangeStatus.EXPIRED
    assert Facility.objects.get(pk=w.facility.pk).grace_seconds == 300
    assert LedgerEvent.objects.filter(subject=f"change:{change_id}", action="change.expired")


def test_changes_are_listed_in_scope_and_filtered(w, api_as):
    api_as(w.admin).patch(
        f"/api/v1/facilities/{w.facility.code}/", {"grace_seconds": 900}, format="json"
    )
    listed = api_as(w.second).get(f"/api/v1/changes/?facility={w.facility.code}&status=pending")
    assert listed.status_code == 200
    (change,) = listed.json()["results"]
    assert change["kind"] == "facility"
    assert change["weakened"] == ["grace_seconds"]
    assert change["baseline"] == {"grace_seconds": 300}
    assert change["proposed"] == {"grace_seconds": 900}
    assert change["requested_by"] == "admin-a"
    assert api_as(w.stranger).get("/api/v1/changes/").json()["count"] == 0
    assert api_as(w.stranger).get(f"/api/v1/changes/{change['id']}/").status_code == 404
    assert api_as(w.guard).get("/api/v1/changes/").status_code == 403
    assert api_as(w.second).get("/api/v1/changes/?status=maybe").status_code == 400


# --- The alerts app's kinds (edited in the Django admin) ----------------------------


def test_a_longer_reader_silence_waits_and_a_shorter_one_applies(w):
    outcome = change_submit(
        kind="alert_policy",
        target=w.facility,
        by=w.admin,
        fields={"device_offline_after_seconds": 3600},
    )
    assert outcome.pending
    assert alert_policy(w.facility).device_offline_after_seconds == 600
    shorter = change_submit(
        kind="alert_policy", target=w.facility, by=w.admin, fields={"movement_grace_seconds": 60}
    )
    assert not shorter.pending
    assert AlertPolicy.objects.get(facility=w.facility).movement_grace_seconds == 60
    change_approve(change=outcome.change, by=w.second)
    assert AlertPolicy.objects.get(facility=w.facility).device_offline_after_seconds == 3600


def test_a_shorter_time_per_cell_on_rounds_waits_and_a_longer_one_applies(w):
    # A lower floor lets a desk-made round of rapid scans pass as plausible.
    faster = change_submit(
        kind="alert_policy", target=w.facility, by=w.admin, fields={"round_seconds_per_cell": 1}
    )
    assert faster.pending
    assert alert_policy(w.facility).round_seconds_per_cell == 5
    slower = change_submit(
        kind="alert_policy", target=w.facility, by=w.admin, fields={"round_seconds_per_cell": 20}
    )
    assert not slower.pending
    assert AlertPolicy.objects.get(facility=w.facility).round_seconds_per_cell == 20


@pytest.mark.parametrize(
    "fields",
    [{"is_active": False}, {"min_severity": "critical"}, {"level": 2}],
    ids=["switched off", "higher lowest severity", "later rung"],
)
def test_a_quieter_channel_waits(w, fields):
    from alerts.services.settings_record import alert_setting_save

    channel = alert_setting_save(
        setting=NotificationChannel(
            facility=w.facility, name="jefes", kind="email", target="jefes@example.org"
        ),
        by=w.admin,
    )
    outcome = change_submit(kind="notification_channel", target=channel, by=w.admin, fields=fields)
    assert outcome.pending
    channel.refresh_from_db()
    assert (channel.is_active, channel.min_severity, channel.level) == (True, "medium", 0)
    change_approve(change=outcome.change, by=w.second)
    channel.refresh_from_db()
    for name, value in fields.items():
        assert getattr(channel, name) == value


def test_the_admin_form_goes_through_the_same_gate(w, client):
    from django.contrib.auth import get_user_model

    from tests.second_factor import sign_in

    root = get_user_model().objects.create_superuser("root", "r@example.org", "a-long-pass-2026")
    sign_in(client, root)
    facility = w.facility
    answer = client.post(
        f"/admin/custody/facility/{facility.pk}/change/",
        {
            "code": facility.code,
            "name": facility.name,
            "timezone": facility.timezone,
            "check_interval_seconds": '{"maximum": 1800, "medium": 3600, "minimum": 7200}',
            "grace_seconds": 1200,
            "identity_window_seconds": 86400,
            "max_absence_seconds": json.dumps(ABSENCE),
            "count_freeze_seconds": 900,
            "recount_sample_percent": 10,
            "internal_movement_max_seconds": 28800,
            "round_intervals": json.dumps(facility.round_intervals),
            "round_grace_seconds": 120,
            "round_min_spread_percent": 10,
            "reception_deadline_seconds": 14400,
        },
    )
    assert answer.status_code == 302, answer.content[:2000]
    assert Facility.objects.get(pk=facility.pk).grace_seconds == 300
    assert PendingChange.objects.get().proposed == {"grace_seconds": 1200}


# --- Pages --------------------------------------------------------------------


def test_a_supervisor_approves_on_the_changes_page(w, api_as, client):
    change_id = (
        api_as(w.author)
        .patch("/api/v1/inmates/GT-1/", {"security_level": "minimum"}, format="json")
        .json()["change"]
    )
    client.force_login(w.author)
    page = client.get("/changes/")
    assert f"change-{change_id}" in page.content.decode()
    assert client.post(f"/changes/{change_id}/approve/").status_code == 403
    assert Inmate.objects.get(pk=w.inmate.pk).security_level == "maximum"

    client.force_login(w.second)
    dashboard = client.get(f"/dashboard/{w.facility.code}/")
    assert f"/changes/#change-{change_id}" in dashboard.content.decode()
    answer = client.post(f"/changes/{change_id}/approve/")
    assert answer.status_code == 302
    assert Inmate.objects.get(pk=w.inmate.pk).security_level == "minimum"


def test_a_supervisor_rejects_on_the_changes_page_with_a_reason(w, api_as, client):
    change_id = (
        api_as(w.author)
        .patch(f"/api/v1/count-schedules/{w.schedule.pk}/", {"is_active": False}, format="json")
        .json()["change"]
    )
    client.force_login(w.second)
    assert client.post(f"/changes/{change_id}/reject/", {"reason": ""}).status_code == 400
    answer = client.post(f"/changes/{change_id}/reject/", {"reason": "El recuento sigue"})
    assert answer.status_code == 302
    change = PendingChange.objects.get(pk=change_id)
    assert (change.status, change.decided_by, change.reason) == (
        "rejected",
        w.second,
        "El recuento sigue",
    )
    assert CountSchedule.objects.get(pk=w.schedule.pk).is_active


def test_retiring_a_count_on_the_schedules_page_waits(w, client):
    client.force_login(w.author)
    answer = client.post(f"/counts/schedules/slot/{w.schedule.pk}/retire/")
    assert answer.status_code == 302
    assert CountSchedule.objects.get(pk=w.schedule.pk).is_active
    assert PendingChange.objects.get().kind == "count_schedule"


# --- The ladder's own rules ---------------------------------------------------------


@pytest.mark.parametrize(
    "levels, field",
    [
        ([{**LADDER[0], "level": 1}], "level"),
        ([{**LADDER[0], "acknowledge_within_seconds": 5}, LADDER[2]], "acknowledge_within_seconds"),
        ([{**LADDER[0], "acknowledge_within_seconds": None}, LADDER[1]], "acknowledge_within"),
        ([{**LADDER[0], "repeat_every_seconds": 9}], "repeat_every_seconds"),
        ([{**LADDER[0], "resolve_within_seconds": 3}], "resolve_within_seconds"),
        ([], "levels"),
    ],
)
def test_a_bad_ladder_is_refused_naming_the_field(w, api_as, levels, field):
    answer = api_as(w.admin).put(
        f"/api/v1/facilities/{w.facility.code}/escalation/", {"levels": levels}, format="json"
    )
    assert answer.status_code == 400
    assert field in str(answer.json())


def test_the_ladder_is_read_by_the_facility_admin_only(w, api_as):
    path = f"/api/v1/facilities/{w.facility.code}/escalation/"
    shown = api_as(w.admin).get(path)
    assert shown.status_code == 200
    assert [rung["level"] for rung in shown.json()["levels"]] == [0, 1, 2]
    assert api_as(w.second).get(path).status_code == 403
    far_admin = factories.UserFactory(role="admin", facilities=[w.other])
    assert api_as(far_admin).get(path).status_code == 404


def test_a_channel_secret_in_a_waiting_change_is_never_shown(w, api_as):
    from alerts.services.settings_record import alert_setting_save

    channel = alert_setting_save(
        setting=NotificationChannel(
            facility=w.facility, name="radio", kind="email", target="radio@example.org"
        ),
        by=w.admin,
    )
    secret = "a-brand-new-signing-secret"
    outcome = change_submit(
        kind="notification_channel",
        target=channel,
        by=w.admin,
        fields={"is_active": False, "secret": secret},
    )
    assert outcome.pending
    shown = api_as(w.second).get(f"/api/v1/changes/{outcome.change.pk}/")
    assert shown.json()["proposed"]["secret"].startswith("sha256:")
    assert secret not in shown.content.decode()
    assert secret not in str(list(LedgerEvent.objects.values_list("data", flat=True)))
    change_approve(change=outcome.change, by=w.second)
    channel.refresh_from_db()
    assert (channel.is_active, channel.secret) == (False, secret)
    assert secret not in str(list(LedgerEvent.objects.values_list("data", flat=True)))


def test_a_channel_moved_to_another_facility_waits_for_this_ones_officers(w):
    from alerts.services.settings_record import alert_setting_save

    channel = alert_setting_save(
        setting=NotificationChannel(
            facility=w.facility, name="pager", kind="email", target="pager@example.org"
        ),
        by=w.admin,
    )
    outcome = change_submit(
        kind="notification_channel", target=channel, by=w.admin, fields={"facility": w.other}
    )
    assert outcome.pending and outcome.change.facility == w.facility
    assert NotificationChannel.objects.get(pk=channel.pk).facility == w.facility


def test_the_list_reads_a_fixed_number_of_queries(w, api_as):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def propose(grace):
        change_submit(
            kind="facility", target=w.facility, by=w.admin, fields={"grace_seconds": grace}
        )

    def queries() -> int:
        client = api_as(w.second)
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/api/v1/changes/").status_code == 200
        return len(captured)

    propose(400)
    one = queries()
    for grace in range(500, 1000, 100):
        propose(grace)
    assert queries() == one


def test_a_device_is_registered_with_its_methods(w, api_as):
    answer = api_as(w.admin).post(
        "/api/v1/devices/",
        {"facility": w.facility.code, "name": "reader-B", "kind": "biometric", "methods": ["face"]},
        format="json",
    )
    assert answer.status_code == 201, answer.content
    assert Device.objects.get(name="reader-B").methods == ["face"]
