"""Count schedules and emergency calls of a facility, for supervisors.

Thin: the forms check the shape of what was typed, and
``custody.services.count_schedules`` enforces the rules (who may, one active
count per slot, the ledger). Guards and auditors see the same page without
the forms. Every POST works without JavaScript (a redirect after success, the
whole page with the errors otherwise); with HTMX the answer is the panel,
swapped in place.
"""

from datetime import timedelta

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from custody.models import (
    MAX_COUNT_GRACE_MINUTES,
    CountKind,
    CountSchedule,
    Facility,
)
from custody.roles import SUPERVISING_ROLES
from custody.selectors import facilities_visible_to
from custody.selectors.rollcalls import count_schedule_list, counting_units
from custody.selectors.schedule_board import day_board, facility_schedules, recent_calls
from custody.services.changes import Outcome, change_submit
from custody.services.count_schedules import count_call_create, count_schedule_create
from custody.services.rollcalls import require_supervisor
from custody.views import facility_picker

PAGE = "custody/schedules/page.html"
PANEL = "custody/schedules/_panel.html"


# --- Forms ---------------------------------------------------------------------


def _grace_field() -> forms.IntegerField:
    return forms.IntegerField(
        label=gettext_lazy("Grace (minutes)"),
        min_value=1,
        max_value=MAX_COUNT_GRACE_MINUTES,
        initial=15,
    )


class ScheduleChangeForm(forms.Form):
    """What may change on a schedule. Not the unit: a count of another unit
    is another schedule (retire this one, add that one)."""

    time_of_day = forms.TimeField(
        label=gettext_lazy("Time"),
        input_formats=["%H:%M", "%H:%M:%S"],
        widget=forms.TimeInput(format="%H:%M", attrs={"type": "time"}),
    )
    kind = forms.ChoiceField(
        label=gettext_lazy("Kind"),
        choices=[
            (CountKind.FORMAL.value, CountKind.FORMAL.label),
            (CountKind.INFORMAL.value, CountKind.INFORMAL.label),
        ],
        error_messages={
            "invalid_choice": gettext_lazy(
                "A scheduled count is formal or informal; emergency counts are called."
            )
        },
    )
    grace_minutes = _grace_field()


class ScheduleAddForm(ScheduleChangeForm):
    location = forms.ChoiceField(label=gettext_lazy("Unit"), required=False)
    field_order = ["location", "time_of_day", "kind", "grace_minutes"]

    def __init__(self, *args, units, **kwargs):
        super().__init__(*args, **kwargs)
        self.units = {str(unit.pk): unit for unit in units}
        self.fields["location"].choices = [
            ("", gettext_lazy("Every unit")),
            *((pk, unit.code) for pk, unit in self.units.items()),
        ]

    def clean_location(self):
        # "" (every unit) answers None, as the service wants it.
        return self.units.get(self.cleaned_data["location"])


class EmergencyCallForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    grace_minutes = _grace_field()
    confirmed = forms.BooleanField(required=False, widget=forms.HiddenInput)


def _add_service_errors(form: forms.Form, exc: ValidationError) -> None:
    """Puts a service's refusal next to the field it names (above the form
    otherwise): the service knows slots and units the form cannot."""
    errors = exc.message_dict if hasattr(exc, "error_dict") else {None: exc.messages}
    for name, texts in errors.items():
        form.add_error(name if name in form.fields else None, texts)


def _change_form(schedule: CountSchedule, data=None) -> ScheduleChangeForm:
    # One form per row: the prefix keeps the ids (and error ids) apart.
    return ScheduleChangeForm(
        data,
        prefix=f"s{schedule.pk}",
        initial={
            "time_of_day": schedule.time_of_day,
            "kind": schedule.kind,
            "grace_minutes": schedule.grace_minutes,
        },
    )


def _page_context(
    request,
    facility: Facility,
    *,
    units=None,
    add_form=None,
    change_form=None,
    call_form=None,
    confirm_call=False,
    row_error=None,
    flash=None,
    flash_error=None,
) -> dict:
    """Everything the page shows, in a fixed number of queries whatever the
    number of schedules, units or counts."""
    now = timezone.now()
    units = counting_units(facility) if units is None else units
    schedules = facility_schedules(facility)
    active = [s for s in schedules if s.is_active]
    for schedule in active:
        bound = change_form is not None and change_form.prefix == f"s{schedule.pk}"
        schedule.change_form = change_form if bound else _change_form(schedule)
    calls = recent_calls(facility)
    board = day_board(facility, active, units, calls, now)
    can_edit = request.user.role in SUPERVISING_ROLES
    call_form = call_form or EmergencyCallForm()
    return {
        "facility": facility,
        "now": now,
        "today": timezone.localdate(now, timezone=facility.tzinfo),
        "can_edit": can_edit,
        "board": board.schedules,
        "active": active,
        "retired": [s for s in schedules if not s.is_active],
        "add_form": add_form or ScheduleAddForm(units=units, prefix="add"),
        "call_form": call_form,
        "confirm_call": confirm_call,
        "confirm_deadline": (
            now + timedelta(minutes=call_form.cleaned_data["grace_minutes"])
            if confirm_call
            else None
        ),
        "calls": calls,
        "latest_call": board.latest_call,
        "latest_call_units": board.latest_call_units,
        "row_error": row_error,
        "flash": flash,
        "flash_error": flash_error,
    }


# --- Views -----------------------------------------------------------------------


def _is_htmx(request) -> bool:
    return request.headers.get("HX-Request") == "true"


def _facility_or_404(request, code: str) -> Facility:
    # Another facility's page is not found, never forbidden: it does not exist for you.
    return get_object_or_404(facilities_visible_to(request.user), code=code)


def _render(request, facility: Facility, *, status: int = 200, **context):
    """The panel for HTMX, the whole page otherwise."""
    template = PANEL if _is_htmx(request) else PAGE
    return render(request, template, _page_context(request, facility, **context), status=status)


def _done(request, facility: Facility, message: str):
    if _is_htmx(request):
        return _render(request, facility, flash=message)
    messages.success(request, message)
    return redirect("count-schedules-facility", code=facility.code)


def _hhmm(value) -> str:
    return value.strftime("%H:%M")


@login_required
@require_GET
def schedules_index(request):
    return facility_picker(request, url_name="count-schedules-facility", title=_("Count schedules"))


@login_required
@require_GET
def schedules_page(request, code):
    return _render(request, _facility_or_404(request, code))


@login_required
@require_POST
def schedule_add(request, code):
    facility = _facility_or_404(request, code)
    require_supervisor(request.user, facility)
    units = counting_units(facility)
    form = ScheduleAddForm(request.POST, units=units, prefix="add")
    return _save_or_show_errors(
        request,
        facility,
        form,
        save=lambda data: count_schedule_create(facility=facility, by=request.user, **data),
        done=_("Count at %(time)s added."),
        units=units,
        add_form=form,
    )


def _save_or_show_errors(request, facility, form, *, save, done: str, **page):
    """Saves a valid form through ``save`` and says ``done``; otherwise, or
    when the service refuses, the page again with the errors by their fields."""
    if form.is_valid():
        try:
            schedule = save(form.cleaned_data)
        except ValidationError as exc:
            _add_service_errors(form, exc)
        else:
            if isinstance(schedule, Outcome):
                if schedule.pending:
                    return _done(request, facility, _waits(schedule))
                schedule = schedule.target
            return _done(request, facility, done % {"time": _hhmm(schedule.time_of_day)})
    return _render(request, facility, status=400, **page)


def _submit(request, schedule: CountSchedule, fields: dict) -> Outcome:
    # The same gate as the API and the admin: thinning a unit's counts waits.
    return change_submit(kind="count_schedule", target=schedule, by=request.user, fields=fields)


def _waits(outcome: Outcome) -> str:
    return _(
        "Count at %(time)s: this change thins the counts, so it waits for another "
        "supervisor's approval (pending change %(id)s)."
    ) % {"time": _hhmm(outcome.target.time_of_day), "id": outcome.change.pk}


def _schedule_or_404(request, pk: int) -> CountSchedule:
    return get_object_or_404(count_schedule_list(user=request.user), pk=pk)


@login_required
@require_POST
def schedule_change(request, pk):
    schedule = _schedule_or_404(request, pk)
    facility = schedule.facility
    require_supervisor(request.user, facility)
    form = _change_form(schedule, request.POST)
    return _save_or_show_errors(
        request,
        facility,
        form,
        save=lambda data: _submit(request, schedule, data),
        done=_("Count at %(time)s saved."),
        change_form=form,
    )


def _set_active(request, pk: int, active: bool, done_message: str):
    schedule = _schedule_or_404(request, pk)
    facility = schedule.facility
    require_supervisor(request.user, facility)
    try:
        outcome = _submit(request, schedule, {"is_active": active})
    except ValidationError as exc:
        # Re-activating where another count now holds the slot.
        return _render(request, facility, status=400, row_error=(schedule.pk, exc.messages))
    if outcome.pending:
        return _done(request, facility, _waits(outcome))
    schedule = outcome.target
    return _done(request, facility, done_message % {"time": _hhmm(schedule.time_of_day)})


@login_required
@require_POST
def schedule_retire(request, pk):
    return _set_active(request, pk, False, _("Count at %(time)s retired."))


@login_required
@require_POST
def schedule_reactivate(request, pk):
    return _set_active(request, pk, True, _("Count at %(time)s active again."))


@login_required
@require_POST
def emergency_call(request, code):
    facility = _facility_or_404(request, code)
    require_supervisor(request.user, facility)
    form = EmergencyCallForm(request.POST)
    if not form.is_valid():
        return _render(request, facility, status=400, call_form=form)
    if not form.cleaned_data["confirmed"]:
        # It takes every officer off their post: one more look before it goes out.
        return _render(request, facility, call_form=form, confirm_call=True)
    try:
        call = count_call_create(
            facility=facility,
            by=request.user,
            reason=form.cleaned_data["reason"],
            grace_minutes=form.cleaned_data["grace_minutes"],
        )
    except ValidationError as exc:
        _add_service_errors(form, exc)
        return _render(request, facility, status=400, call_form=form)
    deadline = timezone.localtime(
        call.called_at + timedelta(minutes=call.grace_minutes), facility.tzinfo
    )
    return _done(
        request,
        facility,
        _("Emergency count called: every unit must be counted by %(deadline)s.")
        % {"deadline": _hhmm(deadline)},
    )


urlpatterns = [
    path("", schedules_index, name="count-schedules"),
    path("slot/<int:pk>/change/", schedule_change, name="count-schedules-change"),
    path("slot/<int:pk>/retire/", schedule_retire, name="count-schedules-retire"),
    path("slot/<int:pk>/reactivate/", schedule_reactivate, name="count-schedules-reactivate"),
    path("<str:code>/", schedules_page, name="count-schedules-facility"),
    path("<str:code>/add/", schedule_add, name="count-schedules-add"),
    path("<str:code>/emergency/", emergency_call, name="count-schedules-emergency"),
]
