"""Heavy ledger reads kept off the web workers.

A whole chain is minutes of reading at national scale. The API's verification
runs at most once per facility at a time (a PostgreSQL advisory lock; whoever
waited takes the result of the run that finished meanwhile), and the page's
"verify now" and chain export are jobs: the request writes a row and enqueues
it on commit, a worker runs it, the row keeps the result for the page.
"""

import logging
import re
import time
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime, timedelta

from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone, translation

from custody.models import (
    GENESIS_HASH,
    Facility,
    LedgerHead,
    LedgerJob,
    LedgerJobKind,
    LedgerJobStatus,
)
from custody.services.ledger import LedgerVerification, ledger_append
from custody.services.ledger_export import ledger_export_write
from custody.services.witness import ledger_verify_witnessed
from custody.signals import ledger_found_broken

logger = logging.getLogger(__name__)

# pg_advisory_lock(key1, key2): key1 names this use, key2 is the facility.
VERIFY_LOCK_SPACE = 0x1ED6E2
# Long enough for every request that waited on a run to read its result.
SHARED_RESULT_SECONDS = 120
# A job still queued after this was lost by the broker: enqueued again.
QUEUED_TOO_LONG = timedelta(minutes=2)
# A job running longer than this lost its worker (acks_late redelivers too).
RUNNING_TOO_LONG = timedelta(hours=2)


@contextmanager
def _verification_lock(facility_id: int):
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s, %s)", [VERIFY_LOCK_SPACE, facility_id])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [VERIFY_LOCK_SPACE, facility_id])


def _shared_key(facility_id: int) -> str:
    # The database's name too: deployments (and test workers) may share Redis.
    return f"ledger-verify:{connection.settings_dict['NAME']}:{facility_id}"


def ledger_verify_shared(*, facility: Facility) -> LedgerVerification:
    """``ledger_verify_witnessed``, one run per facility at a time: a request
    that arrives while a run is going waits for it and shares its result
    rather than reading the whole chain again. ``problem`` is the untranslated
    message: the reader translates it (``gettext``). A break found sends
    ``ledger_found_broken`` (the alerts app opens its alert)."""
    asked_at = time.time()
    with _verification_lock(facility.pk):
        shared = cache.get(_shared_key(facility.pk))
        if shared and shared["finished_at"] >= asked_at:
            return LedgerVerification(**shared["result"])
        # Problems kept untranslated (msgids): whoever reads them translates.
        with translation.override(None):
            result = ledger_verify_witnessed(facility=facility)
        cache.set(
            _shared_key(facility.pk),
            {"finished_at": time.time(), "result": asdict(result)},
            SHARED_RESULT_SECONDS,
        )
    if not result.ok or result.untrusted_lines:
        # Whoever asked, a break found is an alert (alerts listens), not a page.
        for receiver, error in ledger_found_broken.send_robust(
            sender=LedgerVerification, facility=facility, verification=result
        ):
            if isinstance(error, Exception):
                logger.error("ledger_found_broken receiver %s failed: %s", receiver, error)
    return result


def ledger_job_request(*, facility: Facility, kind: str, by) -> LedgerJob:
    """Records the job and enqueues it once committed. An export is itself on
    the record at once (``export.created``: who took the chain, up to which
    link), in the same transaction as the job."""
    with transaction.atomic():
        up_to_seq = None
        if kind == LedgerJobKind.EXPORT:
            head = (
                LedgerHead.objects.select_for_update()
                .filter(pk=facility.pk)
                .values_list("seq", "hash")
                .first()
            ) or (0, GENESIS_HASH)
            up_to_seq = head[0]
            ledger_append(
                facility=facility,
                actor=by,
                action="export.created",
                subject=f"facility:{facility.code}",
                data={
                    "kind": "ledger_chain",
                    "format": "zip",
                    "up_to_seq": head[0],
                    "head": head[1],
                },
            )
        job = LedgerJob.objects.create(
            kind=kind, facility=facility, requested_by=by, up_to_seq=up_to_seq
        )
        transaction.on_commit(lambda: ledger_job_enqueue(job.pk))
    return job


def ledger_job_enqueue(job_id: int) -> None:
    """Wakes a worker; if the broker is down the sweep enqueues it later."""
    from custody.tasks import run_ledger_job

    try:
        run_ledger_job.apply_async((job_id,))
    except Exception as exc:  # the row is the truth; the sweep retries
        logger.warning("could not enqueue ledger job %s: %s", job_id, exc)


def ledger_job_run(*, job_id: int, now: datetime | None = None) -> LedgerJob | None:
    """Runs a queued job once: claimed by a conditional update, so two workers
    handed the same job (a redelivery, the sweep) never both run it."""
    now = now or timezone.now()
    claimed = LedgerJob.objects.filter(pk=job_id, status=LedgerJobStatus.QUEUED).update(
        status=LedgerJobStatus.RUNNING, started_at=now
    )
    if not claimed:
        return None
    job = LedgerJob.objects.select_related("facility").get(pk=job_id)
    try:
        if job.kind == LedgerJobKind.VERIFY:
            job.result = asdict(ledger_verify_shared(facility=job.facility))
        else:
            code = re.sub(r"[^A-Za-z0-9._-]", "_", job.facility.code)  # a file name
            job.file_name = f"ledger-{code}-1-{job.up_to_seq}-{job.pk}.zip"
            ledger_export_write(facility=job.facility, up_to_seq=job.up_to_seq, name=job.file_name)
            job.result = {"up_to_seq": job.up_to_seq}
        job.status = LedgerJobStatus.DONE
    except Exception as exc:
        logger.exception("ledger job %s failed", job_id)
        job.status, job.result = LedgerJobStatus.FAILED, {"error": str(exc)[:500]}
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "result", "file_name", "finished_at"])
    return job


def ledger_jobs_sweep(*, now: datetime | None = None) -> int:
    """Enqueues again the jobs the broker lost or whose worker died."""
    now = now or timezone.now()
    LedgerJob.objects.filter(
        status=LedgerJobStatus.RUNNING, started_at__lt=now - RUNNING_TOO_LONG
    ).update(status=LedgerJobStatus.QUEUED)
    ids = list(
        LedgerJob.objects.filter(
            status=LedgerJobStatus.QUEUED, created_at__lt=now - QUEUED_TOO_LONG
        ).values_list("pk", flat=True)
    )
    for job_id in ids:
        ledger_job_enqueue(job_id)
    return len(ids)
