"""0008 altered custody_ledgerevent; SQLite rebuilt the table without its
append-only triggers. Put them back (nothing to do on PostgreSQL)."""

from django.db import migrations

from custody.migrations import _checkin_table as checkin_table


class Migration(migrations.Migration):
    dependencies = [("custody", "0008_lean_indexes")]

    operations = [
        migrations.RunPython(
            checkin_table.reinstall_sqlite_append_only, migrations.RunPython.noop, elidable=False
        ),
    ]
