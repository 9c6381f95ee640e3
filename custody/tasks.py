"""Periodic upkeep of the custody record (Celery beat runs these)."""

import logging

from celery import shared_task

from custody import selectors, services
from custody.services import ledger_jobs
from custody.services.partitions import checkin_partitions_ensure

logger = logging.getLogger(__name__)


@shared_task(name="custody.checkin_partitions_ensure")
def ensure_checkin_partitions() -> int:
    return checkin_partitions_ensure()


@shared_task(name="custody.ledgers_verify")
def verify_ledgers() -> list[str]:
    """Recomputes every facility's chain; a broken one is logged as an error
    and returned by code. Beat runs ``alerts.ledgers_verify`` instead, which
    also checks the witness and opens a ``ledger_broken`` alert."""
    broken = []
    # Every chain, the national one (accounts with no facility) included.
    for facility in selectors.ledger_chain_owners():
        result = services.ledger_verify(facility=facility)
        if not result.ok:
            broken.append(facility.code)
            logger.error(
                "custody ledger of %s is broken at seq %s: %s",
                facility.code,
                result.first_bad_seq,
                result.problem,
            )
    return broken


@shared_task(name="custody.ledger_job_run")
def run_ledger_job(job_id: int) -> str | None:
    job = ledger_jobs.ledger_job_run(job_id=job_id)
    return job.status if job else None


@shared_task(name="custody.ledger_jobs_sweep")
def sweep_ledger_jobs() -> int:
    return ledger_jobs.ledger_jobs_sweep()


@shared_task(name="custody.demo_readers")
def demo_readers() -> dict:
    """Only scheduled when ``DEMO_READERS`` is on (``make run``)."""
    from custody.demo import demo_readers_tick

    return demo_readers_tick()


@shared_task(name="custody.changes_expire")
def expire_changes() -> int:
    """Pending changes nobody decided on in time (``services.changes.PENDING_FOR``)."""
    from custody.services.changes import changes_expire

    return changes_expire()
