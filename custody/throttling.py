"""Rate limits shared by the API and the pages."""

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
