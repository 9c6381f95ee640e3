"""Receivers that put sign-in events on the record."""

from axes.signals import user_locked_out
from django.dispatch import receiver

from custody.services.signin import lockout_record


@receiver(user_locked_out, dispatch_uid="custody.lockout_record")
def record_lockout(sender, request, username, ip_address, **kwargs):
    lockout_record(
        username=username,
        address=ip_address,
        failures=getattr(request, "axes_failures_since_start", None),
    )
