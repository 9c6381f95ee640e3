"""The establishment roll of a facility (/roll/<code>/), for supervisors:
now or at a past local time, per unit and in total, printable. Reads
``custody.selectors.roll``; the API answers the same figures."""

from datetime import datetime

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from custody.models import Role
from custody.roles import SUPERVISING_ROLES
from custody.selectors import facilities_visible_to
from custody.selectors.roll import establishment_roll
from custody.views import facility_picker

# Supervisors run the roll; auditors read it afterwards. Guards count units.
ROLL_READERS = (*SUPERVISING_ROLES, Role.AUDITOR)
LOCAL_FORMAT = "%Y-%m-%dT%H:%M"


def _require_reader(user) -> None:
    if user.role not in ROLL_READERS:
        raise PermissionDenied(_("The roll is for supervisors, administrators and auditors."))


def _local_time(text: str, facility) -> datetime:
    """``YYYY-MM-DDTHH:MM`` (a datetime-local field) in the facility's zone."""
    return datetime.strptime(text, LOCAL_FORMAT).replace(tzinfo=facility.tzinfo)


@login_required
@require_GET
def roll_index(request):
    _require_reader(request.user)
    return facility_picker(request, url_name="roll-facility", title=_("Establishment roll"))


@login_required
@require_GET
def roll_page(request, code):
    _require_reader(request.user)
    facility = get_object_or_404(facilities_visible_to(request.user), code=code)
    now = timezone.now()
    at, error, status = now, None, 200
    asked = request.GET.get("at", "").strip()
    if asked:
        try:
            at = _local_time(asked, facility)
        except ValueError:
            error = _("Give a date and time, e.g. 2026-11-24T06:00.")
        else:
            if at > now:
                error = _("The roll is known up to now, not for the future.")
        if error:
            at, status = now, 400
    roll = establishment_roll(facility=facility, at=at)
    context = {
        "facility": facility,
        "roll": roll,
        "rows": [*roll.units, roll.total],
        "at_value": at.astimezone(facility.tzinfo).strftime(LOCAL_FORMAT),
        "max_value": now.astimezone(facility.tzinfo).strftime(LOCAL_FORMAT),
        "is_now": not asked or status == 400,
        "error": error,
    }
    return render(request, "custody/roll/page.html", context, status=status)


urlpatterns = [
    path("", roll_index, name="roll"),
    path("<str:code>/", roll_page, name="roll-facility"),
]
