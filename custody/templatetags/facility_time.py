"""One way to show a moment on a page: "22:53" when it is today in the
facility, "2 dic 22:53" another day, with the year when it is another year.
A bare time from yesterday reads as today's: the date is what tells them
apart.

    {% load facility_time %}
    {{ rollcall.submitted_at|when:facility }}        (a Facility, or a zone name)
    {{ alert.opened_at|when }}                       (the zone {% timezone %} set)
"""

import zoneinfo
from datetime import datetime, tzinfo

from django import template
from django.utils import timezone
from django.utils.formats import date_format

register = template.Library()


def _zone(where) -> tzinfo:
    if where is None or where == "":
        return timezone.get_current_timezone()
    if isinstance(where, tzinfo):
        return where
    if isinstance(where, str):
        return zoneinfo.ZoneInfo(where)
    return where.tzinfo  # a Facility


def when_text(moment: datetime | None, where=None, *, now: datetime | None = None) -> str:
    """``moment`` in the zone of ``where``: its time, and its date unless it
    is today there."""
    if moment is None:
        return ""
    zone = _zone(where)
    local = timezone.localtime(moment, zone)
    today = timezone.localtime(now or timezone.now(), zone).date()
    if local.date() == today:
        return date_format(local, "H:i")
    if local.year == today.year:
        return date_format(local, "j M H:i")
    return date_format(local, "j M Y H:i")


@register.filter
def when(moment, where=None) -> str:
    return when_text(moment, where)
