"""Roll calls (docs/api.md "Roll calls"): start, mark, submit, verify, cancel.

A count is a list of named people, never a number someone writes down:

- **start** freezes the roster: everyone whose cell lies in the unit and who
  is in custody or out on an authorised movement (the latter appear as
  ``out_authorized`` with where they are);
- **entries** are marks made by the tablet, each with its own id (the
  idempotency key: a queued entry posted twice is stored once) and its own
  time (trusted within the clock rules of docs/api.md, and never before the count
  started); a ``present`` mark is also a check-in, so it moves the person's
  ``last_seen_at`` like a reader's scan;
- **submit** settles the count: present, out (authorised at the start or by a
  movement since), or unaccounted; a count with anyone unaccounted is what
  ``alerts`` turns into ``count_discrepancy``;
- **verify** is a second officer's recount of a sample the server draws
  (``custody.services.recounts``): never someone who started, submitted or
  marked the count.

Lock order: the roll call's row, then (through check-in ingestion) inmate
rows, then the facility's ledger head, as everywhere else.
"""

from collections import Counter
from dataclasses import dataclass, field
from uuid import UUID

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from custody import selectors
from custody.exceptions import Conflict
from custody.models import (
    CLOCK_SKEW,
    CheckInMethod,
    CountKind,
    Device,
    EntryStatus,
    Facility,
    InmateStatus,
    Location,
    RollCall,
    RollCallEntry,
    RollCallExpected,
    RollCallStatus,
)
from custody.roles import CUSTODIAL_ROLES, SUPERVISING_ROLES
from custody.selectors.rollcalls import (
    cells_within,
    open_emergency_call,
    recount_root,
    rollcall_roster,
    roster_candidates,
)
from custody.services import checkins as ingestion
from custody.services.checkin_items import clock_problem, parse_aware_time
from custody.services.evidence import PERSON_METHODS, location_refusal, method_refusal
from custody.services.ledger import PendingEvent, actor_label, ledger_append, ledger_append_many

MAX_ENTRIES = 1000
# Statuses in which someone is away from the unit with the record's blessing.
AWAY_WITH_LEAVE = frozenset(
    {InmateStatus.OUT_AUTHORIZED, InmateStatus.IN_TRANSIT, InmateStatus.RELEASED}
)
ACCEPTED, DUPLICATE, REJECTED = "accepted", "duplicate", "rejected"


def rollcall_subject(rollcall: RollCall) -> str:
    return f"rollcall:{rollcall.pk}"


def require_counter(user, facility: Facility) -> None:
    """Guards, supervisors and administrators of ``facility`` take counts."""
    if user is None or not getattr(user, "is_authenticated", False) or user.role is None:
        raise PermissionDenied(_("Counts are taken by a signed-in officer."))
    if user.role not in CUSTODIAL_ROLES:
        raise PermissionDenied(_("Your role may read counts but not take them."))
    if facility.pk not in selectors.visible_facility_ids(user):
        raise PermissionDenied(
            _("You are not assigned to facility %(facility)s.") % {"facility": facility.code}
        )


def require_supervisor(user, facility: Facility) -> None:
    require_counter(user, facility)
    if user.role not in SUPERVISING_ROLES:
        raise PermissionDenied(_("Only a supervisor or an administrator may do this."))


# --- Start -------------------------------------------------------------------


def rollcall_start(
    *,
    location: Location,
    kind: str,
    by,
    rollcall_id: UUID | None = None,
    recount_of: RollCall | None = None,
    now=None,
) -> tuple[RollCall, bool]:
    """Starts a count of ``location`` and freezes its roster; answers
    ``(count, created)``. Starting again with the same ``rollcall_id`` (a
    tablet retrying on a bad network) answers the same count, not a second."""
    require_counter(by, location.facility)
    now = now or timezone.now()
    if rollcall_id is not None:
        existing = RollCall.objects.filter(pk=rollcall_id).first()
        if existing is not None:
            if existing.location_id != location.pk or existing.started_by_id != by.pk:
                raise Conflict(_("This count id is already used for another count."))
            return existing, False
    if kind not in CountKind.values:
        raise ValidationError({"kind": _("Use one of: %s.") % ", ".join(CountKind.values)})
    cells = cells_within(location)
    if not cells:
        raise ValidationError(
            {
                "location": _("%(code)s holds no cells: count a unit or a cell.")
                % {"code": location.code}
            }
        )
    if recount_of is not None:
        _check_recount(recount_of, location)
        recount_of = recount_root(recount_of)
    call = open_emergency_call(location.facility, now) if kind == CountKind.EMERGENCY else None
    with transaction.atomic():
        roster = roster_candidates(cells)
        rollcall = RollCall(
            facility=location.facility,
            location=location,
            kind=kind,
            call=call,
            recount_of=recount_of,
            started_at=now,
            started_by=by,
            expected_count=len(roster),
        )
        if rollcall_id is not None:
            rollcall.pk = rollcall_id
        try:
            with transaction.atomic():
                rollcall.save(force_insert=True)
        except IntegrityError:
            retried = _same_start(rollcall_id, location, by)
            if retried is not None:  # the same start, sent twice at once
                return retried, False
            raise Conflict(_in_progress_message(location)) from None
        RollCallExpected.objects.bulk_create(
            [RollCallExpected(rollcall=rollcall, **row) for row in roster], batch_size=1000
        )
        out = sum(1 for row in roster if row["status"] == InmateStatus.OUT_AUTHORIZED)
        ledger_append(
            facility=location.facility,
            actor=by,
            action="rollcall.started",
            subject=rollcall_subject(rollcall),
            data={
                "location": location.code,
                "kind": kind,
                "expected": len(roster),
                "out_authorized": out,
                "recount_of": str(recount_of.pk) if recount_of else None,
                "call": call.pk if call else None,
            },
            at=now,
        )
    return rollcall, True


def _same_start(rollcall_id, location: Location, by) -> RollCall | None:
    if rollcall_id is None:
        return None
    return RollCall.objects.filter(pk=rollcall_id, location=location, started_by=by).first()


def _in_progress_message(location: Location) -> str:
    current = RollCall.objects.filter(location=location, status=RollCallStatus.IN_PROGRESS).first()
    if current is None:
        return _("Another count of %(unit)s has just started.") % {"unit": location.code}
    return _(
        "A count of %(unit)s is already in progress (%(id)s): join it instead of starting another."
    ) % {"unit": location.code, "id": current.pk}


def _check_recount(original: RollCall, location: Location) -> None:
    if original.location_id != location.pk:
        raise ValidationError({"recount_of": _("A recount is of the same unit.")})
    if original.status not in (RollCallStatus.SUBMITTED, RollCallStatus.VERIFIED):
        raise ValidationError({"recount_of": _("Only a submitted count can be recounted.")})


# --- Entries -----------------------------------------------------------------


@dataclass
class EntryResult:
    id: str
    status: str = ""
    errors: dict = field(default_factory=dict)
    # A machine-readable why for refusals worth telling apart
    # (``method_not_allowed``, ``wrong_location``); the first one given.
    reason: str = ""

    def reject(self, name: str, message, *, reason: str = "") -> None:
        self.errors.setdefault(name, []).append(str(message))
        self.reason = self.reason or reason


@dataclass
class _Entry:
    result: EntryResult
    uuid: UUID | None = None
    inmate: str = ""
    status: str = ""
    method: str = ""
    observed_at: object = None


def rollcall_record_entries(
    *, rollcall: RollCall, raw_entries: list, by, device: Device | None = None, now=None
):
    """Stores the good marks of a batch and answers one result per item, in
    order (``accepted``, ``duplicate`` or ``rejected`` with its errors).
    Rejected marks are named in the ledger event, never silently dropped.

    ``device`` is the enrolled tablet the request came from, if any: its
    marks are recorded under the officer and the tablet. What a person saw
    or typed (``visual``, ``manual``) is the officer's word; a machine read
    (``rfid``) only an active tablet of the count's facility whose methods
    include it may vouch for, else the mark is refused (``method_not_allowed``),
    never recorded as something weaker."""
    now = now or timezone.now()
    with transaction.atomic():
        rollcall = _lock(rollcall)
        require_counter(by, rollcall.facility)
        tablet = _tablet_of(device, rollcall)
        entries = [_parse_entry(raw, rollcall=rollcall, now=now) for raw in raw_entries]
        _mark_known(entries, rollcall)
        if rollcall.status != RollCallStatus.IN_PROGRESS:
            for entry in entries:
                if not entry.result.status and not entry.result.errors:
                    entry.result.reject(
                        "non_field_errors",
                        _("This count is %(status)s: no more marks.")
                        % {"status": rollcall.get_status_display().lower()},
                    )
        # Only the batch's people: a tap on a 500-person count reads one row.
        roster = dict(
            RollCallExpected.objects.filter(
                rollcall=rollcall, inmate__booking_number__in={e.inmate for e in entries}
            ).values_list("inmate__booking_number", "inmate_id")
        )
        fresh = []
        for entry in entries:
            if entry.result.status or entry.result.errors:
                continue
            if entry.inmate not in roster:
                entry.result.reject(
                    "inmate",
                    _("%(number)s is not on this count's roster.") % {"number": entry.inmate},
                )
                continue
            if _refuse_evidence(entry, tablet=tablet, rollcall=rollcall):
                continue
            entry.result.status = ACCEPTED
            fresh.append(entry)
        RollCallEntry.objects.bulk_create(
            [
                RollCallEntry(
                    id=e.uuid,
                    rollcall=rollcall,
                    inmate_id=roster[e.inmate],
                    status=e.status,
                    method=e.method,
                    observed_at=e.observed_at,
                    received_at=now,
                    recorded_by=by,
                    device=tablet,
                )
                for e in fresh
            ],
            batch_size=1000,
            # The same id posted to another count at this very moment: that
            # one stored it; this one says so below instead of failing the batch.
            ignore_conflicts=True,
        )
        fresh = _keep_stored(fresh, rollcall)
        _present_as_checkins(fresh, rollcall=rollcall, by=by, tablet=tablet, now=now)
        if tablet is not None and fresh:
            # A tablet in use is alive, whatever its marks' methods.
            Device.objects.filter(pk=tablet.pk).update(last_heartbeat_at=now)
        _record_entries(entries, fresh, rollcall=rollcall, by=by, tablet=tablet, now=now)
    for entry in entries:
        if entry.result.errors:
            entry.result.status = REJECTED
    return [entry.result for entry in entries]


def _tablet_of(device: Device | None, rollcall: RollCall) -> Device | None:
    # Another facility's tablet, or one whose enrolment ended, vouches for nothing here.
    if device is None or not device.is_active or device.facility_id != rollcall.facility_id:
        return None
    return device


def _refuse_evidence(entry: _Entry, *, tablet: Device | None, rollcall: RollCall) -> bool:
    """Refuses a mark whose method its maker cannot vouch for: the officer
    vouches for visual and manual marks, the tablet for machine reads."""
    machine = entry.method not in PERSON_METHODS
    refusal = method_refusal(method=entry.method, device=tablet if machine else None)
    if refusal:
        entry.result.reject(
            "method",
            _(
                "%(method)s cannot be recorded from here: a person records only visual and "
                "manual marks, and %(method)s needs an enrolled, active tablet of this "
                "facility that makes it. Mark the person again by tapping or typing."
            )
            % {"method": entry.method},
            reason=refusal,
        )
        return True
    refusal = machine and location_refusal(device=tablet, location=rollcall.location)
    if refusal:
        entry.result.reject(
            "method",
            _("This tablet serves %(place)s: it cannot record scans in %(unit)s.")
            % {"place": tablet.location.code, "unit": rollcall.location.code},
            reason=refusal,
        )
        return True
    return False


def _parse_entry(raw, *, rollcall: RollCall, now) -> _Entry:
    entry = _Entry(result=EntryResult(id=""))
    if not isinstance(raw, dict):
        entry.result.reject("non_field_errors", _("Each entry must be a JSON object."))
        return entry
    value = raw.get("id")
    entry.result.id = str(value)[:64] if value is not None else ""
    try:
        entry.uuid = UUID(value) if isinstance(value, str) else None
    except ValueError:
        entry.uuid = None
    if entry.uuid is None:
        entry.result.reject("id", _("A UUID made by the tablet is required."))
    else:
        entry.result.id = str(entry.uuid)
    inmate = raw.get("inmate")
    if not isinstance(inmate, str) or not inmate or len(inmate) > 32:
        entry.result.reject("inmate", _("Give the person's booking number."))
    else:
        entry.inmate = inmate
    status = raw.get("status")
    if status not in EntryStatus.values:
        entry.result.reject("status", _("Use one of: %s.") % ", ".join(EntryStatus.values))
    else:
        entry.status = status
    method = raw.get("method", CheckInMethod.VISUAL)
    if method not in CheckInMethod.values:
        entry.result.reject("method", _("Use one of: %s.") % ", ".join(CheckInMethod.values))
    else:
        entry.method = method
    _parse_time(entry, raw.get("observed_at"), rollcall=rollcall, now=now)
    return entry


def _parse_time(entry: _Entry, value, *, rollcall: RollCall, now) -> None:
    at = parse_aware_time(value)
    if at is None:
        entry.result.reject(
            "observed_at",
            _("Give the time of the mark in ISO 8601 with its offset, e.g. %(example)s.")
            % {"example": "2026-11-24T06:02:11-06:00"},
        )
        return
    problem = clock_problem(at, now=now)
    if problem:
        entry.result.reject("observed_at", problem[1])
    elif at < rollcall.started_at - CLOCK_SKEW:
        entry.result.reject("observed_at", _("Before the count started: check the tablet's clock."))
    else:
        entry.observed_at = at


def _mark_known(entries: list[_Entry], rollcall: RollCall) -> None:
    """Repeats (in the batch, or stored before) are duplicates: stored once."""
    ids = [e.uuid for e in entries if e.uuid is not None]
    stored = dict(RollCallEntry.objects.filter(id__in=ids).values_list("id", "rollcall_id"))
    seen = set()
    for entry in entries:
        if entry.uuid is None:
            continue
        owner = stored.get(entry.uuid)
        if owner is not None and owner != rollcall.pk:
            entry.result.errors = {}
            entry.result.reject("id", _("This entry id belongs to another count."))
        elif owner is not None or entry.uuid in seen:
            entry.result.errors = {}
            entry.result.status = DUPLICATE
        seen.add(entry.uuid)


def _keep_stored(fresh: list[_Entry], rollcall: RollCall) -> list[_Entry]:
    if not fresh:
        return fresh
    stored = set(
        RollCallEntry.objects.filter(rollcall=rollcall, id__in=[e.uuid for e in fresh]).values_list(
            "id", flat=True
        )
    )
    for entry in fresh:
        if entry.uuid not in stored:
            entry.result.status = ""
            entry.result.reject("id", _("This entry id belongs to another count."))
    return [e for e in fresh if e.uuid in stored]


def _present_as_checkins(fresh: list[_Entry], *, rollcall: RollCall, by, tablet, now) -> None:
    """A present mark is a positive observation: stored as a check-in (same
    id) at the counted unit, so the person's next check moves forward. A
    machine read is the tablet's check-in; a visual or manual mark the
    officer's alone (``is_biometric`` false), as a person posting it would be."""
    present = [e for e in fresh if e.status == EntryStatus.PRESENT]
    machine = [e for e in present if e.method not in PERSON_METHODS]
    person = [e for e in present if e.method in PERSON_METHODS]
    for marks, device in ((person, None), (machine, tablet)):
        if not marks:
            continue
        sender = ingestion.Sender(
            principal=by,
            device=device,
            user=by,
            facility_ids=frozenset({rollcall.facility_id}),
        )
        ingestion.checkins_ingest(
            raw_items=[
                {
                    "id": str(e.uuid),
                    "inmate": e.inmate,
                    "location": rollcall.location.code,
                    "method": e.method,
                    "observed_at": e.observed_at.isoformat(),
                }
                for e in marks
            ],
            sender=sender,
            now=now,
        )


def _record_entries(entries, fresh, *, rollcall: RollCall, by, tablet, now) -> None:
    rejected = [e for e in entries if e.result.errors]
    if not fresh and not rejected:
        return  # only repeats: nothing new to record
    marks = Counter(e.status for e in fresh)
    ledger_append_many(
        facility=rollcall.facility,
        events=[
            PendingEvent(
                action="rollcall.entries",
                subject=rollcall_subject(rollcall),
                actor=actor_label(by),
                data={
                    "accepted": len(fresh),
                    "present": marks[EntryStatus.PRESENT],
                    "absent": marks[EntryStatus.ABSENT],
                    "out_authorized": marks[EntryStatus.OUT_AUTHORIZED],
                    "visual": sum(1 for e in fresh if e.method == CheckInMethod.VISUAL),
                    "methods": dict(Counter(e.method for e in fresh)),
                    "device": str(tablet.pk) if tablet is not None else None,
                    "entries": [str(e.uuid) for e in fresh],
                    "rejected": [
                        {"id": e.result.id, "errors": e.result.errors, "reason": e.result.reason}
                        for e in rejected
                    ],
                },
            )
        ],
        at=now,
    )


# --- Submit, verify, cancel ----------------------------------------------------


@dataclass(frozen=True)
class Settlement:
    present: int
    out: int
    unaccounted: list[dict]


def rollcall_settle(rollcall: RollCall, *, roster: list | None = None) -> Settlement:
    """What the count says of each person on its roster, as of now:

    - **present**: the latest mark (by its own time) is ``present``;
    - **out**: not present, and away with the record's blessing: out on an
      authorised movement at the start, or moved by one since (departed,
      transferred, released, or to a cell outside the unit). A guard's
      ``out_authorized`` mark without such a movement is not enough;
    - **unaccounted**: everyone else, including anyone declared missing.

    The submission records it; a count in progress shows it ahead (the API's
    ``totals.would_be_unaccounted``, the count screen's confirmation), so
    what is confirmed is what is recorded. ``roster``: the count's
    ``rollcall_roster`` if the caller has read it already.
    """
    inside = cells_within(rollcall.location)
    present = out = 0
    unaccounted = []
    for line in roster if roster is not None else rollcall_roster(rollcall):
        if line.mark == EntryStatus.PRESENT:
            present += 1
        elif (
            line.status == InmateStatus.OUT_AUTHORIZED
            or line.status_now in AWAY_WITH_LEAVE
            or (line.status_now == InmateStatus.IN_CUSTODY and line.cell_id_now not in inside)
        ):
            out += 1
        else:
            unaccounted.append(
                {
                    "inmate": line.booking_number,
                    "name": line.name,
                    "cell": line.cell,
                    "marked": line.mark,
                    "status": line.status_now,
                }
            )
    return Settlement(present=present, out=out, unaccounted=unaccounted)


def _lock(rollcall: RollCall) -> RollCall:
    return (
        RollCall.objects.select_for_update(of=("self",))
        .select_related("facility", "location")
        .get(pk=rollcall.pk)
    )


def _require_status(rollcall: RollCall, *statuses: str, step: str) -> None:
    if rollcall.status not in statuses:
        raise Conflict(
            _("This count is %(status)s: it cannot be %(step)s.")
            % {"status": rollcall.get_status_display().lower(), "step": step}
        )


@transaction.atomic
def rollcall_submit(*, rollcall: RollCall, by, now=None) -> RollCall:
    """Closes the count and records what it found; anyone unaccounted is a
    discrepancy (``alerts`` opens it within one reconcile period)."""
    require_counter(by, rollcall.facility)
    now = now or timezone.now()
    rollcall = _lock(rollcall)
    _require_status(rollcall, RollCallStatus.IN_PROGRESS, step=_("submitted"))
    result = rollcall_settle(rollcall)
    rollcall.status = RollCallStatus.SUBMITTED
    rollcall.submitted_at = now
    rollcall.submitted_by = by
    rollcall.present_count = result.present
    rollcall.out_count = result.out
    rollcall.unaccounted_count = len(result.unaccounted)
    rollcall.unaccounted = result.unaccounted
    rollcall.save(
        update_fields=[
            "status",
            "submitted_at",
            "submitted_by",
            "present_count",
            "out_count",
            "unaccounted_count",
            "unaccounted",
        ]
    )
    ledger_append(
        facility=rollcall.facility,
        actor=by,
        action="rollcall.submitted",
        subject=rollcall_subject(rollcall),
        data={
            "location": rollcall.location.code,
            "kind": rollcall.kind,
            "expected": rollcall.expected_count,
            "present": result.present,
            "out_authorized": result.out,
            "unaccounted": [row["inmate"] for row in result.unaccounted],
        },
        at=now,
    )
    return rollcall


@transaction.atomic
def rollcall_cancel(*, rollcall: RollCall, by, reason: str, now=None) -> RollCall:
    """Abandons a count in progress (started by mistake, tablet lost): its
    starter or a supervisor, with a reason. A cancelled count answers no
    schedule; its marks stay in the record."""
    require_counter(by, rollcall.facility)
    now = now or timezone.now()
    rollcall = _lock(rollcall)
    if by.pk != rollcall.started_by_id:
        require_supervisor(by, rollcall.facility)
    _require_status(rollcall, RollCallStatus.IN_PROGRESS, step=_("cancelled"))
    reason = (reason or "").strip()
    if len(reason) < 10:
        raise ValidationError({"reason": _("Say why, in at least 10 characters.")})
    rollcall.status = RollCallStatus.CANCELLED
    rollcall.cancelled_at = now
    rollcall.cancelled_by = by
    rollcall.cancel_reason = reason
    rollcall.save(update_fields=["status", "cancelled_at", "cancelled_by", "cancel_reason"])
    ledger_append(
        facility=rollcall.facility,
        actor=by,
        action="rollcall.cancelled",
        subject=rollcall_subject(rollcall),
        data={"location": rollcall.location.code, "reason": reason},
        at=now,
    )
    return rollcall
