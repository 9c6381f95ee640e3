"""Thin Celery entry points: take ids, call a service."""

import logging
import os
import socket

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings

from alerts import services
from alerts.services import ledger_broken
from custody.selectors import due

logger = logging.getLogger(__name__)


@shared_task(name="alerts.reconcile_all")
def reconcile_all() -> int:
    """Fans out one pass per facility (more workers, more throughput), opens
    ``reconciler_stale`` where passes stopped, and sweeps the outbox. A pass
    not started within one period is dropped: the next tick brings a fresh one."""
    services.stale_alerts_open()
    ids = [facility.pk for facility in due.facilities_all()]
    for facility_id in ids:
        reconcile_facility.apply_async((facility_id,), expires=settings.RECONCILE_EVERY_SECONDS)
    deliver_notifications.apply_async(expires=settings.RECONCILE_EVERY_SECONDS)
    return len(ids)


@worker_ready.connect(dispatch_uid="alerts.reconcile_on_boot")
def reconcile_on_boot(**_kwargs) -> None:
    """A worker that comes up records its start, then reconciles at once
    rather than a period later (beat's first tick)."""
    services.reconciler_started(hostname=socket.gethostname(), pid=os.getpid())
    reconcile_all.apply_async(expires=settings.RECONCILE_EVERY_SECONDS)


@shared_task(name="alerts.reconcile_facility")
def reconcile_facility(facility_id: int) -> dict:
    facility = due.facility_by_id(facility_id)
    if facility is None:
        return {"skipped": True}
    report = services.reconcile_facility(facility=facility)
    if report.opened or report.escalated or report.paired:
        logger.info(
            "reconciled %s: %s opened, %s resolved, %s escalated, %s movements paired in %.0f ms",
            report.facility,
            len(report.opened),
            len(report.resolved),
            len(report.escalated),
            report.paired,
            report.seconds * 1000,
        )
    return {
        "facility": report.facility,
        "skipped": report.skipped,
        "opened": len(report.opened),
        "resolved": len(report.resolved),
        "escalated": len(report.escalated),
        "paired": report.paired,
    }


@shared_task(name="alerts.deliver_notifications")
def deliver_notifications() -> dict:
    return services.deliver_due()


@shared_task(name="alerts.ledgers_verify")
def ledgers_verify() -> list[str]:
    """Daily: every chain recomputed and checked against its witness; each
    broken one opens a critical ``ledger_broken`` alert."""
    return ledger_broken.ledgers_verify_all()


@shared_task(name="alerts.ledgers_witness")
def ledgers_witness() -> dict:
    """Every ``LEDGER_WITNESS_EVERY_SECONDS``: chain heads signed outside the
    database; a chain that lost its last witnessed head opens its alert."""
    return ledger_broken.ledgers_witness_run()
