"""Alerts unresolved when the clock arrived had none: acknowledged ones were
never to climb again, and open ones at the top were never told again. Start
it: an owned alert gets the default resolve time of its severity from when it
was acknowledged (so one long sat on climbs at the next pass, naming its
owner), and an open one with no deadline is due at once (the top rung hears
again at the next pass)."""

from datetime import timedelta

from django.db import migrations
from django.db.models import F

# alerts.services.policy.DEFAULT_RESOLVE_WITHIN as it stood when this ran.
RESOLVE_WITHIN = {
    "critical": timedelta(minutes=30),
    "high": timedelta(minutes=30),
    "medium": timedelta(hours=4),
    "low": timedelta(hours=4),
}


def start_clocks(apps, schema_editor):
    Alert = apps.get_model("alerts", "Alert")
    waiting = Alert.objects.filter(status__in=("open", "acknowledged"), next_escalation_at=None)
    owned = []
    for alert in waiting.filter(status="acknowledged").iterator():
        alert.acknowledged_level = alert.escalation_level
        alert.resolve_by = alert.acknowledged_at + RESOLVE_WITHIN[alert.severity]
        alert.next_escalation_at = alert.resolve_by
        owned.append(alert)
    Alert.objects.bulk_update(
        owned, ["acknowledged_level", "resolve_by", "next_escalation_at"], batch_size=500
    )
    waiting.filter(status="open").update(next_escalation_at=F("opened_at"))


class Migration(migrations.Migration):
    dependencies = [("alerts", "0008_alert_clock_after_acknowledgement")]

    operations = [migrations.RunPython(start_clocks, migrations.RunPython.noop)]
