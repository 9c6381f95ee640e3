"""Tablet page of unit sessions (/counts/sessions/): send a unit to the yard,
the workshop, a visit... until a time, see who is still out and whose return
has passed, end a session early.

Thin: ``custody.services.internal_movements`` decides (who may send, the
longest session, the count freeze); selectors give the data.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from custody.exceptions import Conflict
from custody.models import Facility, Location, LocationKind, MovementSession
from custody.models.movements import INTERNAL_DESTINATION_KINDS
from custody.selectors import internal_unpaired, movement_session_list
from custody.selectors.records import facilities_visible_to
from custody.services.internal_movements import (
    MAX_EXCLUDED,
    require_custodial_officer,
    session_end,
    session_start,
)
from custody.tablet_credential import renew_tablet

# The lengths a guard picks from (minutes), cut at the facility's maximum.
LENGTHS = (30, 45, 60, 90, 120, 180, 240, 360, 480)
SHOWN = 200


@dataclass
class Board:
    facility: Facility
    may_send: bool
    units: list[Location]
    destinations: list[Location]
    lengths: list[int]
    sessions: list[MovementSession]
    overdue: list


def _may_send(user, facility) -> bool:
    # The service's rule, asked ahead only to hide controls that would answer 403.
    try:
        require_custodial_officer(user, facility)
    except PermissionDenied:
        return False
    return True


def _boards(user, now) -> list[Board]:
    boards = []
    for facility in facilities_visible_to(user).order_by("code"):
        places = list(
            Location.objects.filter(
                facility=facility, kind__in=(LocationKind.UNIT, *INTERNAL_DESTINATION_KINDS)
            ).order_by("code")
        )
        limit = facility.internal_movement_max_seconds // 60
        boards.append(
            Board(
                facility=facility,
                may_send=_may_send(user, facility),
                units=[p for p in places if p.kind == LocationKind.UNIT],
                destinations=[p for p in places if p.kind != LocationKind.UNIT],
                lengths=[m for m in LENGTHS if m <= limit] or [limit],
                sessions=list(
                    movement_session_list(user=user).filter(
                        facility=facility, ended_at__isnull=True
                    )[:SHOWN]
                ),
                overdue=list(
                    internal_unpaired(facilities=[facility], now=now, overdue_only=True)[:SHOWN]
                ),
            )
        )
    return boards


def _render(request, *, status=200, **extra):
    now = timezone.now()
    response = render(
        request,
        "custody/sessions/page.html",
        {"boards": _boards(request.user, now), "now": now, **extra},
        status=status,
    )
    renew_tablet(request, response)
    return response


@login_required
@require_GET
def sessions_page(request):
    return _render(request)


class StartForm(forms.Form):
    unit = forms.IntegerField(min_value=1)
    to_location = forms.IntegerField(min_value=1)
    minutes = forms.IntegerField(min_value=1, max_value=24 * 60)
    excluded = forms.CharField(required=False, max_length=MAX_EXCLUDED * 33)

    def excluded_numbers(self) -> list[str]:
        text = self.cleaned_data.get("excluded") or ""
        return [n for n in text.replace(",", " ").split() if n]


def _visible_place(user, pk) -> Location | None:
    return (
        Location.objects.filter(facility__in=facilities_visible_to(user), pk=pk)
        .select_related("facility")
        .first()
    )


@login_required
@require_POST
def session_start_page(request):
    form = StartForm(request.POST)
    if not form.is_valid():
        return _render(request, status=400, flash_error=_("Choose a unit, a place and how long."))
    unit = _visible_place(request.user, form.cleaned_data["unit"])
    place = _visible_place(request.user, form.cleaned_data["to_location"])
    if unit is None or place is None or place.facility_id != unit.facility_id:
        return _render(
            request, status=400, flash_error=_("Choose a unit and a place of one facility.")
        )
    ends_at = _minute(timezone.now() + timedelta(minutes=form.cleaned_data["minutes"]))
    try:
        started = session_start(
            facility=unit.facility,
            unit=unit,
            to_location=place,
            ends_at=ends_at,
            by=request.user,
            excluded=form.excluded_numbers(),
        )
    except PermissionDenied as exc:
        return _render(request, status=403, flash_error=str(exc))
    except ValidationError as exc:
        return _render(request, status=400, flash_error=" ".join(exc.messages))
    except Conflict as exc:
        return _render(request, status=409, flash_error=exc.message)
    messages.info(
        request,
        _("%(n)s people sent from %(unit)s to %(place)s.")
        % {"n": len(started.sent), "unit": unit.code, "place": place.code},
    )
    return redirect("counts-sessions")


def _minute(at: datetime) -> datetime:
    # A session ends on a whole minute: what the guard reads is what is due.
    return at.replace(second=0, microsecond=0)


@login_required
@require_POST
def session_end_page(request, pk):
    session = get_object_or_404(movement_session_list(user=request.user), pk=pk)
    try:
        session_end(session=session, by=request.user)
    except PermissionDenied as exc:
        return _render(request, status=403, flash_error=str(exc))
    except Conflict as exc:
        return _render(request, status=409, flash_error=exc.message)
    messages.info(request, _("Session ended: everyone still out is due back now."))
    return redirect("counts-sessions")


urlpatterns = [
    path("sessions/", sessions_page, name="counts-sessions"),
    path("sessions/start/", session_start_page, name="counts-sessions-start"),
    path("sessions/<int:pk>/end/", session_end_page, name="counts-sessions-end"),
]
