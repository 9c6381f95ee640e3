"""The second officer's recount on the tablet (/counts/<id>/recount/).

Verifying a count is recounting the people the server drew
(``custody.services.recounts``): the page lists them, never with the first
officer's marks, and the verifier marks each one found or not found. Each
mark is a plain form; the server gives it its id and time.
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
from custody.pages.tablet import _render_count
from custody.selectors.rollcalls import rollcall_list
from custody.services import recounts
from custody.tablet_credential import tablet_from_request

TEMPLATE = "custody/counts/recount.html"


def _visible(request, pk):
    return get_object_or_404(rollcall_list(user=request.user), pk=pk)


def _verification(rollcall, user) -> CountVerification | None:
    return (
        CountVerification.objects.select_related("verifier")
        .filter(rollcall=rollcall, verifier_id=user.pk)
        .first()
    )


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
    }
    return render(request, TEMPLATE, context, status=status)


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
        return _render_count(request, rollcall, status=code, flash_error=message)
    return redirect("counts-recount", pk=rollcall.pk)


@login_required
@require_GET
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
        messages.error(
            request,
            ngettext(
                "The recount did not find %(n)s person: the count stays unverified and the "
                "supervisors are alerted.",
                "The recount did not find %(n)s people: the count stays unverified and the "
                "supervisors are alerted.",
                len(verification.missing),
            )
            % {"n": len(verification.missing)},
        )
    else:
        messages.success(request, _("Count verified: thank you."))
    return redirect("counts-count", pk=rollcall.pk)


urlpatterns = [
    path("<uuid:pk>/verify/", recount_begin, name="counts-verify"),
    path("<uuid:pk>/recount/", recount_page, name="counts-recount"),
    path("<uuid:pk>/recount/mark/", recount_mark, name="counts-recount-mark"),
    path("<uuid:pk>/recount/finish/", recount_finish, name="counts-recount-finish"),
]
