"""Roll-call rosters and entries are append-only; a count only moves
forward and is never deleted (``_rollcall_guards``)."""

from django.db import migrations

from custody.migrations import _rollcall_guards


class Migration(migrations.Migration):
    dependencies = [("custody", "0010_rollcalls")]

    operations = [
        migrations.RunPython(_rollcall_guards.install, _rollcall_guards.remove, elidable=False),
    ]
