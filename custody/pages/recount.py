"""The second officer's recount on the tablet (/counts/<id>/recount/).

Verifying a count is recounting the people the server drew
(``custody.services.recounts``): the page lists them, never with the first
officer's marks, and the verifier marks each one found or not found.
Offline first like counting: with JavaScript (custody/static/custody/recount.js)
each mark goes into the tablet's queue with its own id and time and reaches
``/api/v1/rollcalls/<id>/recount/entries/`` when the network lets it, and
finishing posts ``/api/v1/rollcalls/<id>/verify/`` once the queue is sent;
the page may be kept offline while the session lasts. Without it each mark
is a plain form; the server gives it its id and time.
"""

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from custody.exceptions import Conflict
from custody.models import CheckInMethod, CountVerification, RecountStatus
from custody.pages.offline import kept_offline
from custody.pages.tablet import plural_forms, render_count, script_strings
from custody.selectors.rollcalls import rollcall_list
from custody.services import recounts
from custody.tablet_credential import renew_tablet, tablet_from_request

TEMPLATE = "custody/counts/recount.html"


def _visible(request, pk):
    return get_object_or_404(rollcall_list(user=request.user), pk=pk)


def _verification(rollcall, user) -> CountVerification | None:
    return (
        CountVerification.objects.select_related("verifier")
        .filter(rollcall=rollcall, verifier_id=user.pk)
        .first()
    )


def _not_found_message(n: int) -> str:
    # Untranslated %(n)s: the page says it, and recount.js says it from the API's answer.
    return ngettext(
        "The recount did not find %(n)s person: the count stays unverified and the "
        "supervisors are alerted.",
        "The recount did not find %(n)s people: the count stays unverified and the "
        "supervisors are alerted.",
        n,
    )


def _recount_strings() -> dict:
    """What recount.js says, with what the queue says on every count page."""
    return {
        **script_strings(),
        "found": _("Found"),
        "not_found": _("Not found"),
        "left_to_recount": plural_forms(
            lambda n: ngettext("%(n)s person left to recount.", "%(n)s people left to recount.", n)
        ),
        "cannot_finish": _(
            "Cannot finish yet: marks are still waiting to send. The verification finishes "
            "by itself once they are sent; reconnect to the network."
        ),
        "finish_failed": _("The verification could not be finished: %(detail)s"),
        "verified": _("Count verified: thank you."),
        "recount_failed": plural_forms(_not_found_message),
        "not_verified": _("The count was not verified: the supervisors are alerted."),
    }


def _render(request, rollcall, *, status=200, flash_error=""):
    verification = _verification(rollcall, request.user)
    if verification is None:
        return redirect("counts-count", pk=rollcall.pk)
    marks = recounts.recount_marks(verification)
    people = [{**row, "mark": marks.get(row["inmate_id"])} for row in verification.sample]
    left = sum(1 for person in people if person["mark"] is None)
    context = {
        "rollcall": rollcall,
        "facility": rollcall.facility,
        "verification": verification,
        "people": people,
        "left": left,
        "flash_error": flash_error,
        "script_strings": _recount_strings(),
    }
    response = render(request, TEMPLATE, context, status=status)
    renew_tablet(request, response)
    return response


@login_required
@require_POST
def recount_begin(request, pk):
    """The verify button: the server draws who this officer recounts."""
    rollcall = _visible(request, pk)
    try:
        recounts.recount_start(rollcall=rollcall, by=request.user)
    except (PermissionDenied, Conflict) as exc:
        # Shown on the count screen, where the verify button was.
        code = 403 if isinstance(exc, PermissionDenied) else 409
        message = str(exc) if isinstance(exc, PermissionDenied) else exc.message
        return render_count(request, rollcall, status=code, flash_error=message)
    return redirect("counts-recount", pk=rollcall.pk)


@login_required
@require_GET
@kept_offline
def recount_page(request, pk):
    return _render(request, _visible(request, pk))


@login_required
@require_POST
def recount_mark(request, pk):
    rollcall = _visible(request, pk)
    status = request.POST.get("status", "")
    if status not in RecountStatus.values:
        return _render(request, rollcall, status=400, flash_error=_("Tap found or not found."))
    raw = {
        "id": str(uuid.uuid4()),
        "inmate": request.POST.get("inmate", "")[:32],
        "status": status,
        "method": CheckInMethod.VISUAL,
        "observed_at": timezone.now().isoformat(),
    }
    try:
        (result,) = recounts.recount_record_marks(
            rollcall=rollcall, raw_marks=[raw], by=request.user, device=tablet_from_request(request)
        )
    except Conflict as exc:
        return _render(request, rollcall, status=409, flash_error=exc.message)
    except PermissionDenied as exc:
        return _render(request, rollcall, status=403, flash_error=str(exc))
    if result.errors:
        problems = " ".join(m for errors in result.errors.values() for m in errors)
        return _render(request, rollcall, status=400, flash_error=problems)
    return redirect("counts-recount", pk=rollcall.pk)


@login_required
@require_POST
def recount_finish(request, pk):
    rollcall = _visible(request, pk)
    try:
        rollcall = recounts.rollcall_verify(rollcall=rollcall, by=request.user)
    except Conflict as exc:
        return _render(request, rollcall, status=409, flash_error=exc.message)
    except PermissionDenied as exc:
        return _render(request, rollcall, status=403, flash_error=str(exc))
    verification = _verification(rollcall, request.user)
    if verification.missing:
        n = len(verification.missing)
        messages.error(request, _not_found_message(n) % {"n": n})
    else:
        messages.success(request, _("Count verified: thank you."))
    return redirect("counts-count", pk=rollcall.pk)


urlpatterns = [
    path("<uuid:pk>/verify/", recount_begin, name="counts-verify"),
    path("<uuid:pk>/recount/", recount_page, name="counts-recount"),
    path("<uuid:pk>/recount/mark/", recount_mark, name="counts-recount-mark"),
    path("<uuid:pk>/recount/finish/", recount_finish, name="counts-recount-finish"),
]
