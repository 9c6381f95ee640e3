import django.db.models.functions.comparison
from django.db import migrations, models
from django.db.models import OuterRef, Subquery

# Frozen here (CheckInMethod.identity() today): rfid, visual and manual never prove identity.
IDENTITY_METHODS = ("fingerprint", "face", "iris")


def _backfill_from_checkins(apps, schema_editor):
    """Each person's last biometric check-in, as ingestion would have kept it:
    the column only ever holds a real fingerprint, face or iris observation
    (people with none stay null). The deploy's grace is the reconciler's
    ``identity_watch_since`` (alerts 0008), not a made-up verification here.
    One statement; per person a backward walk of ``checkin_inmate_time`` that
    stops at the first such row."""
    Inmate = apps.get_model("custody", "Inmate")
    CheckIn = apps.get_model("custody", "CheckIn")
    latest = (
        CheckIn.objects.filter(inmate=OuterRef("pk"), method__in=IDENTITY_METHODS)
        .order_by("-observed_at")
        .values("observed_at")[:1]
    )
    Inmate.objects.update(identity_verified_at=Subquery(latest))


class Migration(migrations.Migration):
    dependencies = [
        ("custody", "0023_two_officer_departures_and_extensions"),
    ]

    operations = [
        migrations.AddField(
            model_name="inmate",
            name="identity_verified_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="identity verified at"),
        ),
        # Before the index, so the backfill does not maintain it row by row.
        migrations.RunPython(_backfill_from_checkins, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name="inmate",
            index=models.Index(
                models.F("facility"),
                django.db.models.functions.comparison.Coalesce(
                    "identity_verified_at", "admitted_at"
                ),
                condition=models.Q(("status", "in_custody")),
                name="inmate_identity_due",
            ),
        ),
    ]
