"""Which tablet pages the service worker may keep for offline use, and for how
long: never past the sign-in that showed them (custody/static/custody/counts-sw.js).

A count page holds people's names. The worker keeps a copy only of a page
answered with ``X-Offline-For`` (seconds), and serves it without a network
only until then, by the tablet's own clock counted from when the page arrived
(so a tablet whose clock is wrong still counts the right number of seconds).
The seconds are what is left of the session, read from the session store:
an expired sign-in never leaves a page behind that opens without the server.
"""

from functools import wraps

from django.utils import timezone

OFFLINE_HEADER = "X-Offline-For"


def session_seconds_left(request) -> int:
    """Seconds until this request's session expires, as the store has it."""
    session = getattr(request, "session", None)
    if session is None or not session.session_key:
        return 0
    expires = None
    model_of = getattr(session, "get_model_class", None)  # database-backed stores
    if model_of is not None:
        expires = (
            model_of()
            .objects.filter(session_key=session.session_key)
            .values_list("expire_date", flat=True)
            .first()
        )
    if expires is None:
        return max(int(session.get_expiry_age()), 0) if model_of is None else 0
    return max(int((expires - timezone.now()).total_seconds()), 0)


def kept_offline(view):
    """A signed-in page the tablet may reopen offline while its session lasts."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        if response.status_code == 200 and request.user.is_authenticated:
            seconds = session_seconds_left(request)
            if seconds > 0:
                response[OFFLINE_HEADER] = str(seconds)
        # Only the service worker keeps a copy, never the browser's HTTP cache.
        response["Cache-Control"] = "no-store"
        return response

    return wrapped
