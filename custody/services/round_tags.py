"""Location tags (docs/api.md "Rounds"): registered by an administrator,
retired, never reassigned.

A uid proves one place of one facility forever: the unique constraint counts
retired tags too, and the database lets a tag take one write after its
registration, its retirement (``custody.migrations._round_guards``). A cell's
first tag puts it under the rounds watch: from then on it is due like any
checked cell (``custody.services.rounds``).
"""

import base64
import re
import secrets

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from custody.models import Location, LocationKind, LocationTag, TagKind
from custody.services.ledger import ledger_append
from custody.services.rounds_schedule import draw_next_due

UID_MAX = 128
# What a reader or a printed code may carry: letters, digits and the
# separators readers put between hex bytes (dropped when normalised).
_UID_CHARS = re.compile(r"^[A-Za-z0-9:\-_. ]+$")
_SEPARATORS = re.compile(r"[:\-_. ]")
# 80 random bits in base 32: a printed code nobody can guess or derive.
QR_RANDOM_BYTES = 10


def normalise_uid(value) -> str:
    """The stored form of a scanned uid: upper case, separators dropped, so
    ``04:a2:1b`` and ``04A21B`` are one tag. Empty for anything unusable."""
    if not isinstance(value, str) or not value.strip() or len(value) > UID_MAX:
        return ""
    if not _UID_CHARS.match(value):
        return ""
    return _SEPARATORS.sub("", value).upper()


def new_qr_uid() -> str:
    raw = base64.b32encode(secrets.token_bytes(QR_RANDOM_BYTES)).decode().rstrip("=")
    return f"QR{raw}"


def tag_register(*, location: Location, kind: str, by, uid: str = "", label: str = "", now=None):
    """Registers a tag at ``location``. ``uid`` as read off the tag (RFID,
    NFC); for a printed QR code it may be left out and is then drawn at
    random. Refused when the uid was ever registered in the facility."""
    now = now or timezone.now()
    if kind not in TagKind.values:
        raise ValidationError({"kind": _("Use one of: %s.") % ", ".join(TagKind.values)})
    if uid:
        stored = normalise_uid(uid)
        if not stored:
            raise ValidationError(
                {
                    "uid": _(
                        "Give the tag's uid: letters and digits (colons, dashes or spaces "
                        "between bytes are dropped), at most %(max)s characters."
                    )
                    % {"max": UID_MAX}
                }
            )
    elif kind == TagKind.QR:
        stored = new_qr_uid()
    else:
        raise ValidationError({"uid": _("An RFID or NFC tag needs the uid read off it.")})
    try:
        with transaction.atomic():
            tag = LocationTag.objects.create(
                facility_id=location.facility_id,
                location=location,
                uid=stored,
                kind=kind,
                label=label[:100],
                registered_at=now,
                registered_by=by,
            )
    except IntegrityError:
        raise ValidationError(
            {"uid": _("This uid was already registered in this facility; a tag is never reused.")}
        ) from None
    with transaction.atomic():
        _watch_from_first_tag(location, now=now)
        ledger_append(
            facility=location.facility,
            actor=by,
            action="location.tag_registered",
            subject=f"location:{location.code}",
            data={"uid": tag.uid, "kind": tag.kind, "label": tag.label},
            at=now,
        )
    return tag


def _watch_from_first_tag(location: Location, *, now) -> None:
    """A cell that can now be checked is due from now on (a cell nobody can
    check would only ever raise missed_round: the compliance report lists
    those, ``custody.selectors.rounds.cells_without_tag``)."""
    if location.kind != LocationKind.CELL:
        return
    next_due, deadline = draw_next_due(
        facility=location.facility, level=location.watch_level, after=now
    )
    Location.objects.filter(pk=location.pk, round_deadline_at__isnull=True).update(
        last_round_at=None, next_round_due_at=next_due, round_deadline_at=deadline
    )


def tag_retire(*, tag: LocationTag, reason: str, by, now=None) -> LocationTag:
    """Retires ``tag`` for good (lost, broken, replaced): a scan of it is
    refused from now on, and its uid can never be registered again."""
    now = now or timezone.now()
    reason = (reason or "").strip()
    if len(reason) < 5:
        raise ValidationError({"reason": _("Say why the tag is retired (5 characters at least).")})
    with transaction.atomic():
        changed = LocationTag.objects.filter(pk=tag.pk, retired_at__isnull=True).update(
            retired_at=now, retired_by=by, retire_reason=reason[:2000]
        )
        if not changed:
            raise ValidationError({"uid": _("This tag is already retired.")})
        tag.refresh_from_db()
        ledger_append(
            facility=tag.location.facility,
            actor=by,
            action="location.tag_retired",
            subject=f"location:{tag.location.code}",
            data={"uid": tag.uid, "kind": tag.kind, "reason": tag.retire_reason},
            at=now,
        )
    return tag
