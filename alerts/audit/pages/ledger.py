"""The ledger's integrity: the head, a verification on demand, the chain to take away.

Verifying only reads, so it is a GET: auditors, who never write, can run it.
"""

from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.urls import path
from django.views.decorators.http import require_GET

from alerts.audit.access import ledger_page
from alerts.audit.ledger_chain import chain_csv_lines
from custody import selectors, services


@require_GET
@ledger_page
def ledger_integrity(request, facility):
    head_seq, head_hash = selectors.ledger_head(facility=facility)
    verification = broken_link = None
    if request.GET.get("verify"):
        verification = services.ledger_verify(facility=facility)
        if verification.first_bad_seq is not None:
            broken_link = selectors.ledger_around(facility=facility, seq=verification.first_bad_seq)
    return render(
        request,
        "audit/ledger.html",
        {
            "facility": facility,
            "head_seq": head_seq,
            "head_hash": head_hash,
            "verification": verification,
            "broken_link": broken_link,
            "recent": selectors.ledger_recent(facility=facility),
        },
    )


@require_GET
@ledger_page
def ledger_chain_export(request, facility):
    """Every event up to the head as it stands now; the export itself is the
    next event, naming who took the chain and up to which link."""
    head_seq, head_hash = selectors.ledger_head(facility=facility)
    services.ledger_append(
        facility=facility,
        actor=request.user,
        action="export.created",
        subject=f"facility:{facility.code}",
        data={"kind": "ledger_chain", "format": "csv", "up_to_seq": head_seq, "head": head_hash},
    )
    response = StreamingHttpResponse(
        chain_csv_lines(facility=facility, up_to_seq=head_seq), content_type="text/csv"
    )
    response["Content-Disposition"] = (
        f'attachment; filename="ledger-{facility.code}-1-{head_seq}.csv"'
    )
    return response


urlpatterns = [
    path("", ledger_integrity, name="audit-ledger"),
    path("chain.csv", ledger_chain_export, name="audit-ledger-chain"),
]
