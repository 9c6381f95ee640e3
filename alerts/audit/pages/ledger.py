"""The ledger's integrity: the head, its witness, verifications and chain
exports run by a worker, their results kept and shown.

Asking for a verification or an export is a POST (CSRF-protected): it writes
a job row, and an export is itself a ledger event. Auditors may ask (they
change no custody record by it); downloading a finished export is a GET.
"""

from pathlib import Path

from django.conf import settings
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.views.decorators.http import require_GET, require_POST

from alerts.audit.access import ledger_page
from custody import selectors
from custody.models import LedgerJob, LedgerJobKind, LedgerJobStatus
from custody.services.ledger_jobs import ledger_job_request
from custody.services.witness import (
    WitnessKeyError,
    trusted_keys,
    witness_last,
    witness_path,
    witness_public_key,
)

RECENT_JOBS = 8


def _jobs_context(facility) -> dict:
    jobs = list(
        LedgerJob.objects.filter(facility=facility)
        .select_related("requested_by")
        .order_by("-created_at", "-id")[:RECENT_JOBS]
    )
    latest_verify = next((j for j in jobs if j.kind == LedgerJobKind.VERIFY), None)
    broken_link = None
    if latest_verify and (latest_verify.result or {}).get("first_bad_seq"):
        broken_link = selectors.ledger_around(
            facility=facility, seq=latest_verify.result["first_bad_seq"]
        )
    return {
        "facility": facility,
        "jobs": jobs,
        "latest_verify": latest_verify,
        "broken_link": broken_link,
        "pending": any(j.status in (LedgerJobStatus.QUEUED, LedgerJobStatus.RUNNING) for j in jobs),
    }


def _witness_context(facility) -> dict:
    """The keys the witness is checked with; web may hold only the public ones."""
    try:
        signing_key, key_error = witness_public_key(), ""
    except WitnessKeyError as exc:
        signing_key, key_error = None, str(exc)
    trusted = trusted_keys()
    last = witness_last(witness_path(facility.code), facility_code=facility.code, trusted=trusted)
    return {
        "public_key": signing_key or (sorted(trusted)[0] if len(trusted) == 1 else None),
        "public_keys": sorted(trusted),
        "key_error": key_error,
        "last_witness": last,
    }


@require_GET
@ledger_page
def ledger_integrity(request, facility):
    head_seq, head_hash = selectors.ledger_head(facility=facility)
    return render(
        request,
        "audit/ledger.html",
        {
            "head_seq": head_seq,
            "head_hash": head_hash,
            "recent": selectors.ledger_recent(facility=facility),
            **_witness_context(facility),
            **_jobs_context(facility),
        },
    )


@require_GET
@ledger_page
def ledger_jobs(request, facility):
    """The jobs panel alone: the page polls it while a job is unfinished."""
    return render(request, "audit/_ledger_jobs.html", _jobs_context(facility))


@require_POST
@ledger_page
def ledger_verify_request(request, facility):
    ledger_job_request(facility=facility, kind=LedgerJobKind.VERIFY, by=request.user)
    return redirect("audit-ledger", code=facility.code)


@require_POST
@ledger_page
def ledger_export_request(request, facility):
    """Every event up to the head as it stands now; the export itself is the
    next event, naming who took the chain and up to which link."""
    ledger_job_request(facility=facility, kind=LedgerJobKind.EXPORT, by=request.user)
    return redirect("audit-ledger", code=facility.code)


@require_GET
@ledger_page
def ledger_export_download(request, facility, job_id):
    job = get_object_or_404(
        LedgerJob,
        pk=job_id,
        facility=facility,
        kind=LedgerJobKind.EXPORT,
        status=LedgerJobStatus.DONE,
    )
    file = Path(settings.LEDGER_EXPORT_DIR) / Path(job.file_name).name
    if not job.file_name or not file.is_file():
        raise Http404
    return FileResponse(file.open("rb"), as_attachment=True, filename=file.name)


urlpatterns = [
    path("", ledger_integrity, name="audit-ledger"),
    path("jobs/", ledger_jobs, name="audit-ledger-jobs"),
    path("verify/", ledger_verify_request, name="audit-ledger-verify"),
    path("export/", ledger_export_request, name="audit-ledger-chain"),
    path("jobs/<int:job_id>/download/", ledger_export_download, name="audit-ledger-download"),
]
