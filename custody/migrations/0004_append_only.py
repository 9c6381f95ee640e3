"""Invariant 3: check-ins, quarantine and ledger refuse UPDATE, DELETE, TRUNCATE."""

from django.db import migrations

from custody.migrations import _checkin_table as checkin_table


class Migration(migrations.Migration):
    dependencies = [("custody", "0003_checkins_movements_ledger")]

    operations = [
        migrations.RunPython(
            checkin_table.install_append_only, checkin_table.remove_append_only, elidable=False
        ),
    ]
