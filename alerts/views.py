"""The supervisor dashboard: live headcount and open alerts of one facility,
refreshed by HTMX every few seconds, with acknowledge and resolve.

Thin: selectors give the data, ``alerts.services`` enforce the rules. Every
answer to an HTMX request is the live partial; plain form posts (no
JavaScript) get a redirect, or the full page with the error.
"""

from functools import wraps

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from alerts import selectors, services
from custody.exceptions import Conflict
from custody.roles import SUPERVISING_ROLES
from custody.selectors import facilities_visible_to, facility_headcount
from custody.selectors.changes import changes_waiting
from custody.selectors.roll import crowding_now
from custody.views import facility_picker

# More names than this on a count alert fold into "N people" and a link to
# the count, which lists them all: the card's actions stay in reach.
ALERT_NAMES_SHOWN = 5


def _is_htmx(request) -> bool:
    return request.headers.get("HX-Request") == "true"


def signed_in(view):
    """``login_required``, except that a poll whose session expired sends the
    whole page to the sign-in form instead of swapping it into the panel."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if request.user.is_authenticated:
            return view(request, *args, **kwargs)
        if _is_htmx(request):
            login = redirect_to_login(reverse("dashboard"))
            return HttpResponse(status=401, headers={"HX-Redirect": login["Location"]})
        return redirect_to_login(request.get_full_path())

    return wrapped


def _can_act(user) -> bool:
    # The services decide (alerts.services.lifecycle); this only hides buttons
    # that would answer 403.
    return user.is_superuser or user.role in SUPERVISING_ROLES


def _last_sighting(alert):
    """When the subject was last positively observed (or last heard from, for
    a reader): the live record first, what the alert saw when it opened next."""
    if alert.inmate_id and alert.inmate.last_seen_at:
        return alert.inmate.last_seen_at
    seen = (alert.details or {}).get("last_seen_at")
    if seen:
        return parse_datetime(seen)
    if alert.device_id:
        return alert.device.last_heartbeat_at
    return None


def _live_context(request, facility, **extra) -> dict:
    alerts = list(selectors.open_alerts(user=request.user, facility=facility))
    can_act = _can_act(request.user)
    # Alerts about the viewer's own work show why their buttons are off.
    own = selectors.own_work(user=request.user, alerts=alerts) if can_act and alerts else {}
    for alert in alerts:
        alert.own_work = own.get(alert.pk)
        alert.last_sighting_at = _last_sighting(alert)
        alert.cell_code = (
            alert.inmate.cell.code
            if alert.inmate_id and alert.inmate.cell_id
            else (alert.location.code if alert.location_id else None)
        )
    return {
        "facility": facility,
        "headcount": facility_headcount(facility=facility),
        "crowding": crowding_now(facility),
        "alerts": alerts,
        "can_act": can_act,
        "names_shown": ALERT_NAMES_SHOWN,
        **extra,
    }


def _render_live(request, facility, *, status=200, **extra):
    """The live partial for HTMX, the whole page otherwise."""
    context = _live_context(request, facility, **extra)
    template = "alerts/_live.html" if _is_htmx(request) else "alerts/dashboard.html"
    return render(request, template, context, status=status)


@signed_in
@require_GET
def dashboard_index(request):
    return facility_picker(request, url_name="dashboard-facility", title=_("Supervisor dashboard"))


@signed_in
@require_GET
def dashboard(request, code):
    facility = get_object_or_404(facilities_visible_to(request.user), code=code)
    # Not in the live partial: what waits for a second officer changes seldom.
    waiting = (
        changes_waiting(user=request.user, facility=facility) if _can_act(request.user) else []
    )
    return render(
        request,
        "alerts/dashboard.html",
        _live_context(request, facility, pending_changes=waiting),
    )


@signed_in
@require_GET
def dashboard_live(request, code):
    facility = get_object_or_404(facilities_visible_to(request.user), code=code)
    return render(request, "alerts/_live.html", _live_context(request, facility))


def _act(request, pk, action, done_message):
    alert = get_object_or_404(selectors.alert_list(user=request.user), pk=pk)
    facility = alert.facility
    try:
        action(alert)
    except services.NotAllowed as exc:
        return _render_live(request, facility, status=403, flash_error=str(exc))
    except Conflict as exc:
        return _render_live(request, facility, status=409, flash_error=exc.message)
    except services.InvalidResolution as exc:
        return _render_live(
            request,
            facility,
            status=400,
            form_alert_id=alert.pk,
            form_error=str(exc),
            form_text=request.POST.get("resolution", ""),
        )
    if _is_htmx(request):
        return _render_live(request, facility, flash=done_message)
    messages.success(request, done_message)
    return redirect("dashboard-facility", code=facility.code)


@signed_in
@require_POST
def alert_acknowledge(request, pk):
    return _act(
        request,
        pk,
        lambda alert: services.alert_acknowledge(alert=alert, by=request.user),
        _("Alert acknowledged: it is yours now."),
    )


@signed_in
@require_POST
def alert_resolve(request, pk):
    return _act(
        request,
        pk,
        lambda alert: services.alert_resolve(
            alert=alert,
            by=request.user,
            resolution=request.POST.get("resolution", ""),
            declare=request.POST.get("declare") or None,
        ),
        _("Alert resolved."),
    )
