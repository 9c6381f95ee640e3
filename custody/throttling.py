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
