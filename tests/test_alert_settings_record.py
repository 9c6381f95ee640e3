"""Ladders, channels and alert limits changed in the admin are in the ledger:
who, from what to what; a channel's signing secret never, only a fingerprint."""

import pytest

from alerts.models import AlertPolicy, EscalationLevel, NotificationChannel
from custody.models import LedgerEvent, User
from custody.services import ledger_verify
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


def test_a_rung_added_and_made_slower_is_on_the_record(root_client, facility):
    response = root_client.post(
        "/admin/alerts/escalationlevel/add/",
        {
            "facility": facility.pk,
            "level": 0,
            "name": "Sector",
            "acknowledge_within_seconds": 300,
            "repeat_every_seconds": 900,
        },
    )
    assert response.status_code == 302, response.content
    rung = EscalationLevel.objects.get(facility=facility, level=0)
    created = last_event(facility, "escalation_level.created")
    assert created.actor == "user:root"
    assert created.subject == f"escalation_level:{rung.pk}"
    assert created.data["values"]["acknowledge_within_seconds"] == 300

    root_client.post(
        f"/admin/alerts/escalationlevel/{rung.pk}/change/",
        {
            "facility": facility.pk,
            "level": 0,
            "name": "Sector",
            "acknowledge_within_seconds": 3600,
            "repeat_every_seconds": 900,
        },
    )
    changed = last_event(facility, "escalation_level.changed")
    assert changed.data == {"changes": {"acknowledge_within_seconds": {"from": 300, "to": 3600}}}
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
    # Taking the witness off a channel is on the record too.
    root_client.post(
        f"/admin/alerts/notificationchannel/{channel.pk}/change/",
        channel_form(facility, purpose="witness", secret=SECRET + "2"),
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
            "movement_grace_seconds": 300,
        },
    )
    changed = last_event(facility, "alert_policy.changed")
    assert changed.data["changes"] == {"device_offline_after_seconds": {"from": 600, "to": 3600}}
