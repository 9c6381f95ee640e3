"""Rejects that were kept under no facility become visible.

Before, a scan rejected from a person assigned to several facilities (an
unknown booking number, a malformed item) was quarantined with no facility,
so no supervisor or auditor could list it. Each such row gets a copy under
every facility its sender is assigned to, as new rejects are kept now
(custody.services.checkins). The original stays: the table is append-only.
"""

import hashlib

from django.db import migrations


def copy_under_the_senders_facilities(apps, schema_editor):
    QuarantinedCheckIn = apps.get_model("custody", "QuarantinedCheckIn")
    User = apps.get_model("custody", "User")
    lost = QuarantinedCheckIn.objects.filter(facility__isnull=True, submitted_by__isnull=False)
    facilities: dict[int, list[int]] = {}
    copies = []
    for row in lost.iterator(chunk_size=1000):
        if row.submitted_by_id not in facilities:
            facilities[row.submitted_by_id] = list(
                User.objects.get(pk=row.submitted_by_id).facilities.values_list("pk", flat=True)
            )
        for facility_id in facilities[row.submitted_by_id]:
            copies.append(
                QuarantinedCheckIn(
                    received_at=row.received_at,
                    facility_id=facility_id,
                    device_id=row.device_id,
                    submitted_by_id=row.submitted_by_id,
                    item_id=row.item_id,
                    reason=row.reason,
                    errors=row.errors,
                    raw=row.raw,
                    fingerprint=hashlib.sha256(
                        f"{row.fingerprint}|facility:{facility_id}".encode()
                    ).hexdigest(),
                )
            )
    QuarantinedCheckIn.objects.bulk_create(copies, batch_size=1000, ignore_conflicts=True)


class Migration(migrations.Migration):
    dependencies = [
        ("custody", "0017_partitions_made_as_owner"),
    ]

    operations = [
        migrations.RunPython(copy_under_the_senders_facilities, migrations.RunPython.noop),
    ]
