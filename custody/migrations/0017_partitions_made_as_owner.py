"""Monthly check-in partitions belong to the owner role, never to the app's.

beat makes next months' partitions; under the app role (issue 14) a table it
creates would be its own, and an owner may drop the table or its append-only
triggers. The function now runs with its owner's rights (SECURITY DEFINER)
and only roles granted by ``grant_app_role`` may call it.
"""

from django.db import migrations

from custody.migrations import _checkin_table as checkin_table


class Migration(migrations.Migration):
    dependencies = [("custody", "0016_ledger_jobs")]

    operations = [
        migrations.RunPython(
            checkin_table.ensure_partitions_as_owner,
            checkin_table.ensure_partitions_as_caller,
            elidable=False,
        ),
    ]
