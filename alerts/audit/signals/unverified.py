"""Counts nobody vouched for: formal counts left without a second officer.

A formal count is verified by a second officer (maker-checker, as for
releases). One submitted and never verified, or verified long after, is a
number only its counter stands behind.
"""

from datetime import timedelta

from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from alerts.audit.signals import links
from alerts.audit.signals.base import NUMBER, TIME, Column, Row, Scope, Signal, threshold
from custody.models import CountKind, RollCall
from custody.selectors.rollcalls import SETTLED

VERIFY_WITHIN_MINUTES = 60  # a formal count is vouched for within this long of its submission


def unverified_counts(scope: Scope) -> Signal:
    within = timedelta(minutes=threshold("VERIFY_WITHIN_MINUTES", VERIFY_WITHIN_MINUTES))
    # A count submitted a moment ago is not late yet: its verifier may be walking over.
    late = Q(verified_at__isnull=True, submitted_at__lt=timezone.now() - within) | Q(
        verified_at__gt=F("submitted_at") + within
    )
    counts = (
        RollCall.objects.filter(
            late,
            facility=scope.facility,
            kind=CountKind.FORMAL,
            status__in=SETTLED,
            submitted_at__gte=scope.since,
            submitted_at__lt=scope.until,
        )
        .order_by("submitted_at")
        .values_list(
            "pk",
            "location__code",
            "submitted_at",
            "submitted_by__username",
            "verified_at",
            "verified_by__username",
            "unaccounted_count",
        )
    )
    rows = []
    for pk, unit, submitted, submitter, verified, verifier, unaccounted in counts:
        row_links = [links.rollcall(pk), links.officer(scope, submitter)]
        if verifier:
            row_links.append(links.officer(scope, verifier))
        rows.append(
            Row(
                [
                    unit,
                    scope.local(submitted),
                    submitter,
                    unaccounted,
                    scope.local(verified) if verified else None,
                    verifier,
                    round((verified - submitted).total_seconds() / 60) if verified else None,
                ],
                row_links,
            )
        )
    minutes = round(within.total_seconds() / 60)
    return Signal(
        key="unverified_counts",
        title=_("Counts nobody vouched for"),
        explanation=_(
            "Formal counts submitted in the period that no second officer verified within "
            "%(minutes)s minutes of their submission, or ever: a number only its counter "
            "stands behind. Fires on any."
        )
        % {"minutes": minutes},
        fired=bool(rows),
        columns=[
            Column("unit", _("Unit")),
            Column("submitted_at", _("Submitted"), TIME),
            Column("submitted_by", _("Submitted by")),
            Column("unaccounted", _("Unaccounted"), NUMBER),
            Column("verified_at", _("Verified"), TIME),
            Column("verified_by", _("Verified by")),
            Column("minutes_to_verify", _("Minutes to verify"), NUMBER),
        ],
        rows=rows,
        thresholds={"VERIFY_WITHIN_MINUTES": minutes},
    )
