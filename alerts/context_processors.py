"""The red banner of invariant 8, on every page rendered with a request."""

from django.utils import timezone

from alerts.selectors import reconciler_watch
from alerts.services.policy import is_stale


def reconciler_banner(request) -> dict:
    """``reconciler_stale`` when some facility's last pass (or creation, never
    reconciled) is older than twice the period, as ``/healthz`` decides; and
    ``reconciler_last_pass_at``, since when. One query, once per request,
    on every page, the sign-in page included: a guard starting a shift sees
    it before anything else."""
    state = getattr(request, "_reconciler_banner", None)
    if state is None:
        now = timezone.now()
        oldest, last_start = reconciler_watch(now)
        state = {
            "reconciler_stale": is_stale(oldest, now, last_start),
            "reconciler_last_pass_at": oldest,
        }
        request._reconciler_banner = state
    return state
