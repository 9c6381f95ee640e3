"""Count schedules and emergency calls of a facility, for supervisors.

Thin: the forms check the shape of what was typed, and
``custody.services.count_schedules`` enforces the rules (who may, one active
count per slot, the ledger). Guards and auditors see the same page without
the forms. Every POST works without JavaScript (a redirect after success, the
whole page with the errors otherwise); with HTMX the answer is the panel,
swapped in place.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import F
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from custody.models import (
    MAX_COUNT_GRACE_MINUTES,
    CountCall,
    CountKind,
    CountSchedule,
    Facility,
    RollCall,
    RollCallStatus,
)
from custody.selectors import facilities_visible_to
from custody.selectors.rollcalls import count_schedule_list, counting_units
from custody.services.count_schedules import (
    count_call_create,
    count_schedule_create,
    count_schedule_update,
)
from custody.services.rollcalls import SUPERVISING_ROLES, require_supervisor

PAGE = "custody/schedules/page.html"
PANEL = "custody/schedules/_panel.html"
RECENT_CALLS = 10
# Older calls are history: their units' states are not worth a scan of counts.
CALL_BOARD_WINDOW = timedelta(hours=24)


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


# --- Reads: the day's board and the latest emergency call ----------------------

UPCOMING, DUE, IN_PROGRESS, CLEARED, DISCREPANCY, MISSED, NOT_OWED, NOT_YET = (
    "upcoming",
    "due",
    "in_progress",
    "cleared",
    "discrepancy",
    "missed",
    "not_owed",
    "not_yet",
)
STATE_LABELS = {
    UPCOMING: gettext_lazy("Later today"),
    DUE: gettext_lazy("Due now"),
    IN_PROGRESS: gettext_lazy("In progress"),
    CLEARED: gettext_lazy("Counted, cleared"),
    DISCREPANCY: gettext_lazy("Counted, discrepancy"),
    MISSED: gettext_lazy("Missed"),
    NOT_OWED: gettext_lazy("From tomorrow"),
    NOT_YET: gettext_lazy("Not yet"),
}


@dataclass(frozen=True)
class UnitAnswer:
    """What a unit's counts since a moment say: counted (cleared or not), in
    progress, or nothing yet (``state`` None)."""

    state: str | None
    first_submitted_at: datetime | None = None


def _unit_answer(counts: list[dict], since: datetime, until: datetime | None = None) -> UnitAnswer:
    """As ``missed_rollcall`` judges it: a count of the unit started since the
    slot opened answers it once submitted (``until``: the next slot's opening,
    whose count is not this one's); the latest result says whether the unit is
    clear now (a clean recount clears a discrepancy)."""
    answering = [
        c for c in counts if c["started_at"] >= since and (until is None or c["started_at"] < until)
    ]
    submitted = [c for c in answering if c["submitted_at"]]
    if submitted:
        latest = max(submitted, key=lambda c: c["submitted_at"])
        state = CLEARED if latest["unaccounted_count"] == 0 else DISCREPANCY
        return UnitAnswer(state, min(c["submitted_at"] for c in submitted))
    if any(c["status"] == RollCallStatus.IN_PROGRESS for c in answering):
        return UnitAnswer(IN_PROGRESS)
    return UnitAnswer(None)


@dataclass(frozen=True)
class Slot:
    schedule: CountSchedule
    at: datetime
    deadline: datetime
    state: str
    late: bool = False

    @property
    def label(self):
        return STATE_LABELS[self.state]


def _opens(schedule: CountSchedule, at: datetime) -> datetime:
    return at - timedelta(minutes=schedule.grace_minutes)


def _owed_today(schedule: CountSchedule, at: datetime) -> bool:
    # Added after today's time: first owed tomorrow (as the reconciler sees it).
    return at >= schedule.created_at


def _slot(schedule, at: datetime, counts: list[dict], now: datetime, until=None) -> Slot:
    opens, deadline = _opens(schedule, at), at + timedelta(minutes=schedule.grace_minutes)
    if not _owed_today(schedule, at):
        return Slot(schedule, at, deadline, NOT_OWED)
    answer = _unit_answer(counts, opens, until)
    if answer.first_submitted_at:
        return Slot(schedule, at, deadline, answer.state, answer.first_submitted_at > deadline)
    if now >= deadline:
        return Slot(schedule, at, deadline, MISSED)
    if answer.state == IN_PROGRESS:
        return Slot(schedule, at, deadline, IN_PROGRESS)
    return Slot(schedule, at, deadline, UPCOMING if now < opens else DUE)


@dataclass
class Board:
    """Today's counts: a row per time, a column per unit, slots in the cells."""

    units: list
    rows: list  # [(time_of_day, [[Slot, ...] per unit])]


def _today_slots_at(facility: Facility, schedules: list, now: datetime) -> dict[int, datetime]:
    today = timezone.localdate(now, timezone=facility.tzinfo)
    return {s.pk: datetime.combine(today, s.time_of_day, tzinfo=facility.tzinfo) for s in schedules}


def _next_opening(owed_here: list, at: datetime, slot_at: dict) -> datetime | None:
    """When the unit's next slot of the day opens: a count from then on is that
    slot's, not a late answer to this one."""
    later = [
        _opens(s, slot_at[s.pk])
        for s in owed_here
        if slot_at[s.pk] > at and _owed_today(s, slot_at[s.pk])
    ]
    return min(later, default=None)


def _board(schedules: list, units: list, slot_at: dict, counts_by_unit: dict, now) -> Board:
    # A schedule may name a location that holds no cells: it still gets a column.
    columns = list(units)
    known = {unit.pk for unit in units}
    for schedule in schedules:
        if schedule.location_id and schedule.location_id not in known:
            known.add(schedule.location_id)
            columns.append(schedule.location)
    owed: dict[int, list[CountSchedule]] = {}
    for schedule in schedules:
        targets = [schedule.location_id] if schedule.location_id else [u.pk for u in units]
        for location_id in targets:
            owed.setdefault(location_id, []).append(schedule)
    cells: dict = {}
    for location_id, owed_here in owed.items():
        counts = counts_by_unit.get(location_id, [])
        for schedule in owed_here:
            at = slot_at[schedule.pk]
            slot = _slot(schedule, at, counts, now, _next_opening(owed_here, at, slot_at))
            cells.setdefault(schedule.time_of_day, {}).setdefault(location_id, []).append(slot)
    rows = [
        (time_of_day, [row.get(column.pk, []) for column in columns])
        for time_of_day, row in sorted(cells.items())
    ]
    return Board(units=columns, rows=rows)


@dataclass(frozen=True)
class CallUnit:
    unit: object
    state: str
    overdue: bool
    late: bool

    @property
    def label(self):
        return STATE_LABELS[self.state]


def _call_board(call: CountCall, units: list, counts_by_unit: dict, now) -> list[CallUnit]:
    """Each unit's answer to an emergency call: counts started after it."""
    deadline = call.called_at + timedelta(minutes=call.grace_minutes)
    rows = []
    for unit in units:
        answer = _unit_answer(counts_by_unit.get(unit.pk, []), call.called_at)
        state = answer.state or NOT_YET
        done = answer.first_submitted_at is not None
        rows.append(
            CallUnit(
                unit=unit,
                state=state,
                overdue=not done and now > deadline,
                late=done and answer.first_submitted_at > deadline,
            )
        )
    return rows


def _counts_by_unit(facility: Facility, since: datetime | None) -> dict[int, list[dict]]:
    """The facility's counts started since ``since``, cancelled ones aside,
    by unit; one query (``rollcall_facility_started``)."""
    if since is None:
        return {}
    by_unit: dict[int, list[dict]] = {}
    for row in (
        RollCall.objects.filter(facility=facility, started_at__gte=since)
        .exclude(status=RollCallStatus.CANCELLED)
        .order_by("started_at")
        .values("location_id", "status", "started_at", "submitted_at", "unaccounted_count")
    ):
        by_unit.setdefault(row["location_id"], []).append(row)
    return by_unit


def _schedules(facility: Facility) -> list[CountSchedule]:
    # "Every unit" first at each time, then the units by code.
    return list(
        CountSchedule.objects.filter(facility=facility)
        .select_related("location", "created_by")
        .order_by("time_of_day", F("location__code").asc(nulls_first=True), "id")
    )


def _recent_calls(facility: Facility) -> list[CountCall]:
    calls = list(
        CountCall.objects.filter(facility=facility)
        .select_related("called_by")
        .order_by("-called_at", "-id")[:RECENT_CALLS]
    )
    for call in calls:
        call.deadline = call.called_at + timedelta(minutes=call.grace_minutes)
    return calls


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
    schedules = _schedules(facility)
    active = [s for s in schedules if s.is_active]
    for schedule in active:
        bound = change_form is not None and change_form.prefix == f"s{schedule.pk}"
        schedule.change_form = change_form if bound else _change_form(schedule)
    slot_at = _today_slots_at(facility, active, now)
    calls = _recent_calls(facility)
    latest = calls[0] if calls and now - calls[0].called_at <= CALL_BOARD_WINDOW else None
    # One read of counts for both boards, from the earliest moment either needs.
    starts = [slot_at[s.pk] - timedelta(minutes=s.grace_minutes) for s in active]
    if latest is not None:
        starts.append(latest.called_at)
    counts_by_unit = _counts_by_unit(facility, min(starts, default=None))
    can_edit = request.user.role in SUPERVISING_ROLES
    call_form = call_form or EmergencyCallForm()
    return {
        "facility": facility,
        "now": now,
        "today": timezone.localdate(now, timezone=facility.tzinfo),
        "can_edit": can_edit,
        "board": _board(active, units, slot_at, counts_by_unit, now),
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
        "latest_call": latest,
        "latest_call_units": _call_board(latest, units, counts_by_unit, now) if latest else [],
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
    facilities = list(facilities_visible_to(request.user).order_by("code"))
    if len(facilities) == 1:
        return redirect("count-schedules-facility", code=facilities[0].code)
    return render(request, "custody/schedules/index.html", {"facilities": facilities})


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
            return _done(request, facility, done % {"time": _hhmm(schedule.time_of_day)})
    return _render(request, facility, status=400, **page)


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
        save=lambda data: count_schedule_update(schedule=schedule, by=request.user, **data),
        done=_("Count at %(time)s saved."),
        change_form=form,
    )


def _set_active(request, pk: int, active: bool, done_message: str):
    schedule = _schedule_or_404(request, pk)
    facility = schedule.facility
    require_supervisor(request.user, facility)
    try:
        schedule = count_schedule_update(schedule=schedule, by=request.user, is_active=active)
    except ValidationError as exc:
        # Re-activating where another count now holds the slot.
        return _render(request, facility, status=400, row_error=(schedule.pk, exc.messages))
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
