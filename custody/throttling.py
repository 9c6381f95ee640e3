"""Rate limits shared by the API and the pages."""

import hashlib

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle


class AuthThrottle(SimpleRateThrottle):
    """Slows password guessing: a few sign-ins per minute per client address."""

    scope = "auth"

    def get_rate(self):
        # Read per call, so the rate follows settings (and tests can lower it).
        return settings.AUTH_THROTTLE_RATE

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class LedgerVerifyThrottle(SimpleRateThrottle):
    """A whole-chain verification is minutes of database reading: a few per
    hour per person (``LEDGER_VERIFY_THROTTLE_RATE``)."""

    scope = "ledger_verify"

    def get_rate(self):
        return settings.LEDGER_VERIFY_THROTTLE_RATE

    def get_cache_key(self, request, view):
        ident = request.user.pk if request.user.is_authenticated else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}


class UsernameThrottle(SimpleRateThrottle):
    """Slows guessing one account's password from many addresses: a few
    sign-ins per minute per username, wherever they come from."""

    scope = "auth_user"

    def __init__(self, username: str | None = None):
        super().__init__()
        self.username = username  # a later step names it; else the request does

    def get_rate(self):
        return settings.AUTH_THROTTLE_USERNAME_RATE

    def get_cache_key(self, request, view):
        username = self.username or submitted_username(request)
        if not username:
            return None  # nothing to count: the form or serializer refuses it
        # Hashed: any text fits a cache key, and case does not make a new budget.
        ident = hashlib.sha256(username.strip().casefold().encode()).hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": ident}


SIGN_IN_THROTTLES = [AuthThrottle, UsernameThrottle]


def submitted_username(request) -> str | None:
    """The username in a sign-in request (a form post or a JSON body)."""
    data = getattr(request, "data", None)
    if data is None:
        data = request.POST
    if not hasattr(data, "get"):
        return None
    username = data.get("username")
    return username if isinstance(username, str) else None


def client_address(request) -> str | None:
    """The client's address as DRF's throttles compute it: X-Forwarded-For
    only through ``NUM_PROXIES`` trusted proxies, otherwise REMOTE_ADDR."""
    return AuthThrottle().get_ident(request)


def sign_in_allowed(request, view=None, *, username: str | None = None) -> bool:
    """Both sign-in budgets, for views outside DRF (the pages, the admin, the
    second-factor step, whose username is the pending sign-in's). Both are
    charged, as DRF does, so neither budget can be skipped."""
    allowed = [
        AuthThrottle().allow_request(request, view),
        UsernameThrottle(username).allow_request(request, view),
    ]
    return all(allowed)
