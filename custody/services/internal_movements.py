"""Internal movements: a person sent from their cell to a place inside the
walls (yard, workshop, infirmary, visit, interview) and paired with their
next observation back in their cell.

Not a departure from custody: the person stays ``in_custody`` in their cell
(the roll counts them "out of cell, inside the walls"), keeps their
``next_due_at`` (missed_checkin still applies, and a scan at the destination
is a positive observation like any other) and needs one officer, not two.
The movement is born ``departed`` with ``expected_back_at`` at most the
facility's ``internal_movement_max_seconds`` away; it completes only when the
person is observed back home (``internal_pair``, called by check-in
ingestion, and ``internal_pair_due``, the reconciler's catch-up). Past its
return plus grace without one, ``unpaired_movement`` opens.

A unit-level session moves everyone of a unit at once (set-based: a fixed
number of queries whatever the unit's size); ending it early brings every
open return forward to now. Lock order as everywhere: inmates (sorted), then
movements, then the facility's ledger head.
"""

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from custody import selectors
from custody.exceptions import Conflict
from custody.models import (
    CountKind,
    CountSchedule,
    Facility,
    Inmate,
    InmateStatus,
    Location,
    LocationKind,
    Movement,
    MovementKind,
    MovementSession,
    MovementStatus,
)
from custody.models.movements import INTERNAL_DESTINATION_KINDS, OPEN_MOVEMENT_STATUSES
from custody.roles import CUSTODIAL_ROLES
from custody.services.departure_rules import refuse_frozen, unit_freezes
from custody.services.ledger import PendingEvent, actor_label, ledger_append_many
from custody.services.placement import inmate_subject, movement_event_data

K, S = MovementKind, MovementStatus
MAX_EXCLUDED = 500
REASON_MAX = 2000


# --- Shared checks ---------------------------------------------------------------


def require_custodial_officer(user, facility: Facility) -> None:
    """A guard, supervisor or administrator of ``facility`` (never an auditor,
    never a device: a movement names the officer who sent the person)."""
    if user is None or not getattr(user, "is_authenticated", False):
        raise PermissionDenied(_("Movements are recorded by a signed-in officer."))
    if getattr(user, "role", None) not in CUSTODIAL_ROLES:
        raise PermissionDenied(_("Only a guard, a supervisor or an administrator may do this."))
    if facility.pk not in selectors.visible_facility_ids(user):
        raise PermissionDenied(
            _("You are not assigned to facility %(facility)s.") % {"facility": facility.code}
        )


def destination_problem(location: Location | None, facility: Facility) -> str | None:
    if location is None:
        return _("Name the place inside the facility.")
    if location.facility_id != facility.pk:
        return _("The place must be in facility %(facility)s.") % {"facility": facility.code}
    if location.kind not in INTERNAL_DESTINATION_KINDS:
        return _(
            "%(code)s is not a place people are sent to inside the walls "
            "(yard, workshop, infirmary, visit or interview room)."
        ) % {"code": location.code}
    return None


def return_problem(facility: Facility, until, now) -> str | None:
    """Why ``until`` is no return time for an internal movement starting now."""
    if until is None:
        return _("Say when the person is back.")
    if until <= now:
        return _("Give a time in the future.")
    limit = timedelta(seconds=facility.internal_movement_max_seconds)
    if until - now > limit:
        return _(
            "At most %(hours)s hours after now at %(facility)s "
            "(internal_movement_max_seconds: %(seconds)s)."
        ) % {
            "hours": round(limit.total_seconds() / 3600, 1),
            "facility": facility.code,
            "seconds": int(limit.total_seconds()),
        }
    return None


def _checked(facility: Facility, to_location, until, now) -> None:
    errors = {}
    problem = destination_problem(to_location, facility)
    if problem:
        errors["to_location"] = problem
    problem = return_problem(facility, until, now)
    if problem:
        errors["expected_back_at"] = problem
    if errors:
        raise ValidationError(errors)


def _refuse_if_frozen(facility: Facility, cell_ids, to_location: Location, now, until) -> None:
    """Out of the unit (the cells) or into one (a yard inside a unit): both
    frozen now; and nobody is still out when a formal count's freeze begins
    (the count is taken with everyone in their cell)."""
    cell_ids = [pk for pk in cell_ids if pk]
    freezes = unit_freezes(facility, [*cell_ids, to_location.pk], now)
    if freezes:
        refuse_frozen(freezes[0], facility)
    nearest = _next_freeze(facility, cell_ids, now)
    if nearest is not None and until > nearest[0]:
        frozen_from, slot_at, unit = nearest
        tz = facility.tzinfo
        raise Conflict(
            _(
                "The formal count of %(unit)s at %(time)s freezes movements from %(from)s: "
                "everyone must be back in their cell by then."
            )
            % {
                "unit": unit,
                "time": slot_at.astimezone(tz).strftime("%H:%M"),
                "from": frozen_from.astimezone(tz).strftime("%H:%M"),
            },
            count={
                "slot_at": slot_at.isoformat(),
                "unit": unit,
                "frozen_from": frozen_from.isoformat(),
            },
        )


def _next_freeze(facility: Facility, cell_ids, now):
    """(freeze start, slot, unit code) of the next formal count covering one
    of ``cell_ids`` whose freeze has not begun yet (a begun one is
    ``unit_freezes``'), or None; two queries."""
    if not cell_ids:
        return None
    schedules = list(
        CountSchedule.objects.filter(
            facility=facility, is_active=True, kind=CountKind.FORMAL
        ).select_related("location")
    )
    if not schedules:
        return None
    covering = set()
    for row in Location.objects.filter(pk__in=cell_ids).values_list(
        "pk", "parent_id", "parent__parent_id"
    ):
        covering.update(pk for pk in row if pk)
    freeze = timedelta(seconds=facility.count_freeze_seconds)
    today = timezone.localdate(now, timezone=facility.tzinfo)
    found = []
    for schedule in schedules:
        if schedule.location_id is not None and schedule.location_id not in covering:
            continue
        for day in (today, today + timedelta(days=1)):
            at = datetime.combine(day, schedule.time_of_day, tzinfo=facility.tzinfo)
            if at - freeze > now and at >= schedule.created_at:
                code = schedule.location.code if schedule.location_id else _("every unit")
                found.append((at - freeze, at, code))
                break
    return min(found, default=None)


def _departed(inmate_id, cell_id, *, facility, to_location, until, by, now, reason, session=None):
    return Movement(
        inmate_id=inmate_id,
        facility=facility,
        kind=K.INTERNAL,
        status=S.DEPARTED,
        from_location_id=cell_id,
        to_location=to_location,
        expected_back_at=until,
        reason=reason,
        requested_by=by,
        requested_at=now,
        departed_by=by,
        departed_at=now,
        session=session,
    )


def _departed_data(movement: Movement, *, from_code, to_code) -> dict:
    data = {
        "movement": movement.pk,
        "kind": movement.kind,
        "status": movement.status,
        "facility": movement.facility.code,
        "from_location": from_code,
        "to_location": to_code,
        "expected_back_at": movement.expected_back_at,
        "departed_at": movement.departed_at,
    }
    if movement.session_id:
        data["session"] = movement.session_id
    return data


# --- One person ------------------------------------------------------------------


@transaction.atomic
def internal_send(
    *, inmate: Inmate, to_location: Location | None, expected_back_at, by, reason: str = ""
) -> Movement:
    """Sends one person from their cell to ``to_location`` until
    ``expected_back_at``; one open movement per person (a second tablet
    sending the same person gets a 409)."""
    inmate.refresh_from_db(
        from_queryset=Inmate.objects.select_for_update(of=("self",)).select_related(
            "facility", "cell"
        )
    )
    facility = inmate.facility
    require_custodial_officer(by, facility)
    now = timezone.now()
    if inmate.status != InmateStatus.IN_CUSTODY:
        raise Conflict(
            _("%(booking)s is %(status)s: only someone in their cell can be sent.")
            % {"booking": inmate.booking_number, "status": inmate.get_status_display().lower()}
        )
    open_movement = inmate.movements.filter(status__in=OPEN_MOVEMENT_STATUSES).first()
    if open_movement is not None:
        raise Conflict(
            _("%(booking)s already has an open movement (%(kind)s, %(status)s).")
            % {
                "booking": inmate.booking_number,
                "kind": open_movement.get_kind_display().lower(),
                "status": open_movement.get_status_display().lower(),
            }
        )
    _checked(facility, to_location, expected_back_at, now)
    _refuse_if_frozen(facility, [inmate.cell_id], to_location, now, expected_back_at)
    movement = _departed(
        inmate.pk,
        inmate.cell_id,
        facility=facility,
        to_location=to_location,
        until=expected_back_at,
        by=by,
        now=now,
        reason=(reason or "").strip()[:REASON_MAX],
    )
    movement.save()
    movement.inmate, movement.from_location = inmate, inmate.cell
    ledger_append_many(
        facility=facility,
        events=[
            PendingEvent(
                action="movement.departed",
                subject=inmate_subject(inmate),
                actor=actor_label(by),
                data=movement_event_data(movement),
            )
        ],
        at=now,
    )
    return movement


# --- Unit sessions ------------------------------------------------------------------


@dataclass
class SessionStart:
    session: MovementSession
    sent: list[Movement]
    # Booking number -> why they stay (already on another movement).
    skipped: dict[str, str] = field(default_factory=dict)


def _unit_people(facility: Facility, unit: Location) -> list[tuple]:
    """(id, booking, cell_id, cell code) of people in custody in ``unit``'s
    cells (two levels down, as counts see it), locked in id order."""
    return list(
        Inmate.objects.select_for_update(of=("self",))
        .filter(facility=facility, status=InmateStatus.IN_CUSTODY)
        .filter(Q(cell=unit) | Q(cell__parent=unit) | Q(cell__parent__parent=unit))
        .order_by("id")
        .values_list("id", "booking_number", "cell_id", "cell__code")
    )


@transaction.atomic
def session_start(
    *,
    facility: Facility,
    unit: Location | None,
    to_location: Location | None,
    ends_at,
    by,
    excluded=(),
    reason: str = "",
) -> SessionStart:
    """Sends everyone in custody in ``unit`` (but ``excluded`` booking
    numbers) to ``to_location`` until ``ends_at``: one session, one internal
    movement per person, in a fixed number of queries. People already on a
    movement stay where the record has them and are listed as skipped."""
    require_custodial_officer(by, facility)
    now = timezone.now()
    errors = {}
    if unit is None or unit.facility_id != facility.pk or unit.kind != LocationKind.UNIT:
        errors["unit"] = _("Name a unit of facility %(facility)s.") % {"facility": facility.code}
    excluded = list(dict.fromkeys(excluded or ()))
    if len(excluded) > MAX_EXCLUDED or not all(isinstance(b, str) for b in excluded):
        errors["excluded"] = _("Give at most %(n)s booking numbers.") % {"n": MAX_EXCLUDED}
    try:
        _checked(facility, to_location, ends_at, now)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if "expected_back_at" in errors:
        errors["ends_at"] = errors.pop("expected_back_at")
    if errors:
        raise ValidationError(errors)
    people = _unit_people(facility, unit)
    unknown = sorted(set(excluded) - {booking for _id, booking, _c, _cc in people})
    if unknown:
        raise ValidationError(
            {
                "excluded": _("Not in custody in %(unit)s: %(numbers)s.")
                % {"unit": unit.code, "numbers": ", ".join(unknown[:20])}
            }
        )
    _refuse_if_frozen(
        facility, sorted({cell for _i, _b, cell, _cc in people}), to_location, now, ends_at
    )
    busy = dict(
        Movement.objects.filter(
            inmate_id__in=[pk for pk, *_rest in people], status__in=OPEN_MOVEMENT_STATUSES
        ).values_list("inmate_id", "kind")
    )
    leaving = [row for row in people if row[1] not in excluded and row[0] not in busy]
    skipped = {
        booking: _("already on a movement (%(kind)s)") % {"kind": MovementKind(busy[pk]).label}
        for pk, booking, _c, _cc in people
        if pk in busy and booking not in excluded
    }
    if not leaving:
        raise Conflict(
            _(
                "Nobody in %(unit)s can be sent: %(people)s in custody, %(left)s left out, "
                "%(busy)s already on a movement."
            )
            % {
                "unit": unit.code,
                "people": len(people),
                "left": len(excluded),
                "busy": len(skipped),
            }
        )
    reason = (reason or "").strip()[:REASON_MAX]
    session = MovementSession.objects.create(
        facility=facility,
        unit=unit,
        to_location=to_location,
        started_by=by,
        started_at=now,
        ends_at=ends_at,
        excluded=excluded,
    )
    sent = Movement.objects.bulk_create(
        [
            _departed(
                pk,
                cell,
                facility=facility,
                to_location=to_location,
                until=ends_at,
                by=by,
                now=now,
                reason=reason,
                session=session,
            )
            for pk, _booking, cell, _code in leaving
        ]
    )
    actor = actor_label(by)
    events = [
        PendingEvent(
            action="movement_session.started",
            subject=f"movement_session:{session.pk}",
            actor=actor,
            data={
                "session": session.pk,
                "unit": unit.code,
                "to_location": to_location.code,
                "ends_at": ends_at,
                "sent": [booking for _pk, booking, _c, _cc in leaving],
                "excluded": excluded,
                "skipped": sorted(skipped),
            },
        )
    ]
    for movement, (_pk, booking, _cell, code) in zip(sent, leaving, strict=True):
        events.append(
            PendingEvent(
                action="movement.departed",
                subject=f"inmate:{booking}",
                actor=actor,
                data=_departed_data(movement, from_code=code, to_code=to_location.code),
            )
        )
    ledger_append_many(facility=facility, events=events, at=now)
    return SessionStart(session=session, sent=sent, skipped=skipped)


@transaction.atomic
def session_end(*, session: MovementSession, by) -> MovementSession:
    """Ends a session early: everyone still out is due back now (each
    movement still completes only when the person is seen in their cell;
    past now + grace, unpaired_movement opens)."""
    require_custodial_officer(by, session.facility)
    now = timezone.now()
    # Inmates first (the order every writer keeps), then the session row.
    ids = list(
        Inmate.objects.select_for_update(of=("self",))
        .filter(movements__session=session, movements__status=S.DEPARTED)
        .order_by("id")
        .values_list("id", flat=True)
    )
    session.refresh_from_db(from_queryset=MovementSession.objects.select_for_update())
    if session.ended_at is not None:
        raise Conflict(
            _("Session %(id)s already ended at %(at)s.")
            % {
                "id": session.pk,
                "at": session.ended_at.astimezone(session.facility.tzinfo).strftime(
                    "%Y-%m-%d %H:%M"
                ),
            }
        )
    brought_forward = Movement.objects.filter(
        session=session, status=S.DEPARTED, inmate_id__in=ids, expected_back_at__gt=now
    ).update(expected_back_at=now)
    session.ended_by, session.ended_at = by, now
    session.save(update_fields=["ended_by", "ended_at"])
    out = list(
        Movement.objects.filter(session=session, status=S.DEPARTED)
        .order_by("inmate__booking_number")
        .values_list("inmate__booking_number", flat=True)
    )
    ledger_append_many(
        facility=session.facility,
        events=[
            PendingEvent(
                action="movement_session.ended",
                subject=f"movement_session:{session.pk}",
                actor=actor_label(by),
                data={
                    "session": session.pk,
                    "ends_at": session.ends_at,
                    "ended_at": now,
                    "due_now": brought_forward,
                    "still_out": out,
                },
            )
        ],
        at=now,
    )
    return session


# --- Pairing ---------------------------------------------------------------------


@dataclass(frozen=True)
class Pairing:
    """An observation back home that completes an internal movement."""

    movement_id: int
    facility_id: int
    booking: str
    observed_at: datetime
    checkin: str
    location: str
    method: str

    def observation(self) -> dict:
        return {
            "checkin": self.checkin,
            "observed_at": self.observed_at.astimezone(UTC).isoformat(),
            "location": self.location,
            "method": self.method,
        }


_PAIR_SQL = """
UPDATE custody_movement AS m
SET status = 'completed', completed_at = p.observed_at, paired_observation = p.observation
FROM unnest(%s::bigint[], %s::timestamptz[], %s::jsonb[]) AS p(id, observed_at, observation)
WHERE m.id = p.id AND m.status = 'departed' AND m.kind = 'internal'
  AND m.departed_at < p.observed_at
RETURNING m.id, m.departed_at
"""


def internal_pair(pairings: list[Pairing]) -> dict[int, list[PendingEvent]]:
    """Completes the movements of ``pairings`` (one statement, whatever their
    number) and answers the ledger events per facility, for the caller to
    append with its own. The caller holds the inmates' row locks; a movement
    another writer already completed is left alone."""
    if not pairings:
        return {}
    first: dict[int, Pairing] = {}
    for pairing in sorted(pairings, key=lambda p: p.observed_at):
        first.setdefault(pairing.movement_id, pairing)
    ordered = [first[pk] for pk in sorted(first)]
    with connection.cursor() as cursor:
        cursor.execute(
            _PAIR_SQL,
            [
                [p.movement_id for p in ordered],
                [p.observed_at for p in ordered],
                [json.dumps(p.observation()) for p in ordered],
            ],
        )
        done = {row[0]: row for row in cursor.fetchall()}
    events: dict[int, list[PendingEvent]] = {}
    for pairing in ordered:
        if pairing.movement_id not in done:
            continue
        _id, departed_at = done[pairing.movement_id]
        events.setdefault(pairing.facility_id, []).append(
            PendingEvent(
                action="movement.completed",
                subject=f"inmate:{pairing.booking}",
                data={
                    "movement": pairing.movement_id,
                    "kind": K.INTERNAL,
                    "status": S.COMPLETED,
                    "departed_at": departed_at,
                    "completed_at": pairing.observed_at,
                    "paired_by": pairing.observation(),
                },
            )
        )
    return events


# The first check-in back home after the departure, for each due movement:
# one walk of ``checkin_inmate_time`` per movement (``movement_internal_due``
# finds the movements), partitions pruned by the departure time.
_DUE_PAIRS_SQL = """
SELECT m.id, i.booking_number, c.id, c.observed_at, l.code, c.method
FROM custody_movement m
JOIN custody_inmate i ON i.id = m.inmate_id
JOIN custody_location cell ON cell.id = i.cell_id
LEFT JOIN custody_location up ON up.id = cell.parent_id
CROSS JOIN LATERAL (
    SELECT c.id, c.observed_at, c.location_id, c.method FROM custody_checkin c
    WHERE c.inmate_id = m.inmate_id AND c.observed_at > m.departed_at
      AND c.observed_at <= %s
      AND c.location_id IN (cell.id, cell.parent_id, up.parent_id)
      AND c.location_id <> m.to_location_id
    ORDER BY c.observed_at LIMIT 1
) c
JOIN custody_location l ON l.id = c.location_id
WHERE m.facility_id = %s AND m.status = 'departed' AND m.kind = 'internal'
  AND m.expected_back_at <= %s
ORDER BY i.id
"""


@transaction.atomic
def internal_pair_due(*, facility: Facility, now) -> int:
    """The reconciler's catch-up: pairs the due movements whose return was
    observed but not paired at ingestion (a scan that raced the session's
    start). One small query on ``movement_internal_due`` when nothing is
    due: the pairing query itself plans over every check-in partition, which
    costs more than the answer when there is nothing to look for."""
    due = Movement.objects.filter(
        facility=facility,
        kind=MovementKind.INTERNAL,
        status=MovementStatus.DEPARTED,
        expected_back_at__lte=now,
    )
    if not due.exists():
        return 0
    with connection.cursor() as cursor:
        cursor.execute(_DUE_PAIRS_SQL, [now + timedelta(minutes=2), facility.pk, now])
        rows = cursor.fetchall()
    if not rows:
        return 0
    list(
        Inmate.objects.select_for_update(of=("self",))
        .filter(movements__id__in=[r[0] for r in rows])
        .order_by("id")
        .values_list("id", flat=True)
    )
    pairings = [
        Pairing(
            movement_id=movement_id,
            facility_id=facility.pk,
            booking=booking,
            observed_at=observed_at,
            checkin=str(checkin_id),
            location=code,
            method=method,
        )
        for movement_id, booking, checkin_id, observed_at, code, method in rows
    ]
    events = internal_pair(pairings).get(facility.pk, [])
    ledger_append_many(facility=facility, events=events, at=now)
    return len(events)
