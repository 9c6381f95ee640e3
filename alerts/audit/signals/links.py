"""Where the records behind a signal's row can be read.

The workspace's person and officer pages are built by their own module; their
paths are made here in one place so they can move to ``reverse()`` as soon as
their URL names exist (``audit-inmate``, ``audit-officer``).
"""

from urllib.parse import quote, urlencode

from django.utils.translation import gettext as _

from alerts.audit.signals.base import Link, Scope

API = "/api/v1/"


def _segment(text) -> str:
    return quote(str(text), safe="")


def api_path(path: str, **params) -> str:
    """``/api/v1/<path>`` with the query parameters that are not None."""
    query = urlencode({name: value for name, value in params.items() if value is not None})
    return API + path + (f"?{query}" if query else "")


def person(scope: Scope, booking_number: str) -> Link:
    return Link(
        label=booking_number,
        url=f"/audit/{_segment(scope.code)}/people/{_segment(booking_number)}/",
    )


def officer(scope: Scope, username: str) -> Link:
    return Link(label=username, url=f"/audit/{_segment(scope.code)}/officers/{_segment(username)}/")


def rollcall(rollcall_id, label: str | None = None) -> Link:
    return Link(label=label or _("count"), url=api_path(f"rollcalls/{rollcall_id}/"))


def alert(alert_id) -> Link:
    return Link(label=_("alert #%(id)s") % {"id": alert_id}, url=api_path(f"alerts/{alert_id}/"))


def device(device_id, name: str) -> Link:
    return Link(label=name, url=api_path(f"devices/{device_id}/"))
