from django.db import migrations, models
from django.utils import timezone


def _watch_from_deploy(apps, schema_editor):
    """The facilities already reconciled start the identity watch now: a
    person not proven by biometrics in the last window gets one whole window
    from the deploy (an alert for everyone at once would be noise nobody can
    act on). Facilities reconciled for the first time after this have no
    such grace: their people's windows count from the last biometric
    observation, or admission."""
    ReconcilerState = apps.get_model("alerts", "ReconcilerState")
    ReconcilerState.objects.update(identity_watch_since=timezone.now())


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0010_reconciler_starts"),
    ]

    operations = [
        migrations.AddField(
            model_name="reconcilerstate",
            name="identity_watch_since",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(_watch_from_deploy, migrations.RunPython.noop),
    ]
