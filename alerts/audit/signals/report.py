"""The integrity report: every signal, for one facility and period.

Each signal is a fixed, small number of set-based queries (aggregated in the
database), whatever the size of the facility or the period.
"""

from alerts.audit.period import Period
from alerts.audit.signals.base import IntegrityReport, Scope
from alerts.audit.signals.clocks import device_clock_drift
from alerts.audit.signals.evidence import biometric_claims_by_persons, late_evidence
from alerts.audit.signals.made_accounts import approvals_by_made_accounts
from alerts.audit.signals.pace import counts_too_fast
from alerts.audit.signals.pairs import same_pair_approving_movements, same_pair_verifying
from alerts.audit.signals.quarantine import quarantined_scans
from alerts.audit.signals.resolutions import boilerplate_resolutions
from alerts.audit.signals.scores import low_biometric_scores
from alerts.audit.signals.sitting import resolved_near_the_limit
from alerts.audit.signals.unverified import unverified_counts
from alerts.audit.signals.visual import visual_share
from alerts.audit.signals.vouching import present_then_missing
from custody.models import Facility

# The report's order: what a count says first, then the machines, then alerts.
SIGNALS = (
    visual_share,
    biometric_claims_by_persons,
    counts_too_fast,
    present_then_missing,
    same_pair_verifying,
    same_pair_approving_movements,
    unverified_counts,
    low_biometric_scores,
    device_clock_drift,
    late_evidence,
    boilerplate_resolutions,
    resolved_near_the_limit,
    quarantined_scans,
    approvals_by_made_accounts,
)


def integrity_report(*, facility: Facility, period: Period) -> IntegrityReport:
    scope = Scope(facility=facility, period=period)
    return IntegrityReport(
        facility=facility, period=period, signals=[build(scope) for build in SIGNALS]
    )
