"""The time range every workspace view is filtered by, in the facility's zone.

``since`` and ``until`` are a day (``2026-11-01``: ``until`` then means the
end of that day), a local time (``2026-11-01T06:00``, as a browser's
datetime-local input sends it) or a time with its offset (API clients).
"""

import datetime
import zoneinfo
from dataclasses import dataclass

from django import forms
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

DEFAULT_DAYS = 30
# Reports read every record of the range; a year is the most one asks for.
MAX_SPAN = datetime.timedelta(days=366)


@dataclass(frozen=True)
class Period:
    since: datetime.datetime
    until: datetime.datetime  # exclusive
    tz: zoneinfo.ZoneInfo

    @property
    def days(self) -> list[datetime.date]:
        """Each local day the period touches, oldest first."""
        first = self.since.astimezone(self.tz).date()
        last = (self.until - datetime.timedelta(microseconds=1)).astimezone(self.tz).date()
        return [first + datetime.timedelta(days=n) for n in range((last - first).days + 1)]

    def as_query(self) -> dict[str, str]:
        """The period as query parameters that give it back (links, exports)."""
        return {
            "since": self.since.astimezone(self.tz).isoformat(),
            "until": self.until.astimezone(self.tz).isoformat(),
        }

    def local(self) -> tuple[datetime.datetime, datetime.datetime]:
        return self.since.astimezone(self.tz), self.until.astimezone(self.tz)


# Years a record of custody can be about; beyond them date arithmetic overflows.
FIRST_YEAR, LAST_YEAR = 1900, 9000


def _moment(text: str, tz, *, end_of_day: bool) -> datetime.datetime | None:
    """The moment ``text`` names in ``tz``, or None when it names none we keep."""
    moment = _parse(text.strip(), tz, end_of_day=end_of_day)
    if moment is None or not FIRST_YEAR <= moment.year <= LAST_YEAR:
        return None
    return moment


def _parse(text: str, tz, *, end_of_day: bool) -> datetime.datetime | None:
    try:
        day = parse_date(text)
    except ValueError:
        return None
    if day is not None:
        if end_of_day:
            if day == datetime.date.max:
                return None
            day += datetime.timedelta(days=1)
        return datetime.datetime.combine(day, datetime.time(), tzinfo=tz)
    try:
        moment = parse_datetime(text)
    except ValueError:
        return None
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


class PeriodForm(forms.Form):
    since = forms.CharField(
        required=False,
        max_length=64,
        help_text=gettext_lazy("From this day or time (facility time); 30 days ago if left out."),
    )
    until = forms.CharField(
        required=False,
        max_length=64,
        help_text=gettext_lazy("Up to the end of this day, or this time; now if left out."),
    )

    def __init__(self, data, *, tz, default_days: int = DEFAULT_DAYS, first_record=None, **kwargs):
        super().__init__(data, **kwargs)
        self.tz = tz
        self.default_days = default_days
        # When the default period reaches back before anything was recorded,
        # it starts on the day of the first record instead: two days of data
        # fill the chart rather than its right edge.
        self.first_record = first_record

    def clean(self):
        cleaned = super().clean()
        until = self._bound("until", end_of_day=True) or timezone.now()
        since = self._bound("since", end_of_day=False) or self._default_since(until)
        if self.errors:
            return cleaned
        if since >= until:
            raise forms.ValidationError(_("The start must come before the end."))
        if until - since > MAX_SPAN:
            raise forms.ValidationError(_("Ask for at most a year at a time."))
        cleaned["period"] = Period(since=since, until=until, tz=self.tz)
        return cleaned

    def _default_since(self, until: datetime.datetime) -> datetime.datetime:
        since = until - datetime.timedelta(days=self.default_days)
        first = self.first_record() if self.first_record else None
        if first is None or first <= since or first >= until:
            return since
        local = first.astimezone(self.tz)
        return local.replace(hour=0, minute=0, second=0, microsecond=0)

    def _bound(self, name: str, *, end_of_day: bool):
        text = self.cleaned_data.get(name) or ""
        if not text:
            return None
        moment = _moment(text, self.tz, end_of_day=end_of_day)
        if moment is None:
            self.add_error(
                name,
                _(
                    "Give a day (2026-11-01) or a time (2026-11-01T06:00), facility time, "
                    "between the years %(first)s and %(last)s."
                )
                % {"first": FIRST_YEAR, "last": LAST_YEAR},
            )
        return moment


def period_from(
    params, *, tz, default_days: int = DEFAULT_DAYS, first_record=None
) -> tuple[Period | None, dict]:
    """(the period, {}) or (None, {field: [messages]}) from query parameters;
    errors about the pair as a whole are under ``period``. ``first_record``,
    a callable, gives the time of the first record the page would show."""
    values = {name: params.get(name, "") for name in ("since", "until")}
    form = PeriodForm(values, tz=tz, default_days=default_days, first_record=first_record)
    if form.is_valid():
        return form.cleaned_data["period"], {}
    errors = {
        ("period" if field == "__all__" else field): [error["message"] for error in found]
        for field, found in form.errors.get_json_data().items()
    }
    return None, errors


def page_period(request, facility, *, default_days: int = DEFAULT_DAYS, keep=(), first_record=None):
    """(period or None, template context for ``audit/_period.html``).

    With bad input the period is None and the context carries the errors: the
    page answers 400 and shows them beside the form. ``keep`` names other query
    parameters the form must carry along.
    """
    period, errors = period_from(
        request.GET, tz=facility.tzinfo, default_days=default_days, first_record=first_record
    )
    context = {
        "period": period,
        "period_errors": errors,
        "keep_params": [(name, request.GET[name]) for name in keep if request.GET.get(name)],
        "period_since_input": request.GET.get("since", ""),
        "period_until_input": request.GET.get("until", ""),
    }
    if period is not None:
        since, until = period.local()
        context["period_since_input"] = since.strftime("%Y-%m-%dT%H:%M")
        context["period_until_input"] = until.strftime("%Y-%m-%dT%H:%M")
    return period, context
