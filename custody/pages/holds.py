"""The legal holds page: every hold of one's facilities for auditors, with
placing, asking to lift and approving a lifting for supervisors and
administrators (plain forms with CSRF; no JavaScript).

Thin: ``custody.selectors.holds`` reads, ``custody.services.holds`` decides;
a refusal shows the page again with its reason and the API's status.
"""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from custody.exceptions import Conflict
from custody.roles import OVERSIGHT_ROLES, SUPERVISING_ROLES
from custody.selectors.holds import hold_list, hold_status
from custody.selectors.records import facilities_visible_to, inmate_list
from custody.services.changes import MIN_REASON_LENGTH
from custody.services.holds import (
    MAX_REASON_LENGTH,
    hold_lift_approve,
    hold_lift_request,
    hold_place,
)

PAGE = "custody/holds/page.html"


class PlaceForm(forms.Form):
    facility = forms.ModelChoiceField(queryset=None, label=gettext_lazy("Facility"))
    inmate = forms.CharField(
        label=gettext_lazy("Booking number (optional)"), required=False, max_length=32
    )
    # Typed in the facility's local time (the form reads it in the server's
    # zone first; ``clean`` moves the wall-clock time to the facility's).
    period_start = forms.DateTimeField(
        label=gettext_lazy("From"), help_text=gettext_lazy("Facility local time.")
    )
    period_end = forms.DateTimeField(
        label=gettext_lazy("Until (optional)"),
        required=False,
        help_text=gettext_lazy("Facility local time."),
    )
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        min_length=MIN_REASON_LENGTH,
        max_length=MAX_REASON_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["facility"].queryset = facilities_visible_to(user).order_by("code")

    def clean(self):
        data = super().clean()
        facility = data.get("facility")
        if facility is not None:
            for name in ("period_start", "period_end"):
                data[name] = in_zone_of(data.get(name), facility)
        return data

    def clean_inmate(self):
        booking = self.cleaned_data["inmate"].strip()
        if not booking:
            return None
        inmate = inmate_list(user=self.user).filter(booking_number=booking).first()
        if inmate is None:
            raise ValidationError(_("No such person in your scope."))
        return inmate


def in_zone_of(moment, facility):
    """The same wall-clock time, read in ``facility``'s zone."""
    if moment is None:
        return None
    naive = timezone.make_naive(moment, timezone.get_current_timezone())
    return timezone.make_aware(naive, facility.tzinfo)


class LiftForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Why it may be lifted"),
        min_length=MIN_REASON_LENGTH,
        max_length=MAX_REASON_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


def _can_act(user) -> bool:
    return user.is_superuser or user.role in SUPERVISING_ROLES


def _render(request, *, status=200, error=None, place_form=None):
    if not (request.user.is_superuser or request.user.role in OVERSIGHT_ROLES):
        raise PermissionDenied
    holds = list(hold_list(user=request.user).order_by("-placed_at", "-id")[:500])
    for hold in holds:
        hold.status = hold_status(hold)
    context = {
        "holds": holds,
        "can_act": _can_act(request.user),
        "place_form": place_form or PlaceForm(user=request.user),
        "lift_form": LiftForm(),
        "error": error,
    }
    return render(request, PAGE, context, status=status)


@login_required
@require_GET
def holds_page(request):
    return _render(request)


def _attempt(request, act, done: str, *, place_form=None):
    try:
        hold = act()
    except PermissionDenied as exc:
        return _render(request, status=403, error=str(exc) or _("You may not do this."))
    except Conflict as exc:
        return _render(request, status=409, error=exc.message)
    except ValidationError as exc:
        return _render(request, status=400, error=" ".join(exc.messages), place_form=place_form)
    messages.success(request, done % {"id": hold.pk})
    return redirect("holds")


@login_required
@require_POST
def hold_place_view(request):
    if not _can_act(request.user):
        raise PermissionDenied
    form = PlaceForm(request.POST, user=request.user)
    if not form.is_valid():
        return _render(request, status=400, place_form=form)
    return _attempt(
        request,
        lambda: hold_place(by=request.user, **form.cleaned_data),
        _("Legal hold %(id)s placed."),
        place_form=form,
    )


@login_required
@require_POST
def hold_lift_request_view(request, pk):
    hold = get_object_or_404(hold_list(user=request.user), pk=pk)
    form = LiftForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    return _attempt(
        request,
        lambda: hold_lift_request(hold=hold, by=request.user, reason=reason),
        _("Lifting legal hold %(id)s asked for: it holds until another officer approves."),
    )


@login_required
@require_POST
def hold_lift_approve_view(request, pk):
    hold = get_object_or_404(hold_list(user=request.user), pk=pk)
    return _attempt(
        request,
        lambda: hold_lift_approve(hold=hold, by=request.user),
        _("Legal hold %(id)s lifted."),
    )


urlpatterns = [
    path("", holds_page, name="holds"),
    path("place/", hold_place_view, name="hold-place"),
    path("<int:pk>/lift-request/", hold_lift_request_view, name="hold-lift-request"),
    path("<int:pk>/lift-approve/", hold_lift_approve_view, name="hold-lift-approve"),
]
