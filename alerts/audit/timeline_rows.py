"""Timeline rows as people read them: what happened, where, who did it.

One reading for the pages and the exports of both timelines (a person's and
an officer's), so a CSV says what the page says. Rows come from
``custody.selectors.Timeline``: ``entry_at``, ``entry_type``, ``entry_id``,
``entry_tz`` and ``entry_summary`` (a JSON object whose times are text).
"""

import json
import zoneinfo
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext

from alerts.audit import officers
from alerts.audit.people import ALERT
from alerts.models import AlertKind, AlertStatus, Severity
from custody.models import (
    CheckInMethod,
    CountKind,
    EntryStatus,
    MovementKind,
    MovementStatus,
    RollCallStatus,
)
from custody.selectors.history import CHECKIN, COUNT_ENTRY, LEDGER, MOVEMENT

TYPE_LABELS = {
    CHECKIN: gettext_lazy("Check-in"),
    COUNT_ENTRY: gettext_lazy("Count mark"),
    MOVEMENT: gettext_lazy("Movement"),
    ALERT: gettext_lazy("Alert"),
    LEDGER: gettext_lazy("Ledger event"),
    officers.COUNT_STARTED: gettext_lazy("Count started"),
    officers.COUNT_SUBMITTED: gettext_lazy("Count submitted"),
    officers.COUNT_VERIFIED: gettext_lazy("Count verified"),
    officers.ALERT_ACKNOWLEDGED: gettext_lazy("Alert acknowledged"),
    officers.ALERT_RESOLVED: gettext_lazy("Alert resolved"),
    officers.MOVEMENT_APPROVED: gettext_lazy("Movement approved"),
}
# A ledger event's data is shown, not dumped: past this it is cut.
DATA_SHOWN = 300


@dataclass
class Line:
    at: datetime  # in the facility's zone
    type: str
    id: str
    facility: str
    what: str
    # (what they did, username); a username may link to the officer's page.
    people: list[tuple[str, str]] = field(default_factory=list)
    place: str | None = None
    place_id: int | None = None
    inmate: str | None = None
    rollcall: str | None = None
    flags: list[str] = field(default_factory=list)
    device: str | None = None
    system: str | None = None  # an actor that is not a person (device:…, system)
    # (what they did, username, whether their officer page exists here): pages.
    links: list[tuple[str, str, bool]] = field(default_factory=list)

    @property
    def clock(self) -> str:
        """The time as the page shows it (already in the facility's zone)."""
        return self.at.strftime("%Y-%m-%d %H:%M:%S")

    @property
    def type_label(self) -> str:
        return str(TYPE_LABELS.get(self.type, self.type))

    @property
    def who(self) -> str:
        """The people as one line of text (exports)."""
        named = [f"{role} {username}" for role, username in self.people]
        named += [value for value in (self.device, self.system) if value]
        return "; ".join(named)


def read(row: dict, *, facility_code: str = "") -> Line:
    """``row`` of a timeline as a ``Line``; ``facility_code`` for the rows
    whose summary does not name it (an officer's, all in one facility)."""
    tz = zoneinfo.ZoneInfo(row["entry_tz"])
    summary = dict(row["entry_summary"])
    line = Line(
        at=row["entry_at"].astimezone(tz),
        type=row["entry_type"],
        id=row["entry_id"],
        facility=summary.get("facility") or facility_code,
        what="",
        place=summary.get("location"),
        place_id=summary.get("location_id"),
        inmate=summary.get("inmate"),
    )
    READERS.get(line.type, _unknown)(line, summary, tz)
    return line


def _checkin(line: Line, s: dict, tz) -> None:
    line.what = _label(CheckInMethod, s.get("method"))
    if s.get("score") is not None:
        line.what += " · " + _("score %(score).2f") % {"score": s["score"]}
    if not s.get("biometric"):
        line.flags.append(_("not biometric"))
    if s.get("out_of_place"):
        line.flags.append(_("out of place"))
    _person(line, _("recorded by"), s.get("recorded_by"))
    line.device = s.get("device_name")


def _count_entry(line: Line, s: dict, tz) -> None:
    line.rollcall = s.get("rollcall")
    line.what = _("%(status)s on a %(kind)s, %(method)s") % {
        "status": _label(EntryStatus, s.get("status")),
        "kind": _label(CountKind, s.get("count_kind")).lower(),
        "method": _label(CheckInMethod, s.get("method")).lower(),
    }
    if s.get("method") == CheckInMethod.VISUAL:
        line.flags.append(_("not biometric"))
    _person(line, _("recorded by"), s.get("recorded_by"))


def _movement(line: Line, s: dict, tz) -> None:
    line.place = s.get("to_location") or s.get("from_location")
    parts = [
        _("%(kind)s, %(status)s")
        % {
            "kind": _label(MovementKind, s.get("kind")),
            "status": _label(MovementStatus, s.get("status")).lower(),
        }
    ]
    if s.get("from_location") and s.get("to_location"):
        parts.append(_("from %(a)s to %(b)s") % {"a": s["from_location"], "b": s["to_location"]})
    if s.get("to_facility"):
        parts.append(_("to facility %(code)s") % {"code": s["to_facility"]})
    parts += [value for value in (s.get("destination"), s.get("reason")) if value]
    line.what = " · ".join(parts)
    _person(line, _("requested by"), s.get("requested_by"))
    _person(line, _("approved by"), s.get("approved_by"))


def _ledger(line: Line, s: dict, tz) -> None:
    data = s.get("data")
    shown = json.dumps(data, ensure_ascii=False, sort_keys=True) if data else ""
    if len(shown) > DATA_SHOWN:
        shown = shown[: DATA_SHOWN - 1] + "…"
    line.what = f"#{s.get('seq')} {s.get('action')} {shown}".strip()
    actor = s.get("actor") or ""
    if actor.startswith("user:"):
        _person(line, pgettext("who did a ledger event", "by"), actor.removeprefix("user:"))
    else:
        line.system = actor


def _alert(line: Line, s: dict, tz) -> None:
    opened = line.at
    parts = [_alert_title(s)]
    acknowledged = _time(s.get("acknowledged_at"), tz)
    if acknowledged:
        parts.append(
            _("acknowledged %(when)s, after %(wait)s")
            % {"when": _clock(acknowledged), "wait": duration(acknowledged - opened)}
        )
    resolved = _time(s.get("resolved_at"), tz)
    if resolved:
        parts.append(
            _("resolved %(when)s, after %(wait)s: “%(why)s”")
            % {
                "when": _clock(resolved),
                "wait": duration(resolved - opened),
                "why": s.get("resolution") or "",
            }
        )
    if s.get("escalation_level"):
        parts.append(_("climbed to level %(n)s") % {"n": s["escalation_level"]})
    line.what = " · ".join(parts)
    if s.get("status") != AlertStatus.RESOLVED:
        line.flags.append(_label(AlertStatus, s.get("status")).lower())
    _person(line, _("acknowledged by"), s.get("acknowledged_by"))
    _person(line, _("resolved by"), s.get("resolved_by"))


def _count(line: Line, s: dict, tz) -> None:
    line.rollcall = line.id
    parts = [
        _("%(kind)s, %(status)s")
        % {
            "kind": _label(CountKind, s.get("kind")),
            "status": _label(RollCallStatus, s.get("status")).lower(),
        },
        _("expected %(n)s") % {"n": s.get("expected")},
    ]
    if s.get("present") is not None:
        parts.append(
            _("present %(present)s, out %(out)s, unaccounted %(missing)s")
            % {
                "present": s["present"],
                "out": s.get("out_authorized"),
                "missing": s.get("unaccounted"),
            }
        )
        if s.get("unaccounted"):
            line.flags.append(_("unaccounted"))
    line.what = " · ".join(parts)
    if line.type == officers.COUNT_VERIFIED:
        # Whose count they vouched for: the pair matters to an auditor.
        _person(line, _("started by"), s.get("started_by"))
        _person(line, _("submitted by"), s.get("submitted_by"))


def _officer_alert(line: Line, s: dict, tz) -> None:
    opened = _time(s.get("opened_at"), tz)
    parts = [_alert_title(s)]
    if opened:
        parts.append(
            _("opened %(when)s, %(wait)s before")
            % {"when": _clock(opened), "wait": duration(line.at - opened)}
        )
    if line.type == officers.ALERT_RESOLVED:
        parts.append(f"“{s.get('resolution') or ''}”")
    line.what = " · ".join(parts)


def _approval(line: Line, s: dict, tz) -> None:
    parts = [
        _("%(kind)s, now %(status)s")
        % {
            "kind": _label(MovementKind, s.get("kind")),
            "status": _label(MovementStatus, s.get("status")).lower(),
        }
    ]
    if s.get("to_facility"):
        parts.append(_("to facility %(code)s") % {"code": s["to_facility"]})
    parts += [value for value in (s.get("to_location"), s.get("destination")) if value]
    line.what = " · ".join(parts)
    line.place = s.get("to_location")
    _person(line, _("requested by"), s.get("requested_by"))


def _unknown(line: Line, s: dict, tz) -> None:
    line.what = json.dumps(s, ensure_ascii=False, sort_keys=True)[:DATA_SHOWN]


READERS = {
    CHECKIN: _checkin,
    COUNT_ENTRY: _count_entry,
    MOVEMENT: _movement,
    LEDGER: _ledger,
    ALERT: _alert,
    officers.COUNT_STARTED: _count,
    officers.COUNT_SUBMITTED: _count,
    officers.COUNT_VERIFIED: _count,
    officers.ALERT_ACKNOWLEDGED: _officer_alert,
    officers.ALERT_RESOLVED: _officer_alert,
    officers.MOVEMENT_APPROVED: _approval,
}


def _alert_title(s: dict) -> str:
    return _("%(kind)s (%(severity)s)") % {
        "kind": _label(AlertKind, s.get("kind")),
        "severity": _label(Severity, s.get("severity")).lower(),
    }


def _person(line: Line, role: str, username: str | None) -> None:
    if username:
        line.people.append((role, username))


def _label(choices, value) -> str:
    try:
        return str(choices(value).label)
    except ValueError:
        return str(value or "")


def _time(text, tz) -> datetime | None:
    if not text:
        return None
    moment = parse_datetime(text)
    if moment is None:
        return None
    return moment.astimezone(tz)


def _clock(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M")


def duration(span: timedelta | None) -> str:
    """A wait as people say it: 45 s, 12 min, 3 h 05 min, 2 d 4 h."""
    if span is None:
        return ""
    seconds = max(0, int(span.total_seconds()))
    if seconds < 60:
        return _("%(s)d s") % {"s": seconds}
    minutes = seconds // 60
    if minutes < 60:
        return _("%(m)d min") % {"m": minutes}
    hours = minutes // 60
    if hours < 48:
        return _("%(h)d h %(m)02d min") % {"h": hours, "m": minutes % 60}
    return _("%(d)d d %(h)d h") % {"d": hours // 24, "h": hours % 24}
