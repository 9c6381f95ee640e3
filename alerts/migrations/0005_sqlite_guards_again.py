"""0003 altered alerts_alert and alerts_notification; SQLite rebuilt them
without their guarding triggers. Put them back (nothing to do on PostgreSQL)."""

from django.db import migrations

from alerts.migrations._guards import reinstall_sqlite


class Migration(migrations.Migration):
    dependencies = [("alerts", "0004_channel_unit")]

    operations = [migrations.RunPython(reinstall_sqlite, migrations.RunPython.noop)]
