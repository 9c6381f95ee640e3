"""The credential that makes a browser an enrolled tablet (docs/api.md
"Tablets"): the tablet's device key in an HttpOnly, Secure, SameSite=Strict
cookie, so page scripts (and anything injected into them) cannot read it,
while every request of the page, the offline queue's replays included,
carries it. Deactivating the device, or enrolling the browser again, ends it.
"""

from datetime import timedelta

from django.conf import settings

from custody.models import DEVICE_KEY_PREFIX, Device, DeviceKind, hash_device_key

TABLET_COOKIE = "custody_tablet"
# Browsers keep a cookie at most 400 days; each count page renews it.
TABLET_COOKIE_AGE = timedelta(days=400)
_CACHE = "_custody_tablet"


def tablet_from_request(request) -> Device | None:
    """The tablet this browser holds the key of (active or not, so a page can
    say that its enrolment ended); None when it holds none or an unknown one."""
    if not hasattr(request, _CACHE):
        key = request.COOKIES.get(TABLET_COOKIE, "")
        device = None
        if key.startswith(DEVICE_KEY_PREFIX):
            device = (
                Device.objects.select_related("facility", "location")
                .filter(key_hash=hash_device_key(key), kind=DeviceKind.TABLET)
                .first()
            )
        setattr(request, _CACHE, device)
    return getattr(request, _CACHE)


def tablet_of_facility(request, facility) -> Device | None:
    """The browser's tablet if it is active and of ``facility``; any other is
    no tablet at all there (another facility's key vouches for nothing)."""
    device = tablet_from_request(request)
    if device is None or not device.is_active or device.facility_id != facility.pk:
        return None
    return device


def remember_tablet(response, key: str) -> None:
    response.set_cookie(
        TABLET_COOKIE,
        key,
        max_age=int(TABLET_COOKIE_AGE.total_seconds()),
        httponly=True,
        secure=settings.SESSION_COOKIE_SECURE,
        samesite="Strict",
        path="/",
    )


def renew_tablet(request, response) -> None:
    """Keeps an active tablet's cookie from running out while it is in use."""
    device = tablet_from_request(request)
    if device is not None and device.is_active:
        remember_tablet(response, request.COOKIES[TABLET_COOKIE])
