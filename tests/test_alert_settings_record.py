"""Ladders, channels and alert limits changed in the admin are in the ledger:
who, from what to what; a channel's signing secret never, only a fingerprint."""

import pytest

from alerts.models import AlertPolicy, EscalationLevel, NotificationChannel
from custody.models import LedgerEvent, PendingChange, User
from custody.services import ledger_verify
from custody.services.changes import change_approve
from tests import factories
from tests.second_factor import sign_in

pytestmark = pytest.mark.django_db

SECRET = "s3cr3t-signing-key-of-the-radio-gateway"


@pytest.fixture
def root_client(client):
    root = User.objects.create_superuser("root", "root@example.org", "a-long-root-pass-2026")
    sign_in(client, root)
    return client


def last_event(facility, action):
    return LedgerEvent.objects.filter(facility=facility, action=action).order_by("-seq").first()


def test_rungs_are_read_only_in_the_admin(root_client, facility):
    # Ladders change through PUT /api/v1/facilities/{code}/escalation/, where a
    # slower one waits for a second officer (tests/test_pending_changes.py).
    response = root_client.post(
        "/admin/alerts/escalationlevel/add/",
        {"facility": facility.pk, "level": 0, "name": "Sector", "acknowledge_within_seconds": 300},
    )
    assert response.status_code == 403
    assert not EscalationLevel.objects.exists()


def test_a_ladder_replaced_and_made_slower_is_on_the_record(facility, api_as, make_user):
    admin, second = make_user("admin", facility), make_user("supervisor", facility)
    path = f"/api/v1/facilities/{facility.code}/escalation/"
    rung = {"level": 0, "name": "Sector", "acknowledge_within_seconds": 60}
    middle = {"level": 1, "name": "Director", "acknowledge_within_seconds": 120}
    top = {"level": 2, "name": "Nacional"}
    assert (
        api_as(admin).put(path, {"levels": [rung, middle, top]}, format="json").status_code == 200
    )
    replaced = last_event(facility, "escalation_ladder.replaced")
    assert replaced.actor == f"user:{admin.username}"
    assert replaced.data["after"][0]["acknowledge_within_seconds"] == 60

    slower = {"levels": [{**rung, "acknowledge_within_seconds": 3600}, middle, top]}
    change = api_as(admin).put(path, slower, format="json").json()["change"]
    assert api_as(second).post(f"/api/v1/changes/{change}/approve/").status_code == 200
    replaced = last_event(facility, "escalation_ladder.replaced")
    assert replaced.actor == f"user:{second.username}"
    assert replaced.data["before"][0]["acknowledge_within_seconds"] == 60
    assert replaced.data["after"][0]["acknowledge_within_seconds"] == 3600
    assert last_event(facility, "change.approved").data["requested_by"] == admin.username
    assert ledger_verify(facility=facility).ok


def channel_form(facility, **changes):
    return {
        "facility": facility.pk,
        "level": 0,
        "name": "Radio",
        "kind": "webhook",
        "target": "https://radio.example.org/hook",
        "secret": SECRET,
        "min_severity": "medium",
        "is_active": "on",
        "purpose": "alerts",
        **changes,
    }


def test_a_channel_pointed_elsewhere_is_recorded_and_its_secret_never_is(root_client, facility):
    root_client.post("/admin/alerts/notificationchannel/add/", channel_form(facility))
    channel = NotificationChannel.objects.get(facility=facility)
    root_client.post(
        f"/admin/alerts/notificationchannel/{channel.pk}/change/",
        channel_form(facility, target="https://elsewhere.example.org/hook", secret=SECRET + "2"),
    )

    changed = last_event(facility, "notification_channel.changed").data["changes"]
    assert changed["target"] == {
        "from": "https://radio.example.org/hook",
        "to": "https://elsewhere.example.org/hook",
    }
    assert changed["secret"]["from"].startswith("sha256:")
    assert changed["secret"]["from"] != changed["secret"]["to"]
    # Taking the channel off alerts is on the record too, once a second officer approves.
    root_client.post(
        f"/admin/alerts/notificationchannel/{channel.pk}/change/",
        channel_form(facility, purpose="witness", secret=SECRET + "2"),
    )
    assert NotificationChannel.objects.get(pk=channel.pk).purpose == "alerts"
    change_approve(
        change=PendingChange.objects.get(kind="notification_channel"),
        by=factories.UserFactory(role="supervisor", facilities=[facility]),
    )
    assert last_event(facility, "notification_channel.changed").data["changes"] == {
        "purpose": {"from": "alerts", "to": "witness"},
        "target": {
            "from": "https://elsewhere.example.org/hook",
            "to": "https://radio.example.org/hook",
        },
    }
    everything = str(list(LedgerEvent.objects.values_list("data", flat=True)))
    assert SECRET not in everything


def test_an_edit_that_changes_nothing_adds_no_event(root_client, facility):
    policy = AlertPolicy.objects.create(facility=facility)
    before = LedgerEvent.objects.count()
    root_client.post(
        f"/admin/alerts/alertpolicy/{policy.pk}/change/",
        {
            "facility": facility.pk,
            "device_offline_after_seconds": 600,
            "travel_between_units_seconds": 120,
            "round_seconds_per_cell": 5,
            "movement_grace_seconds": 300,
        },
    )
    assert LedgerEvent.objects.count() == before
    root_client.post(
        f"/admin/alerts/alertpolicy/{policy.pk}/change/",
        {
            "facility": facility.pk,
            "device_offline_after_seconds": 3600,
            "travel_between_units_seconds": 120,
            "round_seconds_per_cell": 5,
            "movement_grace_seconds": 300,
        },
    )
    changed = last_event(facility, "alert_policy.changed")
    assert changed.data["changes"] == {"device_offline_after_seconds": {"from": 600, "to": 3600}}
