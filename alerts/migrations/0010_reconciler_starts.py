"""Worker starts, kept: append-only like the custody record (the same
refusing trigger function), so a restart and the grace it gave stay visible."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('alerts', '0009_start_the_clock_of_owned_alerts'),
        ('custody', '0004_append_only'),
    ]

    operations = [
        migrations.CreateModel(
            name='ReconcilerStart',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('started_at', models.DateTimeField(db_index=True, verbose_name='started at')),
                ('hostname', models.CharField(blank=True, max_length=255, verbose_name='host name')),
                ('pid', models.PositiveIntegerField(blank=True, null=True, verbose_name='process id')),
            ],
            options={
                'verbose_name': 'reconciler start',
                'verbose_name_plural': 'reconciler starts',
                'ordering': ['-started_at'],
            },
        ),
        migrations.RunSQL(
            [
                "CREATE TRIGGER custody_append_only BEFORE UPDATE OR DELETE ON alerts_reconcilerstart "
                "FOR EACH ROW EXECUTE FUNCTION custody_refuse_change()",
                "CREATE TRIGGER custody_append_only_truncate BEFORE TRUNCATE ON alerts_reconcilerstart "
                "FOR EACH STATEMENT EXECUTE FUNCTION custody_refuse_change()",
            ],
            [
                "DROP TRIGGER IF EXISTS custody_append_only ON alerts_reconcilerstart",
                "DROP TRIGGER IF EXISTS custody_append_only_truncate ON alerts_reconcilerstart",
            ],
        ),
    ]
