"""unit_silent: a housing unit whose readers were silenced together.

Fires, for a unit (a ``unit`` location and the places under it) with people
in custody assigned there, when either
- every active reader mounted in it is silent (no batch, no heartbeat)
  beyond the facility's ``device_offline_after_seconds``; or
- its readers still answer, but two or more of its people are past their
  deadline and nobody at all was observed there (any method) since the
  later of those two deadlines, nor for that long. A jammer that lets
  heartbeats through stops every scan, and people fall due one after
  another with nobody seen in between; people who vanished from a unit
  that still scans everyone else are ``missed_checkin``'s, not this.

Without it, a jammed unit (Fraijanes II: every reader of MI3 quiet at once)
reaches the supervisor as N ``device_offline`` and a flood of
``missed_checkin``, never as the one alarm it is; those alerts link to this
one (``alerts.services.unit_silence``). It closes by itself when the unit
is heard again, with what was heard.

Set-based: the facility's readers and places in two small queries (none but
the readers' when no reader is silent and nobody is overdue), the overdue
people read once for ``missed_checkin`` too; one check-in per unit
(``checkin_location_time``, stopping at the first) only for units with
readers and two people overdue, after the later of those deadlines (an hour
back at most);
people per cell only for units found silent with nobody overdue.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils.translation import gettext_lazy as _

from alerts.models import AlertKind
from alerts.rules import Clearance, Finding, PassContext
from custody.selectors import watch

# Late people it takes for "nobody observed here" to be the unit's silence.
OVERDUE_TO_NOTICE = 2
# How far back "nobody observed since those deadlines" is looked for: a unit
# silent for this long with people falling due is silent whatever came before.
LOOK_BACK_AT_MOST = timedelta(hours=1)


@dataclass
class UnitState:
    unit_id: int
    code: str
    places: list[int] = field(default_factory=list)
    readers: list[tuple] = field(default_factory=list)
    overdue: int = 0
    deadlines: list[datetime] = field(default_factory=list)  # of the overdue
    # Nobody observed after this (of the probed units) is the silence of scans.
    quiet_since: datetime | None = None
    people: int | None = None  # counted only where it decides
    observed_at: datetime | None = None  # someone seen after quiet_since (probed units)
    readers_silent: bool = False
    nobody_observed: bool = False

    @property
    def silent(self) -> bool:
        expected = self.overdue > 0 or bool(self.people)
        return expected and (self.readers_silent or self.nobody_observed)


def _heard_at(reader: tuple) -> datetime:
    _id, _name, _location, last, created = reader
    return last or created


def unit_states(ctx: PassContext, *, probe=()) -> dict[int, UnitState]:
    """Every unit's silence at ``ctx.now``; ``probe``: units to look for an
    observation in whatever their overdue count (those with open alerts)."""
    horizon = ctx.now - ctx.device_silence
    readers = watch.readers_placed(ctx.facility)
    overdue = ctx.overdue_people()
    if (
        not probe
        and len(overdue) < OVERDUE_TO_NOTICE
        and all(_heard_at(r) >= horizon for r in readers)
    ):
        return {}  # no reader silent and nobody to miss: no unit can be silent
    units, zones = watch.unit_places(ctx.facility)
    states = {pk: UnitState(pk, code) for pk, code in units.items()}
    for place, zone in zones.items():
        if zone in states:
            states[zone].places.append(place)
    for reader in readers:
        zone = zones.get(reader[2])
        if zone in states:
            states[zone].readers.append(reader)
    for _id, cell_id, next_due_at, _seen in overdue:
        zone = zones.get(cell_id)
        if zone in states:
            states[zone].overdue += 1
            states[zone].deadlines.append(next_due_at)
    for state in states.values():
        state.readers_silent = bool(state.readers) and all(
            _heard_at(r) < horizon for r in state.readers
        )
    probed = [
        s
        for s in states.values()
        if s.unit_id in probe or (s.readers and s.overdue >= OVERDUE_TO_NOTICE)
    ]
    for state in probed:
        state.quiet_since = horizon
        if state.overdue >= OVERDUE_TO_NOTICE:
            second_latest = sorted(state.deadlines)[-OVERDUE_TO_NOTICE]
            state.quiet_since = min(horizon, max(second_latest, ctx.now - LOOK_BACK_AT_MOST))
    heard = watch.units_heard_since(
        units={s.unit_id: (s.places, s.quiet_since) for s in probed}, now=ctx.now
    )
    for state in probed:
        state.observed_at = heard.get(state.unit_id)
        state.nobody_observed = (
            bool(state.readers) and state.overdue >= OVERDUE_TO_NOTICE and state.observed_at is None
        )
    # Silent with nobody late yet: is anyone expected there at all?
    uncounted = [
        s for s in states.values() if s.overdue == 0 and (s.readers_silent or s.unit_id in probe)
    ]
    people = watch.people_in_cells(p for s in uncounted for p in s.places)
    for state in uncounted:
        state.people = sum(people.get(p, 0) for p in state.places)
    return states


def _reader_rows(state: UnitState) -> list[dict]:
    return [
        {
            "device": str(pk),
            "name": name,
            "last_heartbeat_at": last.isoformat() if last else None,
        }
        for pk, name, _location, last, _created in state.readers
    ]


class UnitSilent:
    kind = AlertKind.UNIT_SILENT

    def find(self, ctx: PassContext) -> list[Finding]:
        findings = []
        for state in unit_states(ctx).values():
            if not state.silent:
                continue
            findings.append(
                Finding(
                    kind=self.kind,
                    subject=f"unit:{state.unit_id}",
                    # The readers' silence began when the last of them was
                    # heard; a silence of scans alone has no such moment.
                    due_at=(
                        max(_heard_at(r) for r in state.readers) + ctx.device_silence
                        if state.readers_silent
                        else None
                    ),
                    location_id=state.unit_id,
                    details={
                        "unit": state.code,
                        "readers": _reader_rows(state),
                        "readers_silent": state.readers_silent,
                        "nobody_observed": state.nobody_observed,
                        "people_overdue": state.overdue,
                        "silent_for_seconds": int(ctx.device_silence.total_seconds()),
                    },
                )
            )
        return findings

    def cleared(self, ctx: PassContext, alerts: list) -> dict[int, Clearance]:
        if not alerts:
            return {}
        horizon = ctx.now - ctx.device_silence
        states = unit_states(ctx, probe={a.location_id for a in alerts})
        result = {}
        for alert in alerts:
            state = states.get(alert.location_id)
            if state is not None and state.silent:
                continue
            heard = {
                "readers_heard": [
                    {"device": str(pk), "name": name, "heard_at": last.isoformat()}
                    for pk, name, _location, last, _created in (state.readers if state else [])
                    if last and last >= horizon
                ],
                "observed_at": (
                    state.observed_at.isoformat() if state and state.observed_at else None
                ),
            }
            if heard["readers_heard"] or heard["observed_at"]:
                result[alert.pk] = Clearance(_("The unit is heard from again."), heard)
            else:
                result[alert.pk] = Clearance(
                    _("Nobody is expected in the unit any more."),
                    {**heard, "people_overdue": state.overdue if state else 0},
                )
        return result
