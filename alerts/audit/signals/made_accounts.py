"""Approvals by a made account: the second officer is an account the first
one created, reset or gave a new password shortly before.

Two officers are needed for a departure, a formal count or a change that
weakens surveillance. An administrator who makes a second account can be
both. The services refuse such an approval of a pending change; movements
and counts are for this signal to show.
"""

from collections import defaultdict
from datetime import timedelta

from django.db.models import Q
from django.utils.translation import gettext as _

from alerts.audit.signals import links
from alerts.audit.signals.base import TIME, Column, Link, Row, Scope, Signal, threshold
from custody.models import ChangeStatus, LedgerEvent, Movement, PendingChange, RollCall
from custody.services.account_record import ACCOUNT_MAKING_ACTIONS

MADE_ACCOUNT_DAYS = 30  # an account made this many days before the approval, or fewer


def approvals_by_made_accounts(scope: Scope) -> Signal:
    days = threshold("MADE_ACCOUNT_DAYS", MADE_ACCOUNT_DAYS)
    window = timedelta(days=days)
    approvals = _approvals(scope)
    made = _accounts_made(
        approvers={approver for _k, _r, _who, approver, _at in approvals},
        since=scope.since - window,
        until=scope.until,
    )
    rows = []
    for kind, record, requester, approver, at in approvals:
        when = [
            made_at
            for made_at in made.get((requester, approver), ())
            if at - window <= made_at <= at
        ]
        if when:
            rows.append(
                Row(
                    [kind, record, requester, approver, scope.local(at), scope.local(max(when))],
                    [
                        links.officer(scope, requester),
                        links.officer(scope, approver),
                        _record_link(kind, record),
                    ],
                )
            )
    rows.sort(key=lambda row: (row.values[4], row.values[0], str(row.values[1])))
    return Signal(
        key="approvals_by_made_accounts",
        title=_("Approved by an account the requester made"),
        explanation=_(
            "Movements approved, formal counts verified and weakening changes approved in the "
            "period by an account that the officer who asked for them created, reset or gave a "
            "new password to in the %(days)s days before: one person may have been both officers."
        )
        % {"days": days},
        fired=bool(rows),
        columns=[
            Column("what", _("What")),
            Column("record", _("Record")),
            Column("requester", _("Requested by")),
            Column("approver", _("Approved by")),
            Column("approved_at", _("Approved at"), TIME),
            Column("account_made_at", _("Account made or reset at"), TIME),
        ],
        rows=rows,
        thresholds={"MADE_ACCOUNT_DAYS": days},
    )


def _approvals(scope: Scope) -> list[tuple]:
    """(what, record, requester, approver, at) of the period's approvals, one
    query per kind of record."""
    period = {"facility": scope.facility}
    movements = Movement.objects.filter(
        approved_at__gte=scope.since, approved_at__lt=scope.until, **period
    ).values_list("pk", "requested_by__username", "approved_by__username", "approved_at")
    counts = RollCall.objects.filter(
        verified_at__gte=scope.since, verified_at__lt=scope.until, **period
    ).values_list("pk", "submitted_by__username", "verified_by__username", "verified_at")
    changes = PendingChange.objects.filter(
        status=ChangeStatus.APPROVED,
        decided_at__gte=scope.since,
        decided_at__lt=scope.until,
        **period,
    ).values_list("pk", "requested_by__username", "decided_by__username", "decided_at")
    found = []
    for kind, rows in (("movement", movements), ("count", counts), ("change", changes)):
        for record, requester, approver, at in rows:
            if requester and approver and requester != approver:
                found.append((kind, record, requester, approver, at))
    return found


def _accounts_made(*, approvers: set[str], since, until) -> dict:
    """(maker, account) -> times the maker created, reset or set the password
    of the account, from the ledger (every chain: an account may be recorded
    on another facility's or the national one)."""
    if not approvers:
        return {}
    events = LedgerEvent.objects.filter(
        Q(action__in=ACCOUNT_MAKING_ACTIONS)
        | Q(action="user.updated", data__password_changed=True),
        subject__in=[f"user:{username}" for username in approvers],
        actor__startswith="user:",
        at__gte=since,
        at__lt=until,
    ).values_list("actor", "subject", "at")
    made = defaultdict(list)
    for actor, subject, at in events:
        made[(actor.removeprefix("user:"), subject.removeprefix("user:"))].append(at)
    return made


def _record_link(kind: str, record) -> Link:
    if kind == "count":
        return links.rollcall(record)
    path = "movements" if kind == "movement" else "changes"
    return Link(f"{kind} #{record}", links.api_path(f"{path}/{record}/"))
