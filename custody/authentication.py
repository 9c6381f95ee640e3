"""One ``Authorization: Token ...`` header for people and devices alike.

User tokens are DRF tokens; device keys start with ``dk_`` and are looked up by
their SHA-256 hash (the key itself is never stored).
"""

from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from custody.models import DEVICE_KEY_PREFIX, Device, hash_device_key


class DevicePrincipal:
    """Stands in for ``request.user`` when a reader or tablet authenticates."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_superuser = False
    is_staff = False
    role = None

    def __init__(self, device: Device):
        self.device = device
        self.pk = None
        self.username = f"device:{device.pk}"

    def __str__(self):
        return self.username


class TokenOrDeviceKeyAuthentication(TokenAuthentication):
    def authenticate_credentials(self, key):
        if key.startswith(DEVICE_KEY_PREFIX):
            device = (
                Device.objects.select_related("facility", "location")
                .filter(key_hash=hash_device_key(key), is_active=True)
                .first()
            )
            if device is None:
                raise exceptions.AuthenticationFailed(_("Invalid or revoked device key."))
            return DevicePrincipal(device), device
        return super().authenticate_credentials(key)
