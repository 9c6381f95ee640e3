"""Webhook channels: https only (plain http only to a host the operator lists in
WEBHOOK_ALLOWED_HOSTS, compared whole), no credentials in the URL, always a
signing secret; a row saved before these rules is not sent but fails for a
person to see; and why a delivery failed is for administrators only."""

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone, translation

from alerts.models import Alert, DeliveryStatus, Notification, NotificationChannel
from alerts.services import deliver_due
from alerts.services.settings_record import alert_setting_save
from alerts.webhooks import target_problem
from custody.models import LedgerEvent, User
from tests import factories
from tests.second_factor import sign_in
from tests.test_alert_faults import Receiver

pytestmark = pytest.mark.django_db

SECRET = "s3cr3t-signing-key-of-the-radio-gateway"


@pytest.fixture
def gateway(settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["Gateway.LAN", "127.0.0.1", "[::1]"]


@pytest.mark.parametrize(
    "url",
    [
        "https://radio.example.org/hook",
        "https://radio.example.org:8443/hook?x=1",
        "http://gateway.lan/hook",
        "http://GATEWAY.lan:8080/hook",
        "http://127.0.0.1:9000/hook",
        "http://[::1]:9000/hook",
    ],
)
def test_https_anywhere_and_plain_http_only_to_a_listed_host(gateway, url):
    assert target_problem(url) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://radio.example.org/hook",  # not listed
        "http://gateway.lan.evil.org/hook",  # a listed name as a prefix
        "http://evil-gateway.lan/hook",  # ... or as a suffix
        "http://xgateway.lan/hook",
        "http://127.0.0.10/hook",
        "http://gateway.lan./hook",  # the same host to DNS, not the listed name
        "http://gateway%2elan/hook",
        "http://gateway.lan@evil.org/hook",  # the listed name as a user name
        "https://user:password@radio.example.org/hook",  # credentials in the URL
        "https://token@radio.example.org/hook",
        "http://evil.org\\@gateway.lan/hook",  # parsers disagree on backslashes
        "http://gateway.lan /hook",
        "ftp://radio.example.org/hook",
        "file:///etc/passwd",
        "https:///hook",
        "https://radio.example.org:99999/hook",
        "radio.example.org/hook",
        "",
    ],
)
def test_anything_else_is_refused(gateway, url):
    assert target_problem(url)


def test_with_no_list_plain_http_goes_nowhere(settings):
    settings.WEBHOOK_ALLOWED_HOSTS = []
    assert target_problem("http://127.0.0.1:9000/hook")
    assert target_problem("https://127.0.0.1:9000/hook") is None


# --- Saving a channel ----------------------------------------------------------


@pytest.fixture
def root_client(client):
    root = User.objects.create_superuser("root", "root@example.org", "a-long-root-pass-2026")
    sign_in(client, root)
    return client


def channel_form(facility, **changes):
    return {
        "facility": facility.pk,
        "level": 0,
        "name": "Radio",
        "kind": "webhook",
        "target": "https://radio.example.org/hook",
        "secret": SECRET,
        "min_severity": "medium",
        "purpose": "alerts",
        "is_active": "on",
        **changes,
    }


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"target": "http://radio.example.org/hook"}, "target"),
        ({"target": "https://admin:pw@radio.example.org/hook"}, "target"),
        ({"secret": ""}, "secret"),
    ],
)
def test_the_admin_refuses_a_webhook_in_clear_with_credentials_or_unsigned(
    root_client, facility, changes, field
):
    response = root_client.post(
        "/admin/alerts/notificationchannel/add/", channel_form(facility, **changes)
    )

    assert response.status_code == 200  # the form again, with its errors
    assert field in response.context["adminform"].form.errors
    assert not NotificationChannel.objects.exists()
    assert not LedgerEvent.objects.filter(action="notification_channel.created").exists()


def test_the_admin_takes_a_signed_https_webhook_and_a_listed_http_gateway(
    root_client, facility, gateway
):
    root_client.post("/admin/alerts/notificationchannel/add/", channel_form(facility))
    root_client.post(
        "/admin/alerts/notificationchannel/add/",
        channel_form(facility, name="Gateway", target="http://gateway.lan/sms"),
    )
    assert set(NotificationChannel.objects.values_list("name", flat=True)) == {"Radio", "Gateway"}


def test_an_old_webhook_can_be_switched_off_without_fixing_it_first(facility):
    channel = NotificationChannel.objects.create(
        facility=facility, name="Old", kind="webhook", target="http://old.example.org/"
    )
    channel.is_active = False
    alert_setting_save(setting=channel, by=None)

    channel.is_active = True
    with pytest.raises(ValidationError) as refused:
        alert_setting_save(setting=channel, by=None)
    assert set(refused.value.message_dict) == {"target", "secret"}
    channel.refresh_from_db()
    assert channel.is_active is False


# --- Sending -------------------------------------------------------------------


def pending_row(channel) -> Notification:
    now = timezone.now()
    inmate = factories.InmateFactory(facility=channel.facility)
    alert = Alert.objects.create(
        facility=channel.facility,
        kind="missed_checkin",
        severity="high",
        dedup_key=f"missed_checkin:inmate:{inmate.pk}",
        inmate=inmate,
        opened_at=now,
    )
    return Notification.objects.create(
        alert=alert, channel=channel, event="opened", level=0, created_at=now, next_attempt_at=now
    )


@pytest.fixture
def hook():
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.mark.parametrize(
    ("allowed", "secret", "said"),
    [
        (["127.0.0.1"], "", "signing secret"),  # stored before secrets were required
        ([], SECRET, "https"),  # plain http to a host nobody listed
    ],
)
def test_a_stored_webhook_that_breaks_the_rules_is_never_sent_and_fails_for_good(
    settings, facility, hook, allowed, secret, said
):
    settings.WEBHOOK_ALLOWED_HOSTS = allowed
    channel = NotificationChannel.objects.create(
        facility=facility, name="Radio", kind="webhook", target=hook.url, secret=secret
    )
    row = pending_row(channel)

    with translation.override("en"):  # the error is kept in the worker's language
        assert deliver_due(now=timezone.now()) == {"sent": 0, "retry": 0, "failed": 1}

    row.refresh_from_db()
    assert row.status == DeliveryStatus.FAILED and row.attempts == 1
    assert said in row.last_error
    assert hook.requests == []


def test_the_same_webhook_once_fixed_is_sent_signed(settings, facility, hook):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    channel = NotificationChannel.objects.create(
        facility=facility, name="Radio", kind="webhook", target=hook.url, secret=SECRET
    )
    pending_row(channel)

    assert deliver_due(now=timezone.now()) == {"sent": 1, "retry": 0, "failed": 0}
    [(headers, _body, _status)] = hook.requests
    assert headers["X-Custody-Signature"].startswith("sha256=")


# --- Who reads why it failed ------------------------------------------------------


def test_why_a_delivery_failed_is_shown_to_administrators_only(facility, make_user, api_as):
    channel = NotificationChannel.objects.create(
        facility=facility,
        name="Radio",
        kind="webhook",
        target="https://radio.example.org/hook",
        secret=SECRET,
    )
    row = pending_row(channel)
    leak = "HTTP 502: upstream 10.20.0.7:8080 (nginx/1.18) refused"
    Notification.objects.filter(pk=row.pk).update(status="failed", last_error=leak)
    url = f"/api/v1/alerts/{row.alert_id}/notifications/"

    for role in ("guard", "supervisor", "auditor"):
        response = api_as(make_user(role, facility)).get(url)
        assert response.status_code == 200, role
        [shown] = response.json()
        assert shown["status"] == "failed" and shown["last_error"] is None, role
        assert "10.20.0.7" not in response.content.decode(), role

    [shown] = api_as(make_user("admin", facility)).get(url).json()
    assert shown["last_error"] == leak
