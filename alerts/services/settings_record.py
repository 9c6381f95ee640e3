"""Who changed how alerts climb and whom they reach: every save of a ladder
rung, a notification channel or a facility's alert limits is a ledger event.

A rung made slower, a pager pointed elsewhere or a reader's silence allowed
longer are exactly the quiet changes that let a gap go unnoticed; an auditor
must see who made them and from what to what. A channel's signing secret is
never written: only a short fingerprint, so that a change of it still shows.
"""

import hashlib

from django.db import transaction
from django.forms.models import model_to_dict

from alerts.models import AlertPolicy, EscalationLevel, NotificationChannel
from custody.services.ledger import ledger_append, ledger_append_changes

# The ledger's name for each setting (its events are ``<name>.created`` / ``.changed``).
RECORDED = {
    EscalationLevel: "escalation_level",
    NotificationChannel: "notification_channel",
    AlertPolicy: "alert_policy",
}
SECRET_FIELDS = frozenset({"secret"})


def setting_values(setting) -> dict:
    """What the ledger keeps of a setting: every field, secrets as fingerprints."""
    values = model_to_dict(setting)
    for name in SECRET_FIELDS.intersection(values):
        secret = values[name]
        values[name] = (
            f"sha256:{hashlib.sha256(secret.encode()).hexdigest()[:12]}" if secret else ""
        )
    return values


@transaction.atomic
def alert_setting_save(*, setting, by):
    """Saves ``setting`` (new or edited) and records it in its facility's ledger."""
    name = RECORDED[type(setting)]
    if isinstance(setting, NotificationChannel):
        setting.clean()  # the webhook rules hold whoever saves, not only the admin form
    stored = type(setting).objects.filter(pk=setting.pk).first() if setting.pk else None
    before = setting_values(stored) if stored is not None else None
    setting.save()
    after = setting_values(setting)
    subject = f"{name}:{setting.pk}"
    if before is None:
        ledger_append(
            facility=setting.facility,
            actor=by,
            action=f"{name}.created",
            subject=subject,
            data={"values": after},
        )
    else:
        ledger_append_changes(
            facility=setting.facility,
            actor=by,
            action=f"{name}.changed",
            subject=subject,
            before=before,
            after=after,
        )
    return setting
