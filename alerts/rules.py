"""The reconciliation rules of docs/architecture.md: who should be where, against who
was seen where.

Each rule answers two questions for one facility at one instant, with a
fixed number of indexed queries whatever the facility's size:
``find`` — which situations fire now (O(what is due), never a scan of
history), and ``cleared`` — which of its unresolved alerts the world has
fixed, with the observation that fixed it. Rules read; ``alerts.services.
reconcile`` writes.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils.translation import gettext_lazy as _

from alerts.departure_rules import UnapprovedDeparture
from alerts.models import AlertKind
from custody.models import Facility, InmateStatus, MovementKind, MovementStatus
from custody.selectors import due

# A sighting that took longer than this to arrive closes its alert with both
# times in the resolution: the reader's clock tolerance, no more.
LATE_RESOLUTION_NOTE = timedelta(minutes=2)
# Movements that take someone out and bring them back (overdue_return).
OUTINGS = (MovementKind.COURT, MovementKind.MEDICAL, MovementKind.TEMPORARY_RELEASE)


@dataclass(frozen=True)
class Finding:
    kind: str
    subject: str  # "inmate:42"; with the kind, the dedup key (invariant 5)
    due_at: datetime | None
    inmate_id: int | None = None
    location_id: int | None = None
    device_id: object = None
    movement_id: int | None = None
    details: dict = field(default_factory=dict, compare=False, hash=False)
    # The lowest rung the alert must stand on (a failed recount climbs at once).
    min_rung: int = field(default=0, compare=False, hash=False)
    # The kind's severity unless given (missed_round on close watch is critical).
    severity: str | None = field(default=None, compare=False, hash=False)

    @property
    def dedup_key(self) -> str:
        return f"{self.kind}:{self.subject}"


@dataclass(frozen=True)
class Clearance:
    """Why an alert closes by itself, and what was seen (or done) that fixed it."""

    resolution: str
    observation: dict


@dataclass
class PassContext:
    facility: Facility
    now: datetime
    grace: timedelta
    movement_grace: timedelta
    device_silence: timedelta
    travel_between_units: timedelta
    # The facility's previous pass (None: this is its first).
    last_pass_at: datetime | None
    # New check-ins are those received in (since, until].
    checkins_since: datetime
    checkins_until: datetime
    # Count deadlines and submissions after this are new to the pass.
    counts_since: datetime
    # No identity window counts from before this (None: from admission).
    identity_watch_since: datetime | None = None
    # Observation rounds (alerts.rules_rounds).
    round_grace: timedelta = timedelta(minutes=2)
    round_seconds_per_cell: timedelta = timedelta(seconds=5)
    _zones: dict | None = None
    _new_checkins: list | None = None
    _overdue_movements: list | None = None
    _overdue_people: list | None = None

    def overdue_people(self) -> list[tuple]:
        """People past their deadline + grace, read once for missed_checkin
        and unit_silent."""
        if self._overdue_people is None:
            self._overdue_people = due.inmates_overdue(
                facility=self.facility, deadline_before=self.now - self.grace
            )
        return self._overdue_people

    def overdue_movements(self) -> list[dict]:
        """Late returns and late arrivals, read once for both rules."""
        if self._overdue_movements is None:
            self._overdue_movements = due.movements_overdue(
                facility=self.facility, outings=OUTINGS, before=self.now - self.movement_grace
            )
        return self._overdue_movements

    def new_checkins(self) -> list[dict]:
        """Scans received since the last pass, read once for every rule."""
        if self._new_checkins is None:
            self._new_checkins = due.checkins_received(
                facility=self.facility, since=self.checkins_since, until=self.checkins_until
            )
        return self._new_checkins

    def zone_of(self, location_id: int) -> int:
        """The unit a location lies in: sightings in one zone are steps apart."""
        if self._zones is None:
            self._zones = due.location_zones(self.facility)
        return self._zones.get(location_id, location_id)


def _checkin_observation(row: dict) -> dict:
    return {
        "checkin": str(row["id"]),
        "observed_at": row["observed_at"].isoformat(),
        "location": row["location__code"],
        "method": row["method"],
    }


def _seen_again(row: dict | None, person, facility: Facility) -> Clearance:
    """ "Seen again", with the delay when the sighting reached the server late
    (a reader's buffer, or worse): the alert stood open meanwhile, and the
    auditor reads both times, in the facility's zone."""
    if row is None:  # a gate, an admission: no check-in to read
        return Clearance(_("Seen again."), {"observed_at": person.last_seen_at.isoformat()})
    observation = _checkin_observation(row)
    delay = row["received_at"] - row["observed_at"]
    observation["received_at"] = row["received_at"].isoformat()
    observation["delay_seconds"] = round(delay.total_seconds())
    if delay <= LATE_RESOLUTION_NOTE:
        return Clearance(_("Seen again."), observation)
    observed = row["observed_at"].astimezone(facility.tzinfo)
    received = row["received_at"].astimezone(facility.tzinfo)
    shape = "%H:%M" if observed.date() == received.date() else "%Y-%m-%d %H:%M"
    return Clearance(
        _("Seen again (observed %(observed)s, received %(received)s).")
        % {"observed": observed.strftime(shape), "received": received.strftime(shape)},
        observation,
    )


def _last_sightings(people: dict) -> dict[int, dict | None]:
    """For each alert id, the check-in at its person's last sighting (None if
    that sighting was no check-in: a gate, an admission), in one query."""
    rows = due.checkins_at([(p.pk, p.last_seen_at) for p in people.values()])
    return {alert_id: rows.get((p.pk, p.last_seen_at)) for alert_id, p in people.items()}


class MissedCheckIn:
    """``now > next_due_at + grace`` for a person in custody (invariant 2)."""

    kind = AlertKind.MISSED_CHECKIN

    def find(self, ctx: PassContext) -> list[Finding]:
        rows = ctx.overdue_people()
        return [
            Finding(
                kind=self.kind,
                subject=f"inmate:{inmate_id}",
                due_at=next_due_at,
                inmate_id=inmate_id,
                location_id=cell_id,
                details={"last_seen_at": last_seen_at.isoformat() if last_seen_at else None},
            )
            for inmate_id, cell_id, next_due_at, last_seen_at in rows
        ]

    def cleared(self, ctx: PassContext, alerts: list) -> dict[int, Clearance]:
        if not alerts:
            return {}
        people = due.inmates_by_id(a.inmate_id for a in alerts)
        seen_again = {
            a.pk: people[a.inmate_id]
            for a in alerts
            if people[a.inmate_id].status == InmateStatus.IN_CUSTODY
            and people[a.inmate_id].next_due_at > a.due_at
            and people[a.inmate_id].last_seen_at
        }
        sightings = _last_sightings(seen_again)
        result = {
            alert_id: _seen_again(sightings[alert_id], person, ctx.facility)
            for alert_id, person in seen_again.items()
        }
        left = [
            a
            for a in alerts
            if people[a.inmate_id].status
            in (InmateStatus.OUT_AUTHORIZED, InmateStatus.IN_TRANSIT, InmateStatus.RELEASED)
        ]
        departures = due.last_departures(a.inmate_id for a in left) if left else {}
        for alert in left:
            # An officer took the person out on a recorded movement.
            movement = departures.get(alert.inmate_id)
            result[alert.pk] = Clearance(
                _("Left custody on a recorded movement."),
                {
                    "movement": movement["id"] if movement else None,
                    "kind": movement["kind"] if movement else None,
                    "departed_at": movement["departed_at"].isoformat() if movement else None,
                },
            )
        return result


class _OverdueMovement:
    """Shared by returns and transfers: a departed movement past its time."""

    kind: str
    deadline: str
    kinds: tuple

    def find(self, ctx: PassContext) -> list[Finding]:
        return [
            Finding(
                kind=self.kind,
                subject=f"movement:{row['id']}",
                due_at=row[self.deadline],
                inmate_id=row["inmate_id"],
                movement_id=row["id"],
                details={
                    "movement_kind": row["kind"],
                    "to_facility": row["to_facility__code"],
                    "destination": row["destination"],
                },
            )
            for row in ctx.overdue_movements()
            if row["kind"] in self.kinds
        ]

    def cleared(self, ctx: PassContext, alerts: list) -> dict[int, Clearance]:
        if not alerts:
            return {}
        movements = due.movements_by_id(a.movement_id for a in alerts)
        result = {}
        for alert in alerts:
            movement = movements[alert.movement_id]
            if movement.status == MovementStatus.COMPLETED:
                result[alert.pk] = Clearance(
                    _("Arrived.") if movement.kind == MovementKind.TRANSFER else _("Returned."),
                    {"movement": movement.pk, "completed_at": movement.completed_at.isoformat()},
                )
            elif movement.status == MovementStatus.CANCELLED:
                result[alert.pk] = Clearance(
                    _("Movement cancelled."), {"movement": movement.pk, "status": movement.status}
                )
        return result


class OverdueReturn(_OverdueMovement):
    kind = AlertKind.OVERDUE_RETURN
    deadline = "expected_back_at"
    kinds = OUTINGS


class OverdueTransfer(_OverdueMovement):
    kind = AlertKind.OVERDUE_TRANSFER
    deadline = "expected_arrival_at"
    kinds = (MovementKind.TRANSFER,)


class OutOfPlace:
    """A new scan where neither the cell nor an open movement puts the person
    (the check-in service marks it; ``checkin_out_of_place`` finds it)."""

    kind = AlertKind.OUT_OF_PLACE

    def find(self, ctx: PassContext) -> list[Finding]:
        latest = {}
        for row in (r for r in ctx.new_checkins() if r["out_of_place"]):
            if (
                row["inmate_id"] not in latest
                or row["observed_at"] > latest[row["inmate_id"]]["observed_at"]
            ):
                latest[row["inmate_id"]] = row
        return [
            Finding(
                kind=self.kind,
                subject=f"inmate:{inmate_id}",
                due_at=row["observed_at"],
                inmate_id=inmate_id,
                location_id=row["location_id"],
                details=_checkin_observation(row),
            )
            for inmate_id, row in latest.items()
        ]

    def cleared(self, ctx: PassContext, alerts: list) -> dict[int, Clearance]:
        if not alerts:
            return {}
        people = due.inmates_by_id(a.inmate_id for a in alerts)
        later = {
            a.pk: people[a.inmate_id]
            for a in alerts
            if people[a.inmate_id].last_seen_at and people[a.inmate_id].last_seen_at > a.due_at
        }
        sightings = _last_sightings(later)
        result = {}
        for alert_id, row in sightings.items():
            if row and not row["out_of_place"]:
                result[alert_id] = Clearance(_("Seen back in place."), _checkin_observation(row))
        return result


class ImpossibleTravel:
    """One person seen in two units closer in time than the walk between
    them: a shared finger, a cloned tag, or a record made up. Only people
    close it (the world cannot un-see it)."""

    kind = AlertKind.IMPOSSIBLE_TRAVEL

    def find(self, ctx: PassContext) -> list[Finding]:
        window = ctx.travel_between_units
        if not window:
            return []
        fresh = ctx.new_checkins()
        neighbours = due.checkins_near(fresh, window)
        findings = {}
        for row in fresh:
            for other in neighbours.get(row["inmate_id"], []):
                if (
                    other["id"] != row["id"]
                    and abs(other["observed_at"] - row["observed_at"]) < window
                    and ctx.zone_of(other["location_id"]) != ctx.zone_of(row["location_id"])
                ):
                    first, second = sorted((row, other), key=lambda r: r["observed_at"])
                    findings[row["inmate_id"]] = Finding(
                        kind=self.kind,
                        subject=f"inmate:{row['inmate_id']}",
                        due_at=second["observed_at"],
                        inmate_id=row["inmate_id"],
                        location_id=second["location_id"],
                        details={
                            "first": _checkin_observation(first),
                            "second": _checkin_observation(second),
                            "seconds_apart": (
                                second["observed_at"] - first["observed_at"]
                            ).total_seconds(),
                        },
                    )
        return list(findings.values())

    def cleared(self, ctx: PassContext, alerts: list) -> dict[int, Clearance]:
        return {}


class DeviceOffline:
    """An active reader silent (no batch, no heartbeat) beyond the limit."""

    kind = AlertKind.DEVICE_OFFLINE

    def find(self, ctx: PassContext) -> list[Finding]:
        horizon = ctx.now - ctx.device_silence
        rows = due.devices_silent(facility=ctx.facility, since=horizon)
        return [
            Finding(
                kind=self.kind,
                subject=f"device:{device_id}",
                due_at=(last or created) + ctx.device_silence,
                device_id=device_id,
                location_id=location_id,
                details={
                    "device": name,
                    "last_heartbeat_at": last.isoformat() if last else None,
                },
            )
            for device_id, name, location_id, last, created in rows
        ]

    def cleared(self, ctx: PassContext, alerts: list) -> dict[int, Clearance]:
        if not alerts:
            return {}
        devices = due.devices_by_id(a.device_id for a in alerts)
        result = {}
        for alert in alerts:
            device = devices[alert.device_id]
            if device.last_heartbeat_at and device.last_heartbeat_at > ctx.now - ctx.device_silence:
                result[alert.pk] = Clearance(
                    _("Device heard from again."),
                    {"device": device.name, "heard_at": device.last_heartbeat_at.isoformat()},
                )
            elif not device.is_active:
                result[alert.pk] = Clearance(
                    _("Device retired."), {"device": device.name, "is_active": False}
                )
        return result


class ReconcilerStale:
    """Opened by the watchdog when passes stop (``alerts.services.watchdog``);
    a pass running is the world fixing it, and the gap stays in the record."""

    kind = AlertKind.RECONCILER_STALE

    def find(self, ctx: PassContext) -> list[Finding]:
        return []

    def cleared(self, ctx: PassContext, alerts: list) -> dict[int, Clearance]:
        gap = (ctx.now - ctx.last_pass_at).total_seconds() if ctx.last_pass_at else None
        return {
            alert.pk: Clearance(
                _("Reconciliation resumed."),
                {"resumed_at": ctx.now.isoformat(), "gap_seconds": gap},
            )
            for alert in alerts
        }


class LedgerBroken:
    """Opened by the ledger's verification and witness runs
    (``alerts.services.ledger_broken``); nothing the world does mends a chain,
    so only a person closes it, with what was found."""

    kind = AlertKind.LEDGER_BROKEN

    def find(self, ctx: PassContext) -> list[Finding]:
        return []

    def cleared(self, ctx: PassContext, alerts: list) -> dict[int, Clearance]:
        return {}


class MissedRollcall:
    """A count owed (a unit's scheduled count, or every unit's after an
    emergency call) not submitted by its time + grace. Each deadline is
    judged once, by the pass that sees it go by."""

    kind = AlertKind.MISSED_ROLLCALL

    def find(self, ctx: PassContext) -> list[Finding]:
        slots = due.count_slots_due(facility=ctx.facility, since=ctx.counts_since, until=ctx.now)
        if not slots:
            return []
        counts = due.counts_started_since(
            facility=ctx.facility, since=min(s.opens_at for s in slots)
        )
        findings = []
        for slot in slots:
            answering = _answering(counts, slot.location_id, slot.opens_at, slot.closes_at)
            if any(c["submitted_at"] for c in answering):
                continue
            findings.append(
                Finding(
                    kind=self.kind,
                    subject=f"count:{slot.location_id}:{int(slot.at.timestamp())}",
                    due_at=slot.deadline,
                    location_id=slot.location_id,
                    details={
                        "slot_at": slot.at.isoformat(),
                        "opens_at": slot.opens_at.isoformat(),
                        "closes_at": slot.closes_at.isoformat(),
                        "count_kind": slot.kind,
                        "schedule": slot.schedule_id,
                        "call": slot.call_id,
                        "in_progress": [str(c["id"]) for c in answering],
                    },
                )
            )
        return findings

    def cleared(self, ctx: PassContext, alerts: list) -> dict[int, Clearance]:
        if not alerts:
            return {}
        opens = {a.pk: datetime.fromisoformat(a.details["opens_at"]) for a in alerts}
        counts = due.counts_started_since(facility=ctx.facility, since=min(opens.values()))
        result = {}
        for alert in alerts:
            closes = datetime.fromisoformat(alert.details["closes_at"])
            for count in _answering(counts, alert.location_id, opens[alert.pk], closes):
                if count["submitted_at"]:
                    late = (count["submitted_at"] - alert.due_at).total_seconds()
                    result[alert.pk] = Clearance(
                        _("The count was submitted late."),
                        {
                            "rollcall": str(count["id"]),
                            "submitted_at": count["submitted_at"].isoformat(),
                            "late_seconds": max(late, 0),
                        },
                    )
                    break
        return result


def _answering(counts: list[dict], location_id: int, opens_at, closes_at) -> list[dict]:
    """Counts of the unit started while the slot was theirs to answer."""
    return [
        c
        for c in counts
        if c["location_id"] == location_id and opens_at <= c["started_at"] < closes_at
    ]


class CountDiscrepancy:
    """A submitted count with someone expected, not present and not
    authorised out. One alert per count and its recounts (the subject is the
    first count): a recount that still does not clear climbs the ladder at
    once; a clean recount closes it."""

    kind = AlertKind.COUNT_DISCREPANCY

    def find(self, ctx: PassContext) -> list[Finding]:
        submitted = due.counts_submitted_between(
            facility=ctx.facility, since=ctx.counts_since, until=ctx.now
        )
        roots = {str(c["recount_of_id"] or c["id"]) for c in submitted if c["unaccounted_count"]}
        findings = []
        for root, chain in due.count_chains(roots).items():
            latest = chain[-1]
            if not latest["unaccounted_count"]:
                continue  # a later recount already cleared it
            failed = sum(1 for c in chain if c["unaccounted_count"])
            findings.append(
                Finding(
                    kind=self.kind,
                    subject=f"rollcall:{root}",
                    due_at=latest["submitted_at"],
                    location_id=latest["location_id"],
                    details={
                        "rollcall": str(latest["id"]),
                        "first_count": root,
                        "counts": len(chain),
                        "submitted_by": latest["submitted_by__username"],
                        "unaccounted": latest["unaccounted"],
                        "recount_needed": True,
                    },
                    min_rung=failed - 1,
                )
            )
        return findings + self._failed_recounts(ctx)

    def _failed_recounts(self, ctx: PassContext) -> list[Finding]:
        """A second officer's recount did not find everyone the count said was
        present: one of the two officers is wrong, and both are named. Its
        own alert (subject ``recount:``), closed by a clean count of the unit
        submitted after the recount, or by a supervisor's written reason."""
        failed = due.recounts_failed_between(
            facility=ctx.facility, since=ctx.counts_since, until=ctx.now
        )
        return [
            Finding(
                kind=self.kind,
                subject=f"recount:{row['rollcall_id']}",
                due_at=row["finished_at"],
                location_id=row["rollcall__location_id"],
                details={
                    "rollcall": str(row["rollcall_id"]),
                    "first_count": str(row["rollcall__recount_of_id"] or row["rollcall_id"]),
                    "recount": True,
                    "finished_at": row["finished_at"].isoformat(),
                    "counted_by": row["rollcall__started_by__username"],
                    "submitted_by": row["rollcall__submitted_by__username"],
                    "verified_by": row["verifier__username"],
                    "unaccounted": row["missing"],
                    "recount_needed": True,
                },
                # Two officers disagree about named people: above the unit's rung.
                min_rung=1,
            )
            for row in failed
        ]

    def cleared(self, ctx: PassContext, alerts: list) -> dict[int, Clearance]:
        if not alerts:
            return {}
        chains = due.count_chains(a.details["first_count"] for a in alerts)
        result = {}
        for alert in alerts:
            chain = chains.get(alert.details["first_count"]) or []
            if alert.details.get("recount"):
                # Only a whole count of the unit submitted after the recount.
                after = datetime.fromisoformat(alert.details["finished_at"])
                chain = [c for c in chain if c["submitted_at"] > after]
            if chain and not chain[-1]["unaccounted_count"]:
                latest = chain[-1]
                result[alert.pk] = Clearance(
                    _("A recount found everyone."),
                    {
                        "rollcall": str(latest["id"]),
                        "submitted_at": latest["submitted_at"].isoformat(),
                        "submitted_by": latest["submitted_by__username"],
                    },
                )
        return result


RULES = (
    MissedCheckIn(),
    OverdueReturn(),
    OverdueTransfer(),
    OutOfPlace(),
    ImpossibleTravel(),
    DeviceOffline(),
    MissedRollcall(),
    CountDiscrepancy(),
    ReconcilerStale(),
    LedgerBroken(),
    UnapprovedDeparture(),
)
