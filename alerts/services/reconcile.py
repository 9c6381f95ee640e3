"""One reconciliation pass over one facility: open what the rules find,
close what the world fixed, climb the ladder for what nobody owns or what
its owner did not resolve in time.

One transaction per pass, so a worker killed mid-pass leaves nothing half
done; the next pass does it all. Two passes at once for one facility: the
second sees the state row locked and skips; and if it did not, the partial
unique index on ``dedup_key`` would still refuse a second open alert.
"""

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation

from alerts import rules
from alerts.models import (
    SEVERITY_OF,
    SEVERITY_RANK,
    UNRESOLVED,
    Alert,
    AlertStatus,
    ReconcilerState,
)
from alerts.rules_identity import IdentityUnverified
from alerts.rules_reception import Uncelled
from alerts.rules_rounds import ROUND_RULES
from alerts.rules_unit_silent import UnitSilent
from alerts.services.escalation import (
    escalate_demanded,
    escalate_due,
    first_escalation_at,
)
from alerts.services.notify import Step, notifications_create, notify_resolved
from alerts.services.policy import alert_policy, escalation_ladder, realert_after, rung_at_least
from alerts.services.recording import record_alert_events
from alerts.services.unit_silence import link_to_unit_silence
from custody.models import Facility
from custody.services.internal_movements import internal_pair_due

logger = logging.getLogger(__name__)

# A check-in's transaction commits a moment after its ``received_at``; new
# check-ins are read up to this far behind now so none is skipped.
CHECKIN_SETTLE = timedelta(seconds=5)
# The first pass of a facility looks this far back for new check-ins.
FIRST_LOOK_BACK = timedelta(minutes=10)
# Count deadlines and submissions are read from the previous pass on, with
# this overlap: a submission commits a moment after its ``submitted_at``.
COUNT_SETTLE = timedelta(seconds=60)
FIRST_COUNT_LOOK_BACK = timedelta(hours=1)
# Rules kept in modules of their own (alerts.rules is long enough).
EVIDENCE_RULES = (IdentityUnverified(), UnitSilent(), Uncelled(), *ROUND_RULES)


@dataclass
class PassReport:
    facility: str
    skipped: bool = False
    opened: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)
    escalated: list[int] = field(default_factory=list)
    # Internal movements paired by this pass's catch-up (the pairing report).
    paired: int = 0
    seconds: float = 0.0


class _NoState(Exception):
    """The facility has never been reconciled: its state row must exist first."""


def _lock_state(facility: Facility) -> ReconcilerState | None:
    """The facility's state row, locked; None while another pass holds it."""
    # The facility's alert policy comes along (one query, not two); only the
    # state row is locked.
    state = (
        ReconcilerState.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("facility__alert_policy")
        .filter(facility=facility)
        .first()
    )
    if state is None and not ReconcilerState.objects.filter(facility=facility).exists():
        raise _NoState
    return state


def reconcile_facility(*, facility: Facility, now: datetime | None = None) -> PassReport:
    """Evaluates every rule for ``facility`` at ``now``; skips (and says so)
    while another pass of the same facility runs."""
    try:
        return _pass(facility, now)
    except _NoState:
        # Created in its own transaction, so a concurrent first pass finds
        # it locked and skips instead of waiting on an uncommitted insert.
        ReconcilerState.objects.get_or_create(facility=facility)
        return _pass(facility, now)


def _pass(facility: Facility, now: datetime | None) -> PassReport:
    started = time.perf_counter()
    now = now or timezone.now()
    report = PassReport(facility=facility.code)
    with transaction.atomic(), translation.override(settings.LANGUAGE_CODE):
        state = _lock_state(facility)
        if state is None:  # another pass of this facility is running right now
            report.skipped = True
            return report
        context = _context(facility, state, now)
        unresolved = list(
            Alert.objects.select_for_update(of=("self",))
            .select_related("facility", "inmate", "location", "acknowledged_by")
            .filter(facility=facility, status__in=UNRESOLVED)
            .order_by("id")
        )
        # Returns observed but not paired at ingestion are paired before the
        # rules read, so unpaired_movement never fires for someone already
        # seen back. After the alerts' locks, as every writer takes them
        # before the ledger head (which the pairing appends to).
        report.paired = internal_pair_due(facility=facility, now=now)
        findings, clearances = _evaluate(context, unresolved)
        opened = _open(facility, findings, unresolved, now)
        resolved = _auto_resolve(unresolved, clearances, now)
        still_open = [a for a in unresolved if a.status != AlertStatus.RESOLVED]
        link_to_unit_silence(context=context, alerts=still_open + opened)
        demanded = escalate_demanded(
            facility=facility,
            unresolved=still_open,
            rungs={f.dedup_key: f.min_rung for f in findings if f.min_rung},
            now=now,
        )
        clock = escalate_due(
            facility=facility, unresolved=[a for a in still_open if a not in demanded], now=now
        )
        escalated = demanded + clock.climbed
        notifications_create(
            steps=[Step(a, "opened", a.escalation_level) for a in opened]
            + [Step(a, "escalated", a.escalation_level) for a in demanded]
            + clock.steps,
            now=now,
        )
        notify_resolved(alerts=resolved, now=now)
        record_alert_events(
            facility=facility,
            opened=opened,
            resolved=resolved,
            escalated=escalated,
            repeated=clock.repeated,
        )
        state.last_pass_at = now
        state.checkins_read_until = context.checkins_until
        state.last_pass_ms = (time.perf_counter() - started) * 1000
        state.save()
    report.opened = [a.pk for a in opened]
    report.resolved = [a.pk for a in resolved]
    report.escalated = [a.pk for a in escalated]
    report.seconds = time.perf_counter() - started
    return report


def _context(facility: Facility, state: ReconcilerState, now: datetime) -> rules.PassContext:
    policy = alert_policy(state.facility)
    until = now - CHECKIN_SETTLE
    since = state.checkins_read_until or (now - FIRST_LOOK_BACK)
    return rules.PassContext(
        facility=facility,
        now=now,
        grace=timedelta(seconds=facility.grace_seconds),
        movement_grace=timedelta(seconds=policy.movement_grace_seconds),
        device_silence=timedelta(seconds=policy.device_offline_after_seconds),
        travel_between_units=timedelta(seconds=policy.travel_between_units_seconds),
        last_pass_at=state.last_pass_at,
        checkins_since=min(since, until),
        checkins_until=until,
        counts_since=(state.last_pass_at or now - FIRST_COUNT_LOOK_BACK) - COUNT_SETTLE,
        identity_watch_since=state.identity_watch_since,
        round_grace=timedelta(seconds=facility.round_grace_seconds),
        round_seconds_per_cell=timedelta(seconds=policy.round_seconds_per_cell),
    )


def _evaluate(context, unresolved: list[Alert]):
    findings, clearances = [], {}
    for rule in (*rules.RULES, *EVIDENCE_RULES):
        findings.extend(rule.find(context))
        clearances.update(rule.cleared(context, [a for a in unresolved if a.kind == rule.kind]))
    return findings, clearances


def _open(facility: Facility, findings, unresolved: list[Alert], now: datetime) -> list[Alert]:
    taken = {alert.dedup_key for alert in unresolved}
    candidates = {f.dedup_key: f for f in findings if f.dedup_key not in taken}
    if not candidates:
        return []
    silenced = _recently_resolved_by_hand(facility, candidates, now)
    ladder = escalation_ladder(facility)
    rows = [
        alert_build(facility=facility, finding=f, ladder=ladder, now=now)
        for key, f in candidates.items()
        if key not in silenced
    ]
    return alerts_insert_new(facility=facility, rows=rows, now=now)


def alert_build(*, facility: Facility, finding: rules.Finding, ladder, now: datetime) -> Alert:
    """An unsaved alert for ``finding``, on the first rung of ``ladder`` (or
    higher, where the finding demands it)."""
    rung = rung_at_least(ladder, finding.min_rung)
    severity = finding.severity or SEVERITY_OF[finding.kind]
    return Alert(
        facility=facility,
        kind=finding.kind,
        severity=severity,
        severity_rank=SEVERITY_RANK[severity],
        dedup_key=finding.dedup_key,
        inmate_id=finding.inmate_id,
        location_id=finding.location_id,
        device_id=finding.device_id,
        movement_id=finding.movement_id,
        due_at=finding.due_at,
        details=finding.details,
        opened_at=now,
        escalation_level=rung.level if rung else ladder[0].level,
        next_escalation_at=first_escalation_at((rung,) if rung else ladder, now),
    )


def alerts_insert_new(*, facility: Facility, rows: list[Alert], now: datetime) -> list[Alert]:
    """Inserts ``rows`` and returns those that opened: the partial unique
    index is the last word when two passes race, so a key already open is
    skipped, never doubled."""
    if not rows:
        return []
    Alert.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    return list(
        Alert.objects.filter(
            facility=facility, opened_at=now, dedup_key__in=[r.dedup_key for r in rows]
        ).select_related("facility", "inmate", "location")
    )


def _recently_resolved_by_hand(facility: Facility, candidates: dict, now: datetime) -> set[str]:
    """Keys a person resolved lately for the same occurrence (same deadline
    or earlier): not reopened at once, but after ``realert_after``."""
    silenced = set()
    for key, due_at in Alert.objects.filter(
        facility=facility,
        status=AlertStatus.RESOLVED,
        resolved_by__isnull=False,
        dedup_key__in=list(candidates),
        resolved_at__gt=now - realert_after(),
    ).values_list("dedup_key", "due_at"):
        finding = candidates[key]
        if due_at is None or finding.due_at is None or finding.due_at <= due_at:
            silenced.add(key)
    return silenced


def _auto_resolve(unresolved: list[Alert], clearances: dict, now: datetime) -> list[Alert]:
    resolved = []
    for alert in unresolved:
        clearance = clearances.get(alert.pk)
        if clearance is None:
            continue
        alert.status = AlertStatus.RESOLVED
        alert.resolved_at = now
        alert.resolution = str(clearance.resolution)
        alert.resolved_by_observation = clearance.observation
        alert.next_escalation_at = None
        resolved.append(alert)
    Alert.objects.bulk_update(
        resolved,
        ["status", "resolved_at", "resolution", "resolved_by_observation", "next_escalation_at"],
        batch_size=500,
    )
    return resolved
