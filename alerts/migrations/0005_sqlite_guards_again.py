"""A no-op, kept for its name: it repaired triggers on a database the project
no longer runs on (PostgreSQL alters tables in place and keeps them)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("alerts", "0004_channel_unit")]

    operations = []
