"""Visual share: how much of the watching rests on a guard's word alone.

A ``visual`` check is a person saying they saw someone, and a ``manual`` one
a person typing a booking number: neither is verified. A reader's match is
evidence. A guard or a unit that mostly checks by word alone is where a
bribed "present" costs nothing.
"""

from collections import defaultdict

from django.db.models import Count, Exists, OuterRef, Q
from django.utils.translation import gettext as _

from alerts.audit.signals import links
from alerts.audit.signals.base import NUMBER, Column, Row, Scope, Signal, threshold
from custody.models import CheckIn, EntryStatus, RollCallEntry, User
from custody.services.evidence import PERSON_METHODS

VISUAL_SHARE_MAX = 0.5  # fires above this share of visual checks...
VISUAL_MIN_CHECKS = 20  # ...among at least this many checks (fewer say little)


def visual_share(scope: Scope) -> Signal:
    share_max = threshold("VISUAL_SHARE_MAX", VISUAL_SHARE_MAX)
    min_checks = threshold("VISUAL_MIN_CHECKS", VISUAL_MIN_CHECKS)
    by_officer = defaultdict(lambda: [0, 0])
    by_unit = defaultdict(lambda: [0, 0])
    for officer_id, location_id, checks, visual in [*_checkins(scope), *_marks_not_stored(scope)]:
        unit = scope.unit_of(location_id)
        by_unit[unit.code][0] += checks
        by_unit[unit.code][1] += visual
        if officer_id is not None:  # readers' own scans have no officer
            by_officer[officer_id][0] += checks
            by_officer[officer_id][1] += visual
    # Names after the counting: joined in, they mislead the planner on the anti-join.
    usernames = dict(User.objects.filter(pk__in=by_officer).values_list("pk", "username"))
    by_officer = {usernames[pk]: tally for pk, tally in by_officer.items()}

    def over(tally) -> bool:
        checks, visual = tally
        return checks >= min_checks and visual / checks > share_max

    rows = []
    for username, tally in _worst_first(by_officer):
        if over(tally):
            rows.append(_row(_("officer"), username, tally, [links.officer(scope, username)]))
    for code, tally in _worst_first(by_unit):
        if over(tally):
            rows.append(_row(_("unit"), code, tally, _unit_links(scope, code)))
    return Signal(
        key="visual_share",
        title=_("Checks by eye only"),
        explanation=_(
            "Share of checks that were visual or manual (a guard's word, no reader) per "
            "officer and per unit, roll-call marks included. Fires above %(share)s%% "
            "unverified among at least %(checks)s checks in the period."
        )
        % {"share": round(share_max * 100), "checks": min_checks},
        fired=bool(rows),
        columns=[
            Column("by", _("By")),
            Column("name", _("Officer or unit")),
            Column("checks", _("Checks"), NUMBER),
            Column("visual", _("Visual or manual"), NUMBER),
            Column("visual_percent", _("Unverified %"), NUMBER),
        ],
        rows=rows,
        thresholds={"VISUAL_SHARE_MAX": share_max, "VISUAL_MIN_CHECKS": min_checks},
    )


# A person's word: ``rfid`` is not biometric, but it is a machine's read, not this.
_UNVERIFIED = Count("id", filter=Q(method__in=sorted(PERSON_METHODS)))


def _checkins(scope: Scope):
    """(officer, place, checks, visual) for every check-in of the period; a
    present roll-call mark is stored as a check-in too, under the same id."""
    return (
        CheckIn.objects.filter(
            facility=scope.facility, observed_at__gte=scope.since, observed_at__lt=scope.until
        )
        .values_list("recorded_by_id", "location_id")
        .annotate(checks=Count("id"), visual=_UNVERIFIED)
        .order_by()
    )


def _marks_not_stored(scope: Scope):
    """Present marks whose check-in is not in the record (refused at the
    time, or loaded without one): still a guard's word, counted once."""
    # The period bound repeats what the time equality implies, so that the
    # planner reads only the period's monthly partitions, not years of them.
    stored = CheckIn.objects.filter(
        id=OuterRef("id"),
        observed_at=OuterRef("observed_at"),
        observed_at__gte=scope.since,
        observed_at__lt=scope.until,
    )
    return (
        RollCallEntry.objects.filter(
            rollcall__facility=scope.facility,
            status=EntryStatus.PRESENT,
            observed_at__gte=scope.since,
            observed_at__lt=scope.until,
        )
        .exclude(Exists(stored))
        .values_list("recorded_by_id", "rollcall__location_id")
        .annotate(checks=Count("id"), visual=_UNVERIFIED)
        .order_by()
    )


def _worst_first(tallies: dict):
    return sorted(tallies.items(), key=lambda item: (-item[1][1] / item[1][0], item[0]))


def _row(by: str, name: str, tally, row_links) -> Row:
    checks, visual = tally
    return Row([by, name, checks, visual, round(100 * visual / checks, 1)], row_links)


def _unit_links(scope: Scope, code: str):
    period = {"since": scope.iso(scope.since), "until": scope.iso(scope.until, up=True)}
    return [
        links.Link(
            _("visual checks at %(code)s") % {"code": code},
            links.api_path(
                "checkins/", facility=scope.code, location=code, method="visual", **period
            ),
        ),
        links.Link(
            _("counts of %(code)s") % {"code": code},
            links.api_path(
                "rollcalls/",
                facility=scope.code,
                location=code,
                started_after=period["since"],
                started_before=period["until"],
            ),
        ),
    ]
