"""Signing a test client in the way the web sign-in does, second factor included."""

from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from custody.services.signin import needs_second_factor


def sign_in(client, user):
    """``client.force_login(user)``, past the second factor for an admin or
    superuser (an enrolled authenticator verified this session), as after
    a real sign-in. Others are signed in as they are."""
    client.force_login(user)
    if needs_second_factor(user):
        device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
        if device is None:
            device = TOTPDevice.objects.create(user=user, name="test", confirmed=True)
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
    return client
