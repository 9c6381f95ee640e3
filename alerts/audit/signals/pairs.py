"""Same pair verifying: two officers who vouch for each other's counts.

A formal count needs a second officer's word. When the second officer is
nearly always the same colleague, the check is a habit between friends.
Either direction counts: A verifying B's counts and B verifying A's.
"""

from collections import defaultdict

from django.db.models import Count, Max, Min
from django.utils.translation import gettext as _

from alerts.audit.signals import links
from alerts.audit.signals.base import NUMBER, TIME, Column, Link, Row, Scope, Signal, threshold
from custody.models import CountKind, RollCall

PAIR_MIN_COUNTS = 5  # fires from this many counts verified within one pair...
PAIR_MIN_SHARE = 0.6  # ...that are at least this share of all the two verified


def same_pair_verifying(scope: Scope) -> Signal:
    min_counts = threshold("PAIR_MIN_COUNTS", PAIR_MIN_COUNTS)
    min_share = threshold("PAIR_MIN_SHARE", PAIR_MIN_SHARE)
    given = defaultdict(int)  # verifier -> counts they verified
    pairs = {}  # (a, b), a < b -> tallies
    for submitter, verifier, counts, first, last in _verifications(scope):
        given[verifier] += counts
        a, b = sorted((submitter, verifier))
        pair = pairs.setdefault(
            (a, b), {"counts": 0, "a_verified": 0, "first": first, "last": last}
        )
        pair["counts"] += counts
        if verifier == a:
            pair["a_verified"] += counts
        pair["first"], pair["last"] = min(pair["first"], first), max(pair["last"], last)
    found = []
    for (a, b), pair in pairs.items():
        share = pair["counts"] / (given[a] + given[b])
        if pair["counts"] >= min_counts and share >= min_share:
            found.append((a, b, pair, share))
    found.sort(key=lambda item: (-item[2]["counts"], item[0], item[1]))
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
    rows = [
        Row(
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
            [links.officer(scope, a), links.officer(scope, b), formal_counts],
        )
        for a, b, pair, share in found
    ]
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
