"""One ``Authorization: Token ...`` header for people and devices alike.

Person tokens are knox tokens (hashed, expiring, one per signed-in device);
device keys start with ``dk_`` and are looked up by their SHA-256 hash. Neither
is ever stored in the clear.
"""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from knox.auth import TokenAuthentication
from rest_framework import exceptions

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
    def authenticate_credentials(self, token: bytes):
        key = token.decode("utf-8", errors="replace")
        if key.startswith(DEVICE_KEY_PREFIX):
            device = (
                Device.objects.select_related("facility", "location")
                .filter(key_hash=hash_device_key(key), is_active=True)
                .first()
            )
            if device is None:
                raise exceptions.AuthenticationFailed(_("Invalid or revoked device key."))
            return DevicePrincipal(device), device
        return super().authenticate_credentials(token)


class TokenOrDeviceKeyScheme(OpenApiAuthenticationExtension):
    target_class = TokenOrDeviceKeyAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <token>` from POST /api/v1/auth/token/, or "
            "`Token dk_...` with a device key.",
        }
