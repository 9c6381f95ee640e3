"""The tablet's rounds screen (``/counts/rounds/``), Spanish first: a guard
picks the unit, walks to the most urgent cell, taps it, scans its tag (a
USB or Bluetooth reader types the uid into the field, or the guard types
it), taps each person's state and saves. The check goes to the round API
(``POST /api/v1/rounds/``) through the count pages' offline queue
(custody/static/custody/queue.js, custody/static/custody/rounds.js), so a
round made without a network is kept on the tablet and sent once.

Under /counts/ so that the count pages' service worker keeps it openable
offline (custody/pages/offline.py). The page never holds a tag's uid: the
server checks the scanned uid against the cell and refuses a mismatch.
"""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET

from custody.models import LocationKind, ObservationState, WatchLevel
from custody.pages.offline import kept_offline
from custody.pages.tablet import facility_clock, plural_forms, script_strings
from custody.pages.tablet_enrol import tablet_status
from custody.roles import CUSTODIAL_ROLES
from custody.selectors import location_list
from custody.selectors.round_screen import ScreenCell, round_screen
from custody.tablet_credential import renew_tablet


def _require_rounds_officer(user) -> None:
    # Auditors read rounds; they never make them.
    if not (user.is_superuser or user.role in CUSTODIAL_ROLES):
        raise PermissionDenied


def urgency_text(cell: ScreenCell) -> str:
    if not cell.checkable:
        return _("No tag yet: cannot be checked")
    if cell.due_within is None:
        return _("No round yet")
    if cell.overdue:
        return _("Overdue")
    if cell.due_within == 0:
        return _("Due now")
    if cell.due_within > 60:
        hours = cell.due_within // 60
        return ngettext("Within %(n)s hour", "Within %(n)s hours", hours) % {"n": hours}
    minutes = cell.due_within
    return ngettext("Within %(n)s minute", "Within %(n)s minutes", minutes) % {"n": minutes}


def _state_labels() -> dict:
    return {
        ObservationState.SEEN_ALIVE: _("Seen alive"),
        ObservationState.NEEDS_ATTENTION: _("Needs attention"),
        ObservationState.VIEW_OBSTRUCTED: _("View obstructed"),
    }


def _strings() -> dict:
    strings = script_strings()
    strings.update(
        pending=plural_forms(
            lambda n: ngettext("%(n)s check waiting to send", "%(n)s checks waiting to send", n)
        ),
        all_sent=_("All checks sent"),
        offline=_("Offline: checks are kept on this tablet"),
        scan_first=_("Scan the cell's tag first."),
        typed_tag=_("A typed code is not a scan: scan the cell's tag with the reader."),
        tag_read=_("Tag read"),
        saved=_("Check of %(cell)s kept; it is sent as soon as there is a network."),
        refused=_("The server refused the check of %(cell)s: %(detail)s"),
        states=_state_labels(),
    )
    return strings


@login_required
@require_GET
def rounds_board(request):
    _require_rounds_officer(request.user)
    units = (
        location_list(user=request.user)
        .filter(kind=LocationKind.UNIT, children__kind=LocationKind.CELL)
        .distinct()
        .order_by("facility__code", "code")
    )
    return render(request, "custody/rounds/board.html", {"units": units})


@login_required
@require_GET
@kept_offline
def rounds_screen(request, pk):
    _require_rounds_officer(request.user)
    unit = get_object_or_404(location_list(user=request.user), pk=pk, kind=LocationKind.UNIT)
    now = timezone.now()
    cells = round_screen(unit=unit, now=now)
    response = render(
        request,
        "custody/rounds/screen.html",
        {
            "unit": unit,
            "facility": unit.facility,
            "clock": facility_clock(unit.facility),
            "cells": [(cell, urgency_text(cell)) for cell in cells],
            "states": list(_state_labels().items()),
            "close": WatchLevel.CLOSE,
            "script_strings": _strings(),
            **tablet_status(request, unit.facility),
        },
    )
    renew_tablet(request, response)
    return response


urlpatterns = [
    path("", rounds_board, name="rounds-board"),
    path("<int:pk>/", rounds_screen, name="rounds-screen"),
]
