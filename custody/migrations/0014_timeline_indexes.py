"""Indexes of the auditor's timelines (alerts.audit, custody.selectors.occupancy).

On PostgreSQL an index on the partitioned check-in table is created on every
monthly partition, and on those made later.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("custody", "0013_device_clock_offset"),
    ]

    operations = [
        # A person's history counts their checks from the index alone.
        migrations.RemoveIndex(model_name="checkin", name="checkin_inmate_time"),
        migrations.AddIndex(
            model_name="checkin",
            index=models.Index(
                fields=["inmate", "observed_at"], name="checkin_inmate_time", include=["facility"]
            ),
        ),
        # Who was seen in a place between two times (location_occupancy).
        migrations.AddIndex(
            model_name="checkin",
            index=models.Index(fields=["location", "observed_at"], name="checkin_location_time"),
        ),
        # An officer's checks (alerts.audit.officers); readers record none.
        migrations.AddIndex(
            model_name="checkin",
            index=models.Index(
                fields=["recorded_by", "observed_at"],
                name="checkin_recorder_time",
                condition=models.Q(recorded_by__isnull=False),
            ),
        ),
        migrations.AddIndex(
            model_name="rollcallentry",
            index=models.Index(fields=["recorded_by", "observed_at"], name="entry_recorder_time"),
        ),
    ]
