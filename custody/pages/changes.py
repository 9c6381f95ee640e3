"""The changes page: what waits for a second officer, with approve and reject
for supervisors and administrators (plain forms with CSRF; no JavaScript).

Thin: ``custody.selectors.changes`` reads, ``custody.services.changes``
decides (author, account made by the author, stale, expired); a refusal shows
the page again with its reason and the status the API would answer.
"""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from custody.exceptions import Conflict
from custody.models import ChangeStatus
from custody.roles import OVERSIGHT_ROLES, SUPERVISING_ROLES
from custody.selectors.changes import change_list, status_filter
from custody.services.changes import (
    MIN_REASON_LENGTH,
    change_approve,
    change_reject,
    change_shown,
)

PAGE = "custody/changes/page.html"


class RejectForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Why it is rejected"),
        min_length=MIN_REASON_LENGTH,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


def _can_read(user) -> bool:
    return user.is_superuser or user.role in OVERSIGHT_ROLES


def _render(request, *, status=200, error=None, reject_form=None, form_for=None):
    if not _can_read(request.user):
        raise PermissionDenied
    waiting = list(
        change_list(user=request.user)
        .filter(status_filter(ChangeStatus.PENDING))
        .order_by("requested_at", "id")[:200]
    )
    for change in waiting:
        change.shown = change_shown(change)
        change.reject_form = reject_form if form_for == change.pk else RejectForm()
    context = {
        "waiting": waiting,
        "can_act": request.user.is_superuser or request.user.role in SUPERVISING_ROLES,
        "error": error,
    }
    return render(request, PAGE, context, status=status)


@login_required
@require_GET
def changes_page(request):
    return _render(request)


def _decide(request, pk: int, decide, done: str, *, reject_form=None):
    change = get_object_or_404(change_list(user=request.user), pk=pk)
    try:
        decide(change)
    except PermissionDenied as exc:
        return _render(request, status=403, error=str(exc) or _("You may not do this."))
    except Conflict as exc:
        return _render(request, status=409, error=exc.message)
    except ValidationError as exc:
        return _render(
            request, status=400, error=" ".join(exc.messages), reject_form=reject_form, form_for=pk
        )
    messages.success(request, done % {"id": change.pk})
    return redirect("changes")


@login_required
@require_POST
def change_approve_view(request, pk):
    return _decide(
        request,
        pk,
        lambda change: change_approve(change=change, by=request.user),
        _("Change %(id)s approved: it applies now."),
    )


@login_required
@require_POST
def change_reject_view(request, pk):
    form = RejectForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    return _decide(
        request,
        pk,
        lambda change: change_reject(change=change, by=request.user, reason=reason),
        _("Change %(id)s rejected: the setting stays as it was."),
        reject_form=form,
    )


urlpatterns = [
    path("", changes_page, name="changes"),
    path("<int:pk>/approve/", change_approve_view, name="change-approve"),
    path("<int:pk>/reject/", change_reject_view, name="change-reject"),
]
