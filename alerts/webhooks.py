"""Where a webhook may point, and what it needs before anything is sent.

An alert is read by whoever receives the request, and a forged one would
send people running: so a webhook goes over ``https`` (plain ``http`` only to
a host an operator listed in ``WEBHOOK_ALLOWED_HOSTS``, e.g. a gateway on the
internal network), carries no credentials in its URL, and is always signed.
The same rules hold when a channel is saved and again when a message is sent,
so a row stored before the rules existed is never sent unsigned or in clear.
"""

from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext as _


def allowed_plain_hosts() -> frozenset[str]:
    """``WEBHOOK_ALLOWED_HOSTS``, lower-cased, IPv6 brackets dropped."""
    return frozenset(
        host.strip().lower().strip("[]") for host in settings.WEBHOOK_ALLOWED_HOSTS if host.strip()
    )


def target_problem(url: str) -> str | None:
    """Why ``url`` may not receive alerts, or None.

    The host is compared whole: ``gateway.lan`` allows neither
    ``evil-gateway.lan`` nor ``gateway.lan.evil.org``. Anything two URL
    parsers could read differently (spaces, control characters, backslashes,
    user information) is refused rather than guessed at.
    """
    if not url or any(ch <= " " or ch in "\\\x7f" for ch in url):
        return _("Give a URL without spaces, control characters or backslashes.")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises on a port that is not a number in range
    except ValueError:
        return _("This is not a valid URL.")
    if "@" in parts.netloc:
        return _("A webhook URL may not carry a user name or password; use the signing secret.")
    host = (parts.hostname or "").lower()
    if not host:
        return _("The URL needs a host name.")
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and host in allowed_plain_hosts():
        return None
    return _(
        "A webhook must use https (plain http only to a host listed in WEBHOOK_ALLOWED_HOSTS)."
    )


def secret_problem(secret: str) -> str | None:
    if not (secret or "").strip():
        return _(
            "A webhook needs a signing secret: its receiver checks every request with it, "
            "so an alert cannot be forged or altered on the way."
        )
    return None
