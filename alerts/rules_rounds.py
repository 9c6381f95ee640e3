"""Observation rounds (docs/architecture.md): the rules that read them.

- ``missed_round``: an occupied place, or a person on a level of their own,
  past its round deadline (the last check plus the level's longest wait)
  plus the facility's round grace. High; critical on close watch. Closes by
  itself when a round check moves the deadline past the alert's, or nobody
  is left to watch there. Read from ``location_round_due`` and
  ``inmate_round_due``: O(what is due).
- ``implausible_round``: one officer's two tag scans closer in time than the
  walk between them (two units: the facility's walk between units; two
  places of one unit: its seconds per cell). A tag list carried around, or
  a round typed up. Only people close it.
- ``round_attention``: an officer reported someone who needs attention, or
  could not see them. Opened at once by ``open_round_attention`` (the
  ingestion's signal, on commit); the pass reads the same observations as a
  safety net. Only people close it.
"""

import itertools
import logging
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from alerts.models import AlertKind, Severity
from alerts.rules import Clearance, Finding, PassContext
from custody.models import Facility, InmateStatus, WatchLevel
from custody.selectors import rounds

logger = logging.getLogger(__name__)


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


def _severity(level: str) -> str:
    return Severity.CRITICAL if level == WatchLevel.CLOSE else Severity.HIGH


class MissedRound:
    kind = AlertKind.MISSED_ROUND

    def find(self, ctx: PassContext) -> list[Finding]:
        before = ctx.now - ctx.round_grace
        findings = [
            Finding(
                kind=self.kind,
                subject=f"location:{pk}",
                due_at=deadline,
                location_id=pk,
                severity=_severity(level),
                details={"location": code, "watch_level": level, "last_round_at": _iso(last)},
            )
            for pk, code, level, deadline, last in rounds.locations_round_overdue(
                facility=ctx.facility, deadline_before=before
            )
        ]
        findings += [
            Finding(
                kind=self.kind,
                subject=f"inmate:{pk}",
                due_at=deadline,
                inmate_id=pk,
                location_id=cell_id,
                severity=_severity(level),
                details={"watch_level": level, "last_round_at": _iso(last)},
            )
            for pk, cell_id, level, deadline, last in rounds.inmates_round_overdue(
                facility=ctx.facility, deadline_before=before
            )
        ]
        return findings

    def cleared(self, ctx: PassContext, alerts: list) -> dict[int, Clearance]:
        if not alerts:
            return {}
        places, people = rounds.round_times(
            location_ids=[a.location_id for a in alerts if a.inmate_id is None],
            inmate_ids=[a.inmate_id for a in alerts if a.inmate_id is not None],
        )
        empty = set(rounds.unoccupied(location_ids=list(places)))
        result = {}
        for alert in alerts:
            if alert.inmate_id is None:
                last, deadline = places.get(alert.location_id, (None, None))
                if _checked_since(alert, last):
                    result[alert.pk] = _checked(last)
                elif alert.location_id in empty:
                    result[alert.pk] = Clearance(_("Nobody in custody there any more."), {})
                elif _rescheduled(alert, deadline, ctx):
                    result[alert.pk] = _level_changed(deadline)
                continue
            last, deadline, status, level = people.get(alert.inmate_id, (None, None, None, ""))
            if _checked_since(alert, last):
                result[alert.pk] = _checked(last)
            elif status != InmateStatus.IN_CUSTODY:
                result[alert.pk] = Clearance(_("Left custody on a recorded movement."), {})
            elif not level:
                result[alert.pk] = Clearance(
                    _("Back on the cell's watch level (approved by a second officer)."), {}
                )
            elif _rescheduled(alert, deadline, ctx):
                result[alert.pk] = _level_changed(deadline)
        return result


def _checked_since(alert, last: datetime | None) -> bool:
    """A round check newer than the one the alert was opened after."""
    before = alert.details.get("last_round_at")
    return last is not None and (before is None or last > datetime.fromisoformat(before))


def _rescheduled(alert, deadline: datetime | None, ctx: PassContext) -> bool:
    """No check, but the deadline moved past now (a weaker level, approved
    by a second officer): the place or person is no longer late."""
    return deadline is not None and deadline > ctx.now


def _level_changed(deadline: datetime) -> Clearance:
    return Clearance(
        _("The watch level changed (approved by a second officer); next deadline %(at)s.")
        % {"at": deadline.isoformat()},
        {"round_deadline_at": deadline.isoformat()},
    )


def _checked(last: datetime | None) -> Clearance:
    return Clearance(_("Checked on a round."), {"last_round_at": _iso(last)})


class ImplausibleRound:
    kind = AlertKind.IMPLAUSIBLE_ROUND

    def find(self, ctx: PassContext) -> list[Finding]:
        fresh = rounds.round_checks_received(
            facility=ctx.facility, since=ctx.checkins_since, until=ctx.checkins_until
        )
        if not fresh:
            return []
        walk = max(ctx.travel_between_units, ctx.round_seconds_per_cell)
        scans = rounds.officer_scans_around(
            officer_ids={r["officer_id"] for r in fresh},
            since=min(r["scanned_at"] for r in fresh) - walk,
            until=max(r["scanned_at"] for r in fresh) + walk,
        )
        new_ids = {r["id"] for r in fresh}
        findings = {}
        for first, second in itertools.pairwise(scans):
            if first["officer_id"] != second["officer_id"]:
                continue
            if first["id"] not in new_ids and second["id"] not in new_ids:
                continue
            needed = self._needed(ctx, first, second)
            apart = second["scanned_at"] - first["scanned_at"]
            if needed and apart < needed:
                findings[first["officer_id"]] = Finding(
                    kind=self.kind,
                    subject=f"officer:{first['officer_id']}",
                    due_at=second["scanned_at"],
                    location_id=second["location_id"],
                    details={
                        "officer": second["officer__username"],
                        "first": _scan(first),
                        "second": _scan(second),
                        "seconds_apart": apart.total_seconds(),
                        "seconds_needed": needed.total_seconds(),
                    },
                )
        return list(findings.values())

    @staticmethod
    def _needed(ctx: PassContext, first: dict, second: dict):
        if first["location_id"] == second["location_id"]:
            return None  # the same door scanned twice
        if ctx.zone_of(first["location_id"]) != ctx.zone_of(second["location_id"]):
            return ctx.travel_between_units
        return ctx.round_seconds_per_cell

    def cleared(self, ctx: PassContext, alerts: list) -> dict[int, Clearance]:
        return {}


def _scan(row: dict) -> dict:
    return {
        "round_check": str(row["id"]),
        "location": row["location__code"],
        "scanned_at": row["scanned_at"].isoformat(),
    }


class RoundAttention:
    kind = AlertKind.ROUND_ATTENTION

    def find(self, ctx: PassContext) -> list[Finding]:
        rows = rounds.round_attention_received(
            facility=ctx.facility, since=ctx.checkins_since, until=ctx.checkins_until
        )
        return attention_findings(rows)

    def cleared(self, ctx: PassContext, alerts: list) -> dict[int, Clearance]:
        return {}


def attention_findings(rows: list[dict]) -> list[Finding]:
    """One finding per person (the latest report of them)."""
    findings = {}
    for row in rows:
        findings[row["inmate_id"]] = Finding(
            kind=AlertKind.ROUND_ATTENTION,
            subject=f"inmate:{row['inmate_id']}",
            due_at=row["observed_at"],
            inmate_id=row["inmate_id"],
            location_id=row["round_check__location_id"],
            details={
                "state": row["state"],
                "location": row["round_check__location__code"],
                "officer": row["round_check__officer__username"],
                "round_check": str(row["round_check_id"]),
                "observed_at": row["observed_at"].isoformat(),
            },
        )
    return list(findings.values())


def open_round_attention(*, facility: Facility, observation_ids: list[int], now) -> list:
    """Opens round_attention at once for these observations (the ingestion's
    signal): on the first rung, notified like any other, on the ledger."""
    from alerts.services.notify import Step, notifications_create
    from alerts.services.policy import escalation_ladder
    from alerts.services.reconcile import alert_build, alerts_insert_new
    from alerts.services.recording import record_alert_events

    rows = rounds.round_attention_by_id(facility=facility, observation_ids=observation_ids)
    findings = attention_findings(rows)
    if not findings:
        return []
    with transaction.atomic(), translation.override(settings.LANGUAGE_CODE):
        ladder = escalation_ladder(facility)
        opened = alerts_insert_new(
            facility=facility,
            rows=[
                alert_build(facility=facility, finding=f, ladder=ladder, now=now) for f in findings
            ],
            now=now,
        )
        notifications_create(steps=[Step(a, "opened", a.escalation_level) for a in opened], now=now)
        record_alert_events(facility=facility, opened=opened)
    return opened


ROUND_RULES = (MissedRound(), ImplausibleRound(), RoundAttention())


def on_round_attention_observed(sender, *, facility, observation_ids, now, **kwargs) -> None:
    """The round is stored whatever happens here: a failure is logged and the
    next reconciliation pass opens the alert from the same observations."""
    try:
        open_round_attention(facility=facility, observation_ids=observation_ids, now=now)
    except Exception:
        logger.exception("round_attention for %s not opened at once", facility.code)
