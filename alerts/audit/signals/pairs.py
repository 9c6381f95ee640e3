"""Same pair vouching: two officers who check each other's work.

A formal count needs a second officer's word, and so does every departure
from custody (invariant 7). When the second officer is nearly always the
same colleague, the check is a habit between friends. Either direction
counts: A checking B's and B checking A's.
"""

from collections import defaultdict

from django.db.models import Count, Max, Min
from django.utils.translation import gettext as _

from alerts.audit.signals import links
from alerts.audit.signals.base import NUMBER, TIME, Column, Link, Row, Scope, Signal, threshold
from custody.models import DEPARTURE_KINDS, CountKind, Movement, RollCall

PAIR_MIN_COUNTS = 5  # fires from this many counts verified within one pair...
PAIR_MIN_SHARE = 0.6  # ...that are at least this share of all the two verified


def _pairs_found(checks, min_counts: int, min_share: float) -> list:
    """From (maker, checker, n, first, last) rows: the pairs who checked each
    other at least ``min_counts`` times, that being at least ``min_share`` of
    all the checks the two gave; most checks first."""
    given = defaultdict(int)  # checker -> checks they gave
    pairs = {}  # (a, b), a < b -> tallies
    for maker, checker, counts, first, last in checks:
        given[checker] += counts
        a, b = sorted((maker, checker))
        pair = pairs.setdefault(
            (a, b), {"counts": 0, "a_verified": 0, "first": first, "last": last}
        )
        pair["counts"] += counts
        if checker == a:
            pair["a_verified"] += counts
        pair["first"], pair["last"] = min(pair["first"], first), max(pair["last"], last)
    found = []
    for (a, b), pair in pairs.items():
        share = pair["counts"] / (given[a] + given[b])
        if pair["counts"] >= min_counts and share >= min_share:
            found.append((a, b, pair, share))
    found.sort(key=lambda item: (-item[2]["counts"], item[0], item[1]))
    return found


def _pair_row(scope: Scope, a, b, pair, share, records: Link) -> Row:
    return Row(
        [
            a,
            b,
            pair["counts"],
            pair["a_verified"],
            pair["counts"] - pair["a_verified"],
            round(100 * share, 1),
            scope.local(pair["first"]),
            scope.local(pair["last"]),
        ],
        [links.officer(scope, a), links.officer(scope, b), records],
    )


def same_pair_verifying(scope: Scope) -> Signal:
    min_counts = threshold("PAIR_MIN_COUNTS", PAIR_MIN_COUNTS)
    min_share = threshold("PAIR_MIN_SHARE", PAIR_MIN_SHARE)
    found = _pairs_found(_verifications(scope), min_counts, min_share)
    formal_counts = Link(
        _("formal counts of the period"),
        links.api_path(
            "rollcalls/",
            facility=scope.code,
            kind=CountKind.FORMAL,
            status="verified",
            started_after=scope.iso(scope.since),
            started_before=scope.iso(scope.until, up=True),
        ),
    )
    rows = [_pair_row(scope, *item, formal_counts) for item in found]
    return Signal(
        key="same_pair_verifying",
        title=_("The same two officers verifying each other"),
        explanation=_(
            "Formal counts verified in the period, per pair of officers (one submitted, the "
            "other verified, either way round). Fires when a pair verified at least "
            "%(counts)s counts together and they are at least %(share)s%% of all the "
            "verifications the two gave."
        )
        % {"counts": min_counts, "share": round(min_share * 100)},
        fired=bool(rows),
        columns=[
            Column("officer_a", _("Officer")),
            Column("officer_b", _("Other officer")),
            Column("counts", _("Counts verified in the pair"), NUMBER),
            Column("a_verified", _("Verified by the first"), NUMBER),
            Column("b_verified", _("Verified by the other"), NUMBER),
            Column("share_percent", _("Share of their verifications %"), NUMBER),
            Column("first", _("First"), TIME),
            Column("last", _("Last"), TIME),
        ],
        rows=rows,
        thresholds={"PAIR_MIN_COUNTS": min_counts, "PAIR_MIN_SHARE": min_share},
    )


def _verifications(scope: Scope):
    """(submitter, verifier, counts, first, last) of formal counts verified in the period."""
    return (
        RollCall.objects.filter(
            facility=scope.facility,
            kind=CountKind.FORMAL,
            verified_by__isnull=False,
            verified_at__gte=scope.since,
            verified_at__lt=scope.until,
        )
        .values_list("submitted_by__username", "verified_by__username")
        .annotate(counts=Count("id"), first=Min("verified_at"), last=Max("verified_at"))
        .order_by()
    )


def same_pair_approving_movements(scope: Scope) -> Signal:
    """Departures (court, medical, temporary release, release, transfer)
    approved in the period, per pair of requester and approver."""
    min_counts = threshold("PAIR_MIN_MOVEMENTS", PAIR_MIN_COUNTS)
    min_share = threshold("PAIR_MIN_MOVEMENT_SHARE", PAIR_MIN_SHARE)
    found = _pairs_found(_movement_approvals(scope), min_counts, min_share)
    movements = Link(
        _("movements of the facility"), links.api_path("movements/", facility=scope.code)
    )
    return Signal(
        key="same_pair_approving_movements",
        title=_("The same two officers approving each other's departures"),
        explanation=_(
            "Departures approved in the period, per pair of officers (one requested, the "
            "other approved, either way round). Fires when a pair approved at least "
            "%(counts)s departures together and they are at least %(share)s%% of all the "
            "approvals the two gave."
        )
        % {"counts": min_counts, "share": round(min_share * 100)},
        fired=bool(found),
        columns=[
            Column("officer_a", _("Officer")),
            Column("officer_b", _("Other officer")),
            Column("counts", _("Departures approved in the pair"), NUMBER),
            Column("a_verified", _("Approved by the first"), NUMBER),
            Column("b_verified", _("Approved by the other"), NUMBER),
            Column("share_percent", _("Share of their approvals %"), NUMBER),
            Column("first", _("First"), TIME),
            Column("last", _("Last"), TIME),
        ],
        rows=[_pair_row(scope, *item, movements) for item in found],
        thresholds={"PAIR_MIN_MOVEMENTS": min_counts, "PAIR_MIN_MOVEMENT_SHARE": min_share},
    )


def _movement_approvals(scope: Scope):
    """(requester, approver, departures, first, last) approved in the period."""
    return (
        Movement.objects.filter(
            facility=scope.facility,
            kind__in=DEPARTURE_KINDS,
            requested_by__isnull=False,
            approved_by__isnull=False,
            approved_at__gte=scope.since,
            approved_at__lt=scope.until,
        )
        .values_list("requested_by__username", "approved_by__username")
        .annotate(counts=Count("id"), first=Min("approved_at"), last=Max("approved_at"))
        .order_by()
    )
