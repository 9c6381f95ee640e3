"""The witness also leaves the server: every signed chain head goes to the
facility's witness channels (webhook or e-mail), signed, at least once, and
retried; channels kept for alerts hear nothing of it, and the other way round."""

import hashlib
import hmac
import json
from datetime import timedelta

import pytest
import time_machine
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.utils import timezone

from alerts.models import NotificationChannel, WitnessDelivery
from alerts.services.ledger_broken import ledgers_witness_run
from custody.services.witness import head_message
from tests.test_alert_faults import receiver  # noqa: F401  (a real HTTP endpoint)
from tests.test_ledger import append

pytestmark = pytest.mark.django_db

SECRET = "witness-secret"


@pytest.fixture(autouse=True)
def _local_receiver_allowed(settings):
    # The test's receiver speaks plain http on 127.0.0.1, listed as a gateway would be.
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]


def channel(facility, purpose, kind="webhook", target="https://archive.example/hook", **kw):
    return NotificationChannel.objects.create(
        facility=facility,
        name=f"{purpose}-{kind}",
        kind=kind,
        target=target,
        secret=SECRET,
        purpose=purpose,
        **kw,
    )


def test_each_signed_head_reaches_the_witness_webhook_signed_twice_over(
    facility,
    witness_key,
    receiver,  # noqa: F811
):
    hook = receiver()
    channel(facility, "witness", target=hook.url)
    channel(facility, "alerts", target=hook.url)  # a pager: never told
    append(facility, 3)

    ledgers_witness_run()

    [(headers, body, _status)] = hook.requests
    assert headers["X-Custody-Event"] == "ledger.witness"
    expected = hmac.new(
        SECRET.encode(), headers["X-Custody-Timestamp"].encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    assert headers["X-Custody-Signature"] == f"sha256={expected}"
    line = json.loads(body)["witness"]
    assert (line["facility"], line["seq"]) == (facility.code, 3)
    # The receiver can check the head itself with the published key.
    Ed25519PublicKey.from_public_bytes(bytes.fromhex(witness_key)).verify(
        bytes.fromhex(line["signature"]),
        head_message(facility=line["facility"], seq=line["seq"], hash=line["hash"], at=line["at"]),
    )
    assert WitnessDelivery.objects.get().status == "sent"


def test_a_refused_delivery_is_retried_at_the_next_run(
    facility,
    witness_key,
    receiver,  # noqa: F811
):
    hook = receiver(answers=[503])
    channel(facility, "both", target=hook.url)
    append(facility, 1)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        ledgers_witness_run()
    delivery = WitnessDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert "HTTP 503" in delivery.last_error

    with time_machine.travel(start + timedelta(minutes=5), tick=False):
        ledgers_witness_run()  # the head did not move: nothing new, the old one resent
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("sent", 2)
    assert [status for _h, _b, status in hook.requests] == [503, 200]


def test_an_auditors_mailbox_keeps_a_copy_of_each_line(facility, witness_key, mailoutbox):
    channel(facility, "witness", kind="email", target="auditoria@mp.gob.gt")
    append(facility, 2)
    ledgers_witness_run()
    [mail] = mailoutbox
    assert mail.to == ["auditoria@mp.gob.gt"]
    assert f"ledger witness {facility.code} #2" in mail.subject
    assert json.dumps(json.loads(mail.body.splitlines()[-1])["signature"]) in mail.body


def test_a_witness_only_channel_hears_no_alert(facility):
    from alerts.models import Alert

    archive = channel(facility, "witness")
    both = channel(facility, "both", target="https://both.example/hook")
    alert = Alert(facility=facility, kind="ledger_broken", severity="critical")
    assert not archive.hears(alert)
    assert both.hears(alert)


def test_a_witness_webhook_that_breaks_the_rules_is_never_sent(
    facility,
    witness_key,
    receiver,  # noqa: F811
    settings,
):
    """The signed heads go out under the same rules as alerts: a plain-http
    host nobody listed hears nothing, and the row says why for a person."""
    hook = receiver()
    settings.WEBHOOK_ALLOWED_HOSTS = []
    channel(facility, "witness", target=hook.url)
    append(facility, 1)

    ledgers_witness_run()

    assert hook.requests == []
    delivery = WitnessDelivery.objects.get()
    assert delivery.status == "failed"
    assert delivery.last_error.startswith("not sent:")
