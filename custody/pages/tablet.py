"""Tablet pages of the count flow (/counts/): pick a unit, count it tile by
tile (offline-first, custody/static/custody/counts.js), submit, recount,
verify.

Thin: ``custody.services.rollcalls`` decide (who may count, what a mark
is, what a count found); selectors give the data. With JavaScript the count
screen marks through the API (``/api/v1/rollcalls/<id>/entries/``) from a
queue kept on the tablet; without it every tile is a form posted to
``count_mark``, one mark at a time.
"""

import uuid
from dataclasses import dataclass
from urllib.parse import quote

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.staticfiles import finders
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext
from django.views.decorators.http import require_GET, require_POST

from custody.exceptions import Conflict
from custody.models import CheckInMethod, CountKind, EntryStatus, RollCall, RollCallStatus
from custody.pages.offline import kept_offline
from custody.pages.tablet_enrol import tablet_enrol_page, tablet_status
from custody.roles import SUPERVISING_ROLES
from custody.selectors import location_list
from custody.selectors.rollcalls import (
    counts_awaiting_verification,
    live_tally,
    rollcall_list,
    rollcall_roster,
    took_part,
)
from custody.selectors.tablet import count_board, where_someone_belongs
from custody.services import rollcalls
from custody.tablet_credential import renew_tablet, tablet_from_request

OUT_AUTHORIZED = "out_authorized"
AWAITING_SHOWN = 20
# The list of who is left to count opens by itself only when it is short.
LEFT_OPEN_UP_TO = 12


def _may_count(user, facility) -> bool:
    # The service's rule, asked ahead only to hide controls that would answer 403.
    try:
        rollcalls.require_counter(user, facility)
    except PermissionDenied:
        return False
    return True


def _error_text(exc: ValidationError) -> str:
    return " ".join(exc.messages)


def _visible_rollcall(request, pk) -> RollCall:
    """A count of one of the caller's facilities; 404 for any other."""
    return get_object_or_404(rollcall_list(user=request.user), pk=pk)


def facility_clock(facility) -> dict:
    """What the on-screen clock ticks from: the server's time and the
    facility's UTC offset now (counts.js adds the seconds since)."""
    now = timezone.now()
    offset = now.astimezone(facility.tzinfo).utcoffset()
    return {
        "server_ms": int(now.timestamp() * 1000),
        "offset_minutes": int(offset.total_seconds() // 60),
        "zone": facility.timezone,
    }


# --- Pick a unit ----------------------------------------------------------------


def _board_context(request, **extra) -> dict:
    boards = count_board(user=request.user)
    return {
        "boards": [
            {
                "board": board,
                "may_count": _may_count(request.user, board.facility),
                "clock": facility_clock(board.facility),
                # A fresh count id per start form (see StartForm.rollcall_id).
                "units": [{"line": line, "new_id": uuid.uuid4()} for line in board.units],
            }
            for board in boards
        ],
        "awaiting": _awaiting_verification(request.user),
        "script_strings": script_strings(),
        **tablet_status(request),
        **extra,
    }


def _awaiting_verification(user) -> list[RollCall]:
    # The latest first: a count left unverified for weeks must not hide today's.
    latest = counts_awaiting_verification(user=user).order_by("-submitted_at")
    return list(latest[:AWAITING_SHOWN])


def _render_board(request, *, status=200, **extra):
    response = render(
        request, "custody/counts/board.html", _board_context(request, **extra), status=status
    )
    renew_tablet(request, response)
    return response


@login_required
@require_GET
@kept_offline
def count_board_page(request):
    return _render_board(request)


class StartForm(forms.Form):
    unit = forms.IntegerField(min_value=1)
    kind = forms.ChoiceField(choices=CountKind.choices)
    # Made when the board was drawn: a double tap, or a form posted again,
    # answers the same count instead of a second one.
    rollcall_id = forms.UUIDField(required=False)
    recount_of = forms.UUIDField(required=False)


@login_required
@require_POST
def count_start(request):
    form = StartForm(request.POST)
    if not form.is_valid():
        return _render_board(
            request, status=400, flash_error=_("Choose a unit and a kind of count.")
        )
    data = form.cleaned_data
    location = get_object_or_404(location_list(user=request.user), pk=data["unit"])
    recount_of = None
    if data["recount_of"]:
        recount_of = _visible_rollcall(request, data["recount_of"])
    try:
        rollcall, _created = rollcalls.rollcall_start(
            location=location,
            kind=data["kind"],
            by=request.user,
            rollcall_id=data["rollcall_id"],
            recount_of=recount_of,
        )
    except PermissionDenied as exc:
        return _render_board(request, status=403, flash_error=str(exc))
    except ValidationError as exc:
        return _render_board(request, status=400, flash_error=_error_text(exc))
    except Conflict as exc:
        return _join_running_count(request, location, exc)
    return redirect("counts-count", pk=rollcall.pk)


def _join_running_count(request, location, exc: Conflict):
    """Two tablets, one unit: the second joins the count already going."""
    running = rollcall_list(user=request.user).filter(
        location=location, status=RollCallStatus.IN_PROGRESS
    )
    current = running.first()
    if current is None:
        return _render_board(request, status=409, flash_error=exc.message)
    messages.info(
        request,
        _("A count of %(unit)s was already in progress: you have joined it.")
        % {"unit": location.code},
    )
    return redirect("counts-count", pk=current.pk)


# --- The count screen --------------------------------------------------------------


@dataclass(frozen=True)
class Tile:
    """One person on the count screen."""

    booking_number: str
    name: str
    cell: str
    status: str  # at the start of the count
    whereabouts: str
    mark: str | None
    mark_method: str | None
    initials: str
    # For the form without JavaScript: posted twice, it is stored once.
    entry_id: uuid.UUID

    @property
    def out(self) -> bool:
        return self.status == OUT_AUTHORIZED


def initials(name: str) -> str:
    """Two letters for the photo placeholder: first and last word of the name."""
    words = name.split()
    if not words:
        return "?"
    return (words[0][:1] + (words[-1][:1] if len(words) > 1 else "")).upper()


def _tiles(rollcall: RollCall) -> list[Tile]:
    return [
        Tile(
            booking_number=line.booking_number,
            name=line.name,
            cell=line.cell,
            status=line.status,
            whereabouts=line.whereabouts,
            mark=line.mark,
            mark_method=line.mark_method,
            initials=initials(line.name),
            entry_id=uuid.uuid4(),
        )
        for line in rollcall_roster(rollcall)
    ]


def plural_forms(say) -> dict:
    # Spanish and English alike: one form for 1, another for every other number.
    return {"one": say(1), "other": say(2)}


def script_strings() -> dict:
    """What counts.js says, translated here (the page carries it as JSON)."""

    return {
        "pending": plural_forms(
            lambda n: ngettext("%(n)s mark waiting to send", "%(n)s marks waiting to send", n)
        ),
        "all_sent": _("All marks sent"),
        "others_waiting": plural_forms(
            lambda n: ngettext(
                "%(n)s mark made under another sign-in is kept on this tablet until that "
                "officer signs in again.",
                "%(n)s marks made under another sign-in are kept on this tablet until that "
                "officer signs in again.",
                n,
            )
        ),
        "online": _("Online"),
        "offline": _("Offline: marks are kept on this tablet"),
        "sending": _("Sending…"),
        "present": pgettext("count mark", "Present"),
        "absent": pgettext("count mark", "Absent"),
        "not_on_roster": _("%(number)s is not on this count's roster."),
        "session_ended": _("Your session has ended: sign in again. The marks stay on this tablet."),
        "server_error": _("The server answered error %(status)s; the marks will be sent again."),
        "cannot_submit": _(
            "Cannot submit yet: marks are still waiting to send. "
            "Reconnect to the network and try again."
        ),
        "confirm_left": plural_forms(
            lambda n: ngettext(
                "%(n)s person will be reported unaccounted (not counted present and not "
                "out on a movement on record). Press Submit again to confirm.",
                "%(n)s people will be reported unaccounted (not counted present and not "
                "out on a movement on record). Press Submit again to confirm.",
                n,
            )
        ),
        "already_present": _("already counted present"),
        "out_marked": _("Out, authorised"),
        "dismiss": _("Dismiss"),
        "refused_marks": plural_forms(
            lambda n: ngettext(
                "%(n)s mark was refused by the server: open its count to see why.",
                "%(n)s marks were refused by the server: open their counts to see why.",
                n,
            )
        ),
        "storage_failed": _(
            "This tablet could not store the last mark: keep this page open until it is sent."
        ),
        "no_storage": _(
            "This browser cannot keep marks on the tablet: do not reload the page before "
            "every mark is sent."
        ),
        "submit_failed": _("The count could not be submitted: %(detail)s"),
        "submitted_elsewhere": _("This count has been closed on another tablet."),
        "methods": {
            CheckInMethod.RFID: _("RFID"),
            CheckInMethod.MANUAL: pgettext("mark method", "manual"),
            CheckInMethod.VISUAL: pgettext("mark method", "visual"),
        },
        "nfc_failed": _("NFC reading could not start: %(detail)s"),
        "clock_off": _(
            "This tablet's clock is %(minutes)s minutes off the server's: its marks may be "
            "refused. Have the clock set."
        ),
    }


def _count_context(request, rollcall: RollCall, **extra) -> dict:
    tiles = _tiles(rollcall)
    in_progress = rollcall.status == RollCallStatus.IN_PROGRESS
    may_count = _may_count(request.user, rollcall.facility)
    return {
        "rollcall": rollcall,
        "facility": rollcall.facility,
        "clock": facility_clock(rollcall.facility),
        "tiles_inside": [t for t in tiles if not t.out],
        "tiles_out": [t for t in tiles if t.out],
        "tallies": live_tally(tiles),  # counts.js keeps them current
        "in_progress": in_progress,
        "may_mark": in_progress and may_count,
        "may_count": may_count,
        "may_recount": may_count
        and rollcall.status in (RollCallStatus.SUBMITTED, RollCallStatus.VERIFIED),
        # The services' rules, asked ahead only to show the forms that would work.
        "may_verify": rollcall.needs_verification
        and may_count
        and not took_part(rollcall, request.user),
        "may_cancel": in_progress
        and may_count
        and (rollcall.started_by_id == request.user.pk or request.user.role in SUPERVISING_ROLES),
        "left_open_up_to": LEFT_OPEN_UP_TO,
        "scan_entry_id": uuid.uuid4(),
        "recount_id": uuid.uuid4(),
        "script_strings": script_strings(),
        **tablet_status(request, rollcall.facility),
        **extra,
    }


def render_count(request, rollcall: RollCall, *, status=200, **extra):
    context = _count_context(request, rollcall, **extra)
    response = render(request, "custody/counts/count.html", context, status=status)
    renew_tablet(request, response)
    return response


@login_required
@require_GET
@kept_offline
def count_screen(request, pk):
    return render_count(request, _visible_rollcall(request, pk))


class MarkForm(forms.Form):
    """One mark from the page without JavaScript (a tile or the scan box)."""

    entry_id = forms.UUIDField()
    inmate = forms.CharField(max_length=32, strip=True)
    status = forms.ChoiceField(choices=[(s, s) for s in (EntryStatus.PRESENT, EntryStatus.ABSENT)])
    # Without JavaScript a scan cannot be told from typing: the scan box posts
    # ``manual``; ``rfid`` is accepted only from an enrolled tablet (the service).
    method = forms.ChoiceField(
        choices=[(m, m) for m in (CheckInMethod.VISUAL, CheckInMethod.MANUAL, CheckInMethod.RFID)],
        required=False,
    )


@login_required
@require_POST
def count_mark(request, pk):
    rollcall = _visible_rollcall(request, pk)
    form = MarkForm(request.POST)
    if not form.is_valid():
        return render_count(
            request, rollcall, status=400, flash_error=_("Tap a person or scan a wristband.")
        )
    data = form.cleaned_data
    raw = {
        "id": str(data["entry_id"]),
        "inmate": data["inmate"],
        "status": data["status"],
        "method": data["method"] or CheckInMethod.VISUAL,
        # Posted now, so the server's clock is the mark's time.
        "observed_at": timezone.now().isoformat(),
    }
    try:
        (result,) = rollcalls.rollcall_record_entries(
            rollcall=rollcall,
            raw_entries=[raw],
            by=request.user,
            device=tablet_from_request(request),
        )
    except PermissionDenied as exc:
        return render_count(request, rollcall, status=403, flash_error=str(exc))
    if result.status == rollcalls.REJECTED:
        problems = [m for errors in result.errors.values() for m in errors]
        where = where_someone_belongs(user=request.user, booking_number=data["inmate"])
        if where is not None and "inmate" in result.errors:
            problems.append(belongs_text(where, rollcall))
        return render_count(request, rollcall, status=400, flash_error=" ".join(problems))
    # Back to the tile just marked.
    tile = quote(data["inmate"], safe="")
    return redirect(f"{reverse('counts-count', args=[rollcall.pk])}#tile-{tile}")


def belongs_text(where, rollcall: RollCall) -> str:
    """Where someone scanned on the wrong count belongs, in a sentence."""
    values = {
        "number": where.booking_number,
        "name": where.name,
        "unit": where.unit,
        "cell": where.cell,
        "facility": where.facility,
    }
    if where.cell is None:
        return _("%(name)s (%(number)s) has no cell on record.") % values
    if where.facility != rollcall.facility.code:
        return _("%(name)s (%(number)s) belongs to %(facility)s, unit %(unit)s, cell %(cell)s.") % (
            values
        )
    return _("%(name)s (%(number)s) belongs to unit %(unit)s, cell %(cell)s.") % values


@login_required
@require_GET
def count_where(request, pk):
    """Where a scanned person who is not on this count belongs (counts.js
    asks when a scan misses the roster); 404 for anyone outside the
    caller's facilities, as for nobody."""
    rollcall = _visible_rollcall(request, pk)
    where = where_someone_belongs(user=request.user, booking_number=request.GET.get("inmate", ""))
    if where is None:
        return JsonResponse({"detail": _("Not found.")}, status=404)
    return JsonResponse(
        {
            "inmate": where.booking_number,
            "unit": where.unit,
            "cell": where.cell,
            "message": belongs_text(where, rollcall),
        }
    )


def _take_step(request, pk, action, done_message: str):
    """A count's next step from a plain form: the service decides; a refusal
    is shown on the count screen, not as a bare error page."""
    rollcall = _visible_rollcall(request, pk)
    try:
        action(rollcall=rollcall, by=request.user)
    except PermissionDenied as exc:
        return render_count(request, rollcall, status=403, flash_error=str(exc))
    except Conflict as exc:
        return render_count(request, rollcall, status=409, flash_error=exc.message)
    messages.success(request, done_message)
    return redirect("counts-count", pk=rollcall.pk)


@login_required
@require_POST
def count_submit(request, pk):
    """Submit (counts.js does it through the API, once its queue is empty)."""
    return _take_step(request, pk, rollcalls.rollcall_submit, _("Count submitted."))


@login_required
@require_POST
def count_cancel(request, pk):
    """Abandon a count in progress (started by mistake, tablet lost), with a reason."""
    rollcall = _visible_rollcall(request, pk)
    try:
        rollcalls.rollcall_cancel(
            rollcall=rollcall, by=request.user, reason=request.POST.get("reason", "")
        )
    except ValidationError as exc:
        return render_count(request, rollcall, status=400, flash_error=_error_text(exc))
    except PermissionDenied as exc:
        return render_count(request, rollcall, status=403, flash_error=str(exc))
    except Conflict as exc:
        return render_count(request, rollcall, status=409, flash_error=exc.message)
    messages.success(request, _("Count cancelled; its marks stay in the record."))
    return redirect("counts")


@require_GET
def service_worker(request):
    """The count pages' service worker, served from /counts/ so that it may
    control them (a script under /static/ could only control /static/)."""
    with open(finders.find("custody/counts-sw.js"), encoding="utf-8") as script:
        response = HttpResponse(script.read(), content_type="application/javascript")
    response["Cache-Control"] = "no-cache"  # a new version reaches tablets at once
    return response


urlpatterns = [
    path("", count_board_page, name="counts"),
    path("sw.js", service_worker, name="counts-sw"),
    path("tablet/", tablet_enrol_page, name="counts-tablet"),
    path("start/", count_start, name="counts-start"),
    path("<uuid:pk>/", count_screen, name="counts-count"),
    path("<uuid:pk>/mark/", count_mark, name="counts-mark"),
    path("<uuid:pk>/where/", count_where, name="counts-where"),
    path("<uuid:pk>/submit/", count_submit, name="counts-submit"),
    path("<uuid:pk>/cancel/", count_cancel, name="counts-cancel"),
]
