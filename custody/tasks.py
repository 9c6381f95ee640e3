"""Periodic upkeep of the custody record (Celery beat runs these)."""

from celery import shared_task

from custody.services.partitions import checkin_partitions_ensure


@shared_task(name="custody.checkin_partitions_ensure")
def ensure_checkin_partitions() -> int:
    return checkin_partitions_ensure()
