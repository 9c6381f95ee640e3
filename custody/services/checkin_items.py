"""Checks on one posted check-in item that need no database: shape, types,
method and the clock rules. Hand-written rather than a DRF serializer per item,
because ingestion validates thousands of items a second (a serializer per item
costs about ten times as much)."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from custody.models import CLOCK_SKEW, MAX_CHECKIN_AGE, CheckInMethod, Device
from custody.services import evidence

MAX_CODE_LENGTH = 32
METHODS = frozenset(CheckInMethod.values)
# A person reports what they see now; only a device may send what it buffered
# offline (up to MAX_CHECKIN_AGE). Ten minutes cover a slow network and a tap
# queued on a tablet, not a check written up at the end of a shift.
PERSON_MAX_DELAY = timedelta(minutes=10)


class Reason:
    """Why an item was rejected; stored with the quarantined item."""

    INVALID = "invalid"
    CLOCK_FUTURE = "clock_future"
    CLOCK_PAST = "clock_past"
    VISUAL_NEEDS_GUARD = "visual_needs_guard"
    UNKNOWN_INMATE = "unknown_inmate"
    # No longer given (another facility's person is unknown to the sender, so
    # that codes cannot be probed); kept because older rows carry it.
    WRONG_FACILITY = "wrong_facility"
    UNKNOWN_LOCATION = "unknown_location"
    # services.evidence: the sender cannot vouch with this method, or a
    # mounted device named a place it does not watch.
    METHOD_NOT_ALLOWED = evidence.METHOD_NOT_ALLOWED
    WRONG_LOCATION = evidence.WRONG_LOCATION


@dataclass
class Item:
    """One posted item on its way through ingestion."""

    index: int
    raw: object
    item_id: str = ""
    uuid: UUID | None = None
    inmate: str = ""
    location: str = ""
    method: str = ""
    score: float | None = None
    observed_at: datetime | None = None
    errors: dict = field(default_factory=dict)
    reason: str = ""
    status: str = ""
    out_of_place: bool = False

    def reject(self, reason: str, field_name: str, message: str) -> None:
        self.errors.setdefault(field_name, []).append(str(message))
        # The first reason names the item; later ones are only in ``errors``.
        self.reason = self.reason or reason


def parse_item(
    index: int, raw, *, now: datetime, device: Device | None, person: bool, default_location: str
):
    """An ``Item`` with its parsed values, or with ``errors`` and a ``reason``.
    ``device`` is the sending device (None: a person's own token or session);
    ``person`` says whether a signed-in person posts (alone or on a device)."""
    item = Item(index=index, raw=raw)
    if not isinstance(raw, dict):
        item.reject(Reason.INVALID, "non_field_errors", _("Each check-in must be a JSON object."))
        return item
    _parse_id(item, raw.get("id"))
    item.inmate = _code(item, raw.get("inmate"), "inmate", required=True)
    item.location = _code(item, raw.get("location", default_location), "location", required=True)
    _parse_method(item, raw.get("method"), device=device, person=person)
    _parse_score(item, raw.get("score"))
    _parse_observed_at(item, raw.get("observed_at"), now=now, from_device=device is not None)
    return item


def parse_item_id(value) -> tuple[str, UUID | None]:
    """An item's ``id`` as answered back (at most 64 characters; canonical
    when a UUID) and its UUID, None when it is none."""
    if isinstance(value, str):
        try:
            uuid = UUID(value)
        except ValueError:
            return value[:64], None
        return str(uuid), uuid
    return ("" if value is None else str(value)[:64]), None


def _parse_id(item: Item, value) -> None:
    item.item_id, item.uuid = parse_item_id(value)
    if item.uuid is not None:
        return
    item.reject(
        Reason.INVALID,
        "id",
        _("A UUID made by the device is required; it makes a repeated post harmless."),
    )


def _code(item: Item, value, name: str, *, required: bool) -> str:
    if value is None or value == "":
        if required:
            item.reject(Reason.INVALID, name, _("This field is required."))
        return ""
    if not isinstance(value, str) or len(value) > MAX_CODE_LENGTH or "\x00" in value:
        item.reject(
            Reason.INVALID,
            name,
            _("Give a code of at most %(max)s characters.") % {"max": MAX_CODE_LENGTH},
        )
        return ""
    return value


def _parse_method(item: Item, value, *, device: Device | None, person: bool) -> None:
    if value not in METHODS:
        item.reject(
            Reason.INVALID,
            "method",
            _("Use one of: %(methods)s.") % {"methods": ", ".join(CheckInMethod.values)},
        )
        return
    if value == CheckInMethod.VISUAL and not person:
        # A device cannot vouch with a person's eyes; a signed-in guard must.
        item.reject(
            Reason.VISUAL_NEEDS_GUARD,
            "method",
            _("A visual check needs a signed-in guard, not a device key."),
        )
        return
    if evidence.method_refusal(method=value, device=device):
        item.reject(Reason.METHOD_NOT_ALLOWED, "method", _method_refused(value, device))
        return
    item.method = value


def _method_refused(method: str, device: Device | None) -> str:
    if device is None:
        return _(
            "A person may post only visual or manual checks; %(method)s needs a device "
            "that declares it."
        ) % {"method": method}
    return _("This device does not declare %(method)s (its methods: %(methods)s).") % {
        "method": method,
        "methods": ", ".join(evidence.methods_canonical(evidence.device_methods(device))),
    }


def _parse_score(item: Item, value) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        item.reject(Reason.INVALID, "score", _("The match score is a number from 0 to 1."))
        return
    item.score = float(value)


def clock_problem(at: datetime, *, now: datetime) -> tuple[str, str] | None:
    """(reason, message) when a device's time breaks the clock rules of
    docs/api.md (at most 2 minutes ahead, 72 hours back), else None."""
    try:
        in_future = at > now + CLOCK_SKEW
        too_old = at < now - MAX_CHECKIN_AGE
    except OverflowError:  # year 1 with a positive offset, and such
        in_future, too_old = False, True
    if in_future:
        return Reason.CLOCK_FUTURE, _(
            "More than 2 minutes in the future: check the device's clock."
        )
    if too_old:
        return Reason.CLOCK_PAST, _("Older than 72 hours: too old to count as a check.")
    return None


def parse_aware_time(value) -> datetime | None:
    """An ISO 8601 time with its offset, or None (missing, malformed, naive)."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        at = parse_datetime(value)
    except ValueError:
        return None
    return at if at is not None and at.tzinfo is not None else None


def _parse_observed_at(item: Item, value, *, now: datetime, from_device: bool) -> None:
    observed_at = parse_aware_time(value)
    if observed_at is None:
        item.reject(
            Reason.INVALID,
            "observed_at",
            _("Give the time of the scan in ISO 8601 with its offset, e.g. %(example)s.")
            % {"example": "2026-11-24T01:15:09-06:00"},
        )
        return
    problem = clock_problem(observed_at, now=now)
    if problem is None and not from_device and observed_at < now - PERSON_MAX_DELAY:
        # Else a person could post "seen at 02:10" at 04:55 and close the alert.
        problem = (
            Reason.CLOCK_PAST,
            _(
                "More than 10 minutes before it was received: a person reports what they see "
                "now; only a device may send scans it kept while offline."
            ),
        )
    if problem:
        item.reject(problem[0], "observed_at", problem[1])
    else:
        item.observed_at = observed_at
