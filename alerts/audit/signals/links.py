"""Where the records behind a signal's row can be read: the workspace's
pages where there is one (a person, an officer, a count), else the API."""

from urllib.parse import urlencode

from django.urls import reverse
from django.utils.translation import gettext as _

from alerts.audit.signals.base import Link, Scope

API = "/api/v1/"


def api_path(path: str, **params) -> str:
    """``/api/v1/<path>`` with the query parameters that are not None."""
    query = urlencode({name: value for name, value in params.items() if value is not None})
    return API + path + (f"?{query}" if query else "")


def person(scope: Scope, booking_number: str) -> Link:
    return Link(
        label=booking_number,
        url=reverse("audit-inmate", kwargs={"code": scope.code, "booking_number": booking_number}),
    )


def officer(scope: Scope, username: str) -> Link:
    return Link(
        label=username,
        url=reverse("audit-officer", kwargs={"code": scope.code, "username": username}),
    )


def rollcall(rollcall_id, label: str | None = None) -> Link:
    # The count's own page: its roster, every mark and who made it (read-only
    # for an auditor).
    return Link(label=label or _("count"), url=reverse("counts-count", kwargs={"pk": rollcall_id}))


def alert(alert_id) -> Link:
    return Link(label=_("alert #%(id)s") % {"id": alert_id}, url=api_path(f"alerts/{alert_id}/"))


def device(device_id, name: str) -> Link:
    return Link(label=name, url=api_path(f"devices/{device_id}/"))


def quarantine(scope: Scope, label: str, **filters) -> Link:
    """The refused scans of the period, narrowed by ``filters`` (reason, device,
    submitted_by), in the quarantine API."""
    return Link(
        label,
        api_path(
            "quarantine/",
            facility=scope.code,
            since=scope.iso(scope.since),
            until=scope.iso(scope.until, up=True),
            **filters,
        ),
    )
