"""Present, then missing: someone vouched for a person who was gone soon after.

The Fraijanes escapes went unnoticed because counts said "present" for
people who were not there. When a person is found missing shortly after an
officer marked them present (or checked them by eye), that mark is the first
thing to look at, and its officer the first person to ask.

Found missing means, within the window after the mark: a later count that
ended with them unaccounted, a missed check-in that no sighting closed (the
record never saw them again; a person closed it or it is still open), or
their status set to missing or escaped.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import DateTimeField, Exists, ExpressionWrapper, OuterRef, Q
from django.utils.translation import gettext as _

from alerts.audit.signals import links
from alerts.audit.signals.base import NUMBER, TIME, Column, Link, Row, Scope, Signal, threshold
from alerts.models import Alert, AlertKind
from custody.models import (
    CheckIn,
    CheckInMethod,
    EntryStatus,
    InmateStatus,
    LedgerEvent,
    RollCall,
    RollCallEntry,
)
from custody.selectors.rollcalls import SETTLED
from custody.services.evidence import PERSON_METHODS

PRESENT_THEN_MISSING_MINUTES = 120  # found missing within this long after the mark
ABSENT = (InmateStatus.MISSING, InmateStatus.ESCAPED)
DECLARED = tuple(f"inmate.declared_{status}" for status in ABSENT)
# inmates' ledger events that set them missing or escaped
_DECLARATION = Q(action__in=DECLARED) | Q(
    action="inmate.updated", data__changes__status__to__in=list(ABSENT)
)


@dataclass(frozen=True)
class Finding:
    at: datetime
    how: str
    link: Link
    rollcall_id: object = None  # a count cannot find missing whom it marked itself
    # Missed check-ins may be many: marks meet them in SQL, not by booking number.
    alert: bool = False


@dataclass(frozen=True)
class Mark:
    """Someone vouching for a person: a present mark on a count, or a visual check."""

    booking: str
    at: datetime
    officer: str | None
    method: str
    place: str  # the counted unit, or where the check was made
    rollcall_id: object = None  # None for a visual check outside a count


def present_then_missing(scope: Scope) -> Signal:
    minutes = threshold("PRESENT_THEN_MISSING_MINUTES", PRESENT_THEN_MISSING_MINUTES)
    window = timedelta(minutes=minutes)
    findings = defaultdict(list)
    for booking, finding in [
        *_unaccounted_on_counts(scope, window),
        *_missed_checkins_never_closed(scope, window),
        *_declared_absent(scope, window),
    ]:
        findings[booking].append(finding)
    found = []
    if findings:
        named = {b for b, fs in findings.items() if any(not f.alert for f in fs)}
        for mark in _marks(scope, window, named):
            first = _first_after(mark, findings.get(mark.booking, ()), window)
            if first is not None:
                found.append((mark, first))
    found.sort(key=lambda pair: (pair[1].at, pair[0].booking, pair[0].at))
    rows = [_row(scope, mark, finding) for mark, finding in found]
    return Signal(
        key="present_then_missing",
        title=_("Marked present, then missing"),
        explanation=_(
            "A count mark of present, or a visual check, for someone found missing within "
            "%(minutes)s minutes after it: a later count left them unaccounted, a missed "
            "check-in for them was not closed by any sighting, or they were declared missing "
            "or escaped. Names the officer who vouched. Fires on any."
        )
        % {"minutes": minutes},
        fired=bool(rows),
        columns=[
            Column("person", _("Person")),
            Column("vouched_at", _("Vouched for at"), TIME),
            Column("method", _("How")),
            Column("where", _("Where")),
            Column("vouched_by", _("Vouched for by")),
            Column("missing_at", _("Found missing at"), TIME),
            Column("found", _("How it was found")),
            Column("minutes_later", _("Minutes later"), NUMBER),
        ],
        rows=rows,
        thresholds={"PRESENT_THEN_MISSING_MINUTES": minutes},
    )


def _first_after(mark: Mark, findings, window) -> Finding | None:
    """The first finding within the window after the mark; a count never
    finds missing someone it marked present itself."""
    later = [
        f
        for f in findings
        if mark.at < f.at <= mark.at + window
        and (f.rollcall_id is None or f.rollcall_id != mark.rollcall_id)
    ]
    return min(later, key=lambda f: f.at) if later else None


def _row(scope: Scope, mark: Mark, finding: Finding) -> Row:
    row_links = [links.person(scope, mark.booking)]
    if mark.officer:
        row_links.append(links.officer(scope, mark.officer))
    if mark.rollcall_id is not None:
        where = _("count of %(unit)s") % {"unit": mark.place}
        row_links.append(links.rollcall(mark.rollcall_id, where))
    else:
        where = mark.place
        row_links.append(
            Link(
                _("visual check"),
                links.api_path(
                    "checkins/",
                    facility=scope.code,
                    inmate=mark.booking,
                    method=CheckInMethod.VISUAL,
                    since=scope.iso(mark.at),
                    until=scope.iso(mark.at + timedelta(seconds=1), up=True),
                ),
            )
        )
    row_links.append(finding.link)
    return Row(
        [
            mark.booking,
            scope.local(mark.at),
            str(CheckInMethod(mark.method).label),
            where,
            mark.officer,
            scope.local(finding.at),
            finding.how,
            round((finding.at - mark.at).total_seconds() / 60, 1),
        ],
        row_links,
    )


# --- When people were found missing (few rows: read them all) -----------------


def _unaccounted_on_counts(scope: Scope, window):
    counts = RollCall.objects.filter(
        facility=scope.facility,
        status__in=SETTLED,
        submitted_at__gte=scope.since,
        submitted_at__lt=scope.until_and(window),
        unaccounted_count__gt=0,
    ).values_list("pk", "submitted_at", "location__code", "unaccounted")
    for pk, submitted_at, unit, unaccounted in counts:
        finding = Finding(
            at=submitted_at,
            how=_("unaccounted on a count of %(unit)s") % {"unit": unit},
            link=links.rollcall(pk, _("count of %(unit)s that missed them") % {"unit": unit}),
            rollcall_id=pk,
        )
        for person in unaccounted:
            yield person["inmate"], finding


def _missed_checkins_never_closed(scope: Scope, window):
    alerts = Alert.objects.filter(
        facility=scope.facility,
        kind=AlertKind.MISSED_CHECKIN,
        inmate__isnull=False,
        opened_at__gte=scope.since,
        opened_at__lt=scope.until_and(window),
        # Closed by a sighting means they were seen again: not missing.
        resolved_by_observation__isnull=True,
    ).values_list("pk", "inmate__booking_number", "opened_at")
    for pk, booking, opened_at in alerts:
        yield (
            booking,
            Finding(
                at=opened_at,
                how=_("missed check-in no sighting closed"),
                link=links.alert(pk),
                alert=True,
            ),
        )


def _declared_absent(scope: Scope, window):
    events = (
        LedgerEvent.objects.filter(
            facility=scope.facility, at__gte=scope.since, at__lt=scope.until_and(window)
        )
        .filter(_DECLARATION)
        .values_list("subject", "action", "at")
    )
    for subject, action, at in events:
        booking = subject.removeprefix("inmate:")
        yield (
            booking,
            Finding(
                at=at,
                how=_("declared missing or escaped"),
                link=Link(
                    _("ledger: %(action)s") % {"action": action},
                    links.api_path("ledger/", facility=scope.code, inmate=booking, action=action),
                ),
            ),
        )


# --- Who vouched for them -------------------------------------------------------


def _found_missing_after(window, named: set[str]) -> Q:
    """Marks followed within the window by something that found the person
    missing; only a filter to read few marks, the exact match is
    ``_first_after``. Counts and declarations are few and name people by
    booking number: matched by it. Missed check-ins may be many: each mark
    asks the alerts' (inmate, opened_at) index."""
    until = ExpressionWrapper(OuterRef("observed_at") + window, output_field=DateTimeField())
    alert_after = Alert.objects.filter(
        inmate_id=OuterRef("inmate_id"),
        kind=AlertKind.MISSED_CHECKIN,
        opened_at__gt=OuterRef("observed_at"),
        opened_at__lte=until,
        resolved_by_observation__isnull=True,
    )
    return Q(inmate__booking_number__in=named) | Exists(alert_after)


def _marks(scope: Scope, window, named: set[str]) -> list[Mark]:
    superseded = RollCallEntry.objects.filter(
        rollcall_id=OuterRef("rollcall_id"),
        inmate_id=OuterRef("inmate_id"),
        observed_at__gt=OuterRef("observed_at"),
    )
    then_missing = _found_missing_after(window, named)
    on_count_marks = (
        RollCallEntry.objects.filter(
            then_missing,
            rollcall__facility=scope.facility,
            status=EntryStatus.PRESENT,
            observed_at__gte=scope.since,
            observed_at__lt=scope.until,
        )
        # The count's word is each person's latest mark on it.
        .exclude(Exists(superseded))
        .values_list(
            "inmate__booking_number",
            "observed_at",
            "recorded_by__username",
            "method",
            "rollcall__location__code",
            "rollcall_id",
        )
    )
    by_eye = (
        CheckIn.objects.filter(
            then_missing,
            facility=scope.facility,
            observed_at__gte=scope.since,
            observed_at__lt=scope.until,
            # A person's word (visual, manual); a reader's tag read is not biometric
            # either, but nobody vouched for it.
            method__in=sorted(PERSON_METHODS),
        )
        # Count marks are check-ins too (same id); they are read above.
        .exclude(Exists(RollCallEntry.objects.filter(id=OuterRef("id"))))
        .values_list(
            "inmate__booking_number",
            "observed_at",
            "recorded_by__username",
            "method",
            "location__code",
        )
    )
    return [Mark(*values) for values in on_count_marks] + [Mark(*values) for values in by_eye]
