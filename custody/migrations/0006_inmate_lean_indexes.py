"""Cheaper check-in batches: each rewrites hundreds of inmate rows, and such
updates are never HOT (next_due_at is indexed), so every index and every dead
row version on custody_inmate costs on the ingestion path."""

import django.db.models.deletion
from django.db import migrations, models

TUNED = (
    "autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.05, fillfactor = 85"
)


def vacuum_inmates_early(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE custody_inmate SET ({TUNED})", params=None)


def vacuum_inmates_by_default(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "ALTER TABLE custody_inmate RESET (autovacuum_vacuum_scale_factor, "
            "autovacuum_analyze_scale_factor, fillfactor)",
            params=None,
        )


class Migration(migrations.Migration):
    dependencies = [
        ("custody", "0005_movement_system_admissions"),
    ]

    operations = [
        # inmate_facility_status (facility_id, status) already serves lookups by facility.
        migrations.AlterField(
            model_name="inmate",
            name="facility",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="inmates",
                to="custody.facility",
                verbose_name="facility",
            ),
        ),
        migrations.RunPython(vacuum_inmates_early, vacuum_inmates_by_default),
    ]
