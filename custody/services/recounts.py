"""Verifying a count is recounting a sample of it (docs/api.md "Roll calls").

- **start** (``recount_start``): a second officer (never one who took part)
  asks to verify a submitted count; the server draws the sample then, and the
  draw goes into the ledger. A share of the people the count says are present
  (the facility's ``recount_sample_percent``, never fewer than
  ``RECOUNT_FLOOR``), always with everyone whose mark was only a person's word
  (``visual`` or ``manual``). Asking again answers the same draw, so nobody
  redraws until the sample suits.
- **marks** (``recount_record_marks``): the verifier marks each sampled person
  present or absent, with the same idempotency and clock rules as count
  entries; the first officer's marks are not shown to them meanwhile.
- **verify** (``rollcall_verify``): with every sampled person marked,
  a recount that found everyone verifies the count; one that did not leaves
  it unverified, and ``alerts`` opens a ``count_discrepancy`` naming both
  officers.
"""

import math
import secrets

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from custody.exceptions import Conflict
from custody.models import (
    CLOCK_SKEW,
    CountVerification,
    EntryStatus,
    RecountMark,
    RecountStatus,
    RollCall,
    RollCallExpected,
    RollCallStatus,
)
from custody.selectors.rollcalls import latest_by_person, latest_marks, took_part
from custody.services.evidence import PERSON_METHODS
from custody.services.ledger import PendingEvent, actor_label, ledger_append, ledger_append_many
from custody.services.rollcalls import (
    ACCEPTED,
    DUPLICATE,
    REJECTED,
    _lock,
    _parse_entry,
    _present_as_checkins,
    _refuse_evidence,
    _require_status,
    _tablet_of,
    require_counter,
    rollcall_subject,
)

RECOUNT_FLOOR = 5
# What a person's word alone says: always recounted.
PERSONS_WORD = PERSON_METHODS


def _require_second_officer(rollcall: RollCall, by) -> None:
    require_counter(by, rollcall.facility)
    if took_part(rollcall, by):
        raise PermissionDenied(_("You took part in this count; a second officer must verify it."))


def _claimed_present(rollcall: RollCall) -> list[dict]:
    """The roster's people whose latest mark is present, with that mark's method."""
    latest = latest_marks(rollcall)
    rows = (
        RollCallExpected.objects.filter(rollcall=rollcall)
        .order_by("cell__code", "inmate__booking_number")
        .values_list(
            "inmate_id",
            "inmate__booking_number",
            "inmate__first_name",
            "inmate__last_name",
            "cell__code",
        )
    )
    return [
        {
            "inmate_id": inmate_id,
            "inmate": booking,
            "name": f"{first} {last}",
            "cell": cell,
            "method": latest[inmate_id][1],
        }
        for inmate_id, booking, first, last, cell in rows
        if latest.get(inmate_id, ("",))[0] == EntryStatus.PRESENT
    ]


def sample_size(population: int, percent: int) -> int:
    return min(population, max(RECOUNT_FLOOR, math.ceil(population * percent / 100)))


def draw_sample(rollcall: RollCall, *, rng=None) -> list[dict]:
    """Who the verifier recounts: everyone marked present on a person's word,
    then a random draw of the rest up to the sample size."""
    rng = rng or secrets.SystemRandom()
    present = _claimed_present(rollcall)
    size = sample_size(len(present), rollcall.facility.recount_sample_percent)
    forced = [row for row in present if row["method"] in PERSONS_WORD]
    others = [row for row in present if row["method"] not in PERSONS_WORD]
    drawn = rng.sample(others, max(0, min(len(others), size - len(forced))))
    chosen = {row["inmate_id"] for row in forced} | {row["inmate_id"] for row in drawn}
    return [
        {
            "inmate_id": row["inmate_id"],
            "inmate": row["inmate"],
            "name": row["name"],
            "cell": row["cell"],
            "reason": "persons_word" if row["method"] in PERSONS_WORD else "random",
        }
        for row in present
        if row["inmate_id"] in chosen
    ]


@transaction.atomic
def recount_start(*, rollcall: RollCall, by, now=None) -> CountVerification:
    """The sample ``by`` must recount to verify ``rollcall``: drawn now, or the
    one drawn for them before (a retried start answers the same draw)."""
    _require_second_officer(rollcall, by)
    now = now or timezone.now()
    rollcall = _lock(rollcall)
    existing = CountVerification.objects.filter(rollcall=rollcall).first()
    if existing is not None:
        if existing.finished_at is not None:
            raise Conflict(_("This count's recount is finished; count the unit again to clear it."))
        if existing.verifier_id != by.pk:
            raise Conflict(
                _("%(name)s is verifying this count (sample drawn %(when)s).")
                % {
                    "name": existing.verifier.username,
                    "when": date_format(
                        timezone.localtime(existing.drawn_at, rollcall.facility.tzinfo),
                        "DATETIME_FORMAT",
                    ),
                }
            )
        return existing
    _require_status(rollcall, RollCallStatus.SUBMITTED, step=_("verified"))
    sample = draw_sample(rollcall)
    verification = CountVerification.objects.create(
        rollcall=rollcall, facility=rollcall.facility, verifier=by, drawn_at=now, sample=sample
    )
    ledger_append(
        facility=rollcall.facility,
        actor=by,
        action="rollcall.recount_drawn",
        subject=rollcall_subject(rollcall),
        data={
            "location": rollcall.location.code,
            "percent": rollcall.facility.recount_sample_percent,
            "present": rollcall.present_count,
            "sample": [row["inmate"] for row in sample],
            "persons_word": [row["inmate"] for row in sample if row["reason"] == "persons_word"],
        },
        at=now,
    )
    return verification


def hidden_from_verifier(rollcall: RollCall, user) -> set[str]:
    """Booking numbers whose count marks ``user`` must not see: the people
    drawn for their unfinished recount of ``rollcall``."""
    verification = CountVerification.objects.filter(
        rollcall=rollcall, verifier_id=user.pk, finished_at__isnull=True
    ).first()
    return {row["inmate"] for row in verification.sample} if verification else set()


def recount_marks(verification: CountVerification) -> dict[int, str]:
    """Each sampled person's latest recount mark, by its own time."""
    marks = latest_by_person(RecountMark.objects.filter(verification=verification), "status")
    return {inmate_id: status for inmate_id, (status,) in marks.items()}


def recount_record_marks(*, rollcall: RollCall, raw_marks: list, by, device=None, now=None):
    """Stores the verifier's good marks and answers one result per item, in
    order, like count entries (``accepted``, ``duplicate``, ``rejected``):
    the verifier vouches for visual and manual marks, an enrolled tablet
    (``device``) for its scans, by the count entries' evidence rules."""
    now = now or timezone.now()
    with transaction.atomic():
        rollcall = _lock(rollcall)
        tablet = _tablet_of(device, rollcall)
        verification = (
            CountVerification.objects.select_for_update().filter(rollcall=rollcall).first()
        )
        if verification is None or verification.verifier_id != by.pk:
            raise Conflict(_("Start the recount first: the server draws who you recount."))
        if verification.finished_at is not None:
            raise Conflict(_("This recount is finished: no more marks."))
        sampled = {row["inmate"]: row["inmate_id"] for row in verification.sample}
        entries = [_parse_entry(raw, rollcall=rollcall, now=now) for raw in raw_marks]
        fresh = []
        for entry in entries:
            if entry.result.errors:
                continue
            if entry.status not in RecountStatus.values:
                entry.result.reject(
                    "status", _("Use one of: %s.") % ", ".join(RecountStatus.values)
                )
            elif _refuse_evidence(entry, tablet=tablet, rollcall=rollcall):
                pass
            elif entry.inmate not in sampled:
                entry.result.reject(
                    "inmate",
                    _("%(number)s is not in the sample drawn for this recount.")
                    % {"number": entry.inmate},
                )
            elif entry.observed_at < verification.drawn_at - CLOCK_SKEW:
                entry.result.reject(
                    "observed_at", _("Before the recount started: check the tablet's clock.")
                )
            else:
                fresh.append(entry)
        known = set(
            RecountMark.objects.filter(pk__in=[e.uuid for e in fresh]).values_list("pk", flat=True)
        )
        for entry in fresh:
            # Stored before, or already in this batch (a queue replayed twice).
            entry.result.status = DUPLICATE if entry.uuid in known else ACCEPTED
            known.add(entry.uuid)
        fresh = [e for e in fresh if e.result.status == ACCEPTED]
        RecountMark.objects.bulk_create(
            [
                RecountMark(
                    id=e.uuid,
                    verification=verification,
                    inmate_id=sampled[e.inmate],
                    status=e.status,
                    method=e.method,
                    observed_at=e.observed_at,
                    received_at=now,
                    recorded_by=by,
                )
                for e in fresh
            ]
        )
        # Seen present by the verifier: an observation like any count mark.
        _present_as_checkins(fresh, rollcall=rollcall, by=by, tablet=tablet, now=now)
        rejected = [e for e in entries if e.result.errors]
        if fresh or rejected:
            ledger_append_many(
                facility=rollcall.facility,
                events=[
                    PendingEvent(
                        action="rollcall.recount_marks",
                        subject=rollcall_subject(rollcall),
                        actor=actor_label(by),
                        data={
                            "accepted": [{"inmate": e.inmate, "status": e.status} for e in fresh],
                            "rejected": [
                                {"id": e.result.id, "errors": e.result.errors} for e in rejected
                            ],
                        },
                    )
                ],
                at=now,
            )
    for entry in entries:
        if entry.result.errors:
            entry.result.status = REJECTED
    return [entry.result for entry in entries]


@transaction.atomic
def rollcall_verify(*, rollcall: RollCall, by, now=None) -> RollCall:
    """Closes ``by``'s recount of ``rollcall``. Everyone drawn found present:
    the count is verified. Anyone not found: it stays unverified, the
    verification records who, and ``alerts`` opens ``count_discrepancy``
    naming both officers. Refused while anyone drawn is unmarked."""
    _require_second_officer(rollcall, by)
    now = now or timezone.now()
    rollcall = _lock(rollcall)
    _require_status(rollcall, RollCallStatus.SUBMITTED, step=_("verified"))
    verification = CountVerification.objects.select_for_update().filter(rollcall=rollcall).first()
    if verification is None or verification.verifier_id != by.pk:
        raise Conflict(_("Verifying is recounting: start the recount, then mark everyone drawn."))
    if verification.finished_at is not None:
        raise Conflict(_("This count's recount is finished; count the unit again to clear it."))
    marks = recount_marks(verification)
    unmarked = [row for row in verification.sample if row["inmate_id"] not in marks]
    if unmarked:
        people = ", ".join(f"{row['name']} ({row['inmate']})" for row in unmarked[:10])
        raise Conflict(
            _("Recount everyone drawn first; still to mark: %(people)s.")
            % {"people": people + ("…" if len(unmarked) > 10 else "")}
        )
    missing = [
        {"inmate": row["inmate"], "name": row["name"], "cell": row["cell"], "marked": "absent"}
        for row in verification.sample
        if marks[row["inmate_id"]] != RecountStatus.PRESENT
    ]
    verification.finished_at = now
    verification.missing = missing
    verification.save(update_fields=["finished_at", "missing"])
    data = {
        "location": rollcall.location.code,
        "unaccounted": rollcall.unaccounted_count,
        "sampled": len(verification.sample),
        "not_found": [row["inmate"] for row in missing],
    }
    if not missing:
        rollcall.status = RollCallStatus.VERIFIED
        rollcall.verified_at = now
        rollcall.verified_by = by
        rollcall.save(update_fields=["status", "verified_at", "verified_by"])
    ledger_append(
        facility=rollcall.facility,
        actor=by,
        action="rollcall.verified" if not missing else "rollcall.recount_failed",
        subject=rollcall_subject(rollcall),
        data=data,
        at=now,
    )
    return rollcall
