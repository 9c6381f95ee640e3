"""An alert is never deleted, and once resolved never changes; while open,
who it is about and when it opened never change either. Enforced by the
database (as the custody record's append-only triggers are), so no code path,
admin or shell can quietly close the gap it records."""

from django.db import migrations

from alerts.migrations._guards import install, remove


class Migration(migrations.Migration):
    dependencies = [("alerts", "0001_initial")]
    operations = [migrations.RunPython(install, remove)]
