"""A broken ledger chain is an alert, not a log line (invariants 4 and 11).

Custody verifies and witnesses its chains; this module turns each break into
one critical ``ledger_broken`` alert per facility, which climbs the ladder and
notifies like any other. It never closes by itself: a chain does not mend, a
person writes down what was found.
"""

import logging
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation

from alerts.models import Alert, AlertKind, AlertStatus
from alerts.rules import Finding
from alerts.services.notify import Step, notifications_create
from alerts.services.policy import escalation_ladder, realert_after
from alerts.services.reconcile import alert_build, alerts_insert_new
from alerts.services.recording import record_alert_events
from alerts.services.witness_delivery import witness_deliver_due, witness_deliveries_create
from custody.models import Facility
from custody.services.ledger import LedgerVerification
from custody.services.witness import (
    WitnessKeyError,
    ledger_heads_witness,
    ledger_verify_witnessed,
)

logger = logging.getLogger(__name__)


def ledger_broken_open(
    *, facility: Facility, verification: LedgerVerification, now: datetime | None = None
) -> Alert | None:
    """Opens the facility's ``ledger_broken`` alert (one open per facility);
    None when it is open already, or a person resolved this same break less
    than ``ALERT_REALERT_AFTER_SECONDS`` ago (a different break opens at once)."""
    now = now or timezone.now()
    details = {
        "first_bad_seq": verification.first_bad_seq,
        "witnessed_seq": verification.witnessed_seq,
        "problem": str(verification.problem)
        or "witness lines refused (bad signature or unknown key)",
        "good_events": verification.events,
        "untrusted_witness_lines": verification.untrusted_lines,
    }
    finding = Finding(
        kind=AlertKind.LEDGER_BROKEN,
        subject=f"facility:{facility.pk}",
        due_at=None,
        details=details,
    )
    with transaction.atomic(), translation.override(settings.LANGUAGE_CODE):
        if _same_break_resolved_lately(finding, now):
            return None
        ladder = escalation_ladder(facility)
        opened = alerts_insert_new(
            facility=facility,
            rows=[alert_build(facility=facility, finding=finding, ladder=ladder, now=now)],
            now=now,
        )
        if not opened:
            return None
        alert = opened[0]
        notifications_create(steps=[Step(alert, "opened", alert.escalation_level)], now=now)
        record_alert_events(facility=facility, opened=[alert])
    logger.error(
        "custody ledger of %s is broken at seq %s: %s (alert %s)",
        facility.code,
        verification.first_bad_seq,
        verification.problem,
        alert.pk,
    )
    return alert


def on_ledger_found_broken(sender, *, facility, verification, **kwargs) -> None:
    """A verification asked for by a person (the API, the auditor's page)
    found the break: the same alert as the scheduled runs'."""
    ledger_broken_open(facility=facility, verification=verification)


def _same_break_resolved_lately(finding: Finding, now: datetime) -> bool:
    last = (
        Alert.objects.filter(
            dedup_key=finding.dedup_key,
            status=AlertStatus.RESOLVED,
            resolved_by__isnull=False,
            resolved_at__gt=now - realert_after(),
        )
        .order_by("-resolved_at")
        .values_list("details", flat=True)
        .first()
    )
    return last is not None and last.get("first_bad_seq") == finding.details["first_bad_seq"]


def ledgers_verify_all() -> list[str]:
    """Verifies every facility's chain against its witness; opens an alert for
    each broken one and returns their codes."""
    broken = []
    # Every chain, the national one (accounts with no facility) included.
    for facility in list(Facility.chain_owners.order_by("code")):
        try:
            result = ledger_verify_witnessed(facility=facility)
        except Exception:  # the next facility is still verified; the log pages
            logger.exception("could not verify the ledger of %s", facility.code)
            continue
        if not result.ok or result.untrusted_lines:
            broken.append(facility.code)
            ledger_broken_open(facility=facility, verification=result)
    return broken


def ledgers_witness_run() -> dict:
    """Signs every chain head into the witness and sends the new lines to the
    facilities' witness channels; a chain that no longer holds its last
    witnessed head opens its alert at once."""
    try:
        outcomes = ledger_heads_witness()
    except WitnessKeyError as exc:
        logger.error("ledger heads not witnessed, the signing key is unusable: %s", exc)
        return {"witnessing": "key_error"}
    if outcomes is None:
        return {"witnessing": "off"}
    witness_deliveries_create(
        lines=[(o.facility.pk, o.line) for o in outcomes if o.line is not None],
        now=timezone.now(),
    )
    broken = []
    for outcome in outcomes:
        if outcome.broken is not None:
            broken.append(outcome.facility.code)
            ledger_broken_open(facility=outcome.facility, verification=outcome.broken)
    # Sent from here: the next run (a period later) retries what failed.
    witness_deliver_due()
    return {
        "witnessing": "on",
        "signed": sum(1 for o in outcomes if o.line is not None),
        "chains": len(outcomes),
        "broken": broken,
    }
