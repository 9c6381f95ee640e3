"""Who may vouch for which kind of observation (docs/api.md "Check-ins").

A person's word (``visual``, ``manual``) is never machine evidence; a machine
read (``rfid``) or a biometric match comes only from a device that can make
it, at the place it serves.
"""

from custody.models import CheckInMethod, Device, DeviceKind, Location

METHOD_NOT_ALLOWED = "method_not_allowed"
WRONG_LOCATION = "wrong_location"

# What a person alone may report: their eyes, or a number they typed.
PERSON_METHODS = frozenset({CheckInMethod.VISUAL, CheckInMethod.MANUAL})

# A device whose ``methods`` is empty makes the methods of its kind: a reader
# matches and reads tags; a tablet reads wristband tags (its scanner) and
# carries its officer's visual and manual marks.
KIND_METHODS = {
    DeviceKind.BIOMETRIC: frozenset(
        {CheckInMethod.FINGERPRINT, CheckInMethod.FACE, CheckInMethod.IRIS, CheckInMethod.RFID}
    ),
    DeviceKind.TABLET: frozenset({CheckInMethod.RFID, CheckInMethod.VISUAL, CheckInMethod.MANUAL}),
}


def device_methods(device: Device) -> frozenset[str]:
    """The methods ``device`` may report: its own list, else its kind's."""
    if device.methods:
        return frozenset(device.methods) & frozenset(CheckInMethod.values)
    return KIND_METHODS.get(device.kind, frozenset())


def method_refusal(*, method: str, device: Device | None) -> str | None:
    """None when ``method`` may be reported; else ``"method_not_allowed"``.
    ``device`` None is a person alone: only ``visual`` and ``manual``. Any
    other method needs an active device whose methods list it."""
    if device is None:
        return None if method in PERSON_METHODS else METHOD_NOT_ALLOWED
    if not device.is_active or method not in device_methods(device):
        return METHOD_NOT_ALLOWED
    return None


def location_refusal(*, device: Device | None, location: Location) -> str | None:
    """None when ``device`` may report from ``location``; else
    ``"wrong_location"``. A device with a location reports only that place
    or places under it; one without, anywhere in its facility."""
    if device is None or device.location_id is None:
        return None
    place = location
    for _depth in range(16):  # units, cells: a few levels; never a loop
        if place is None:
            break
        if place.pk == device.location_id:
            return None
        place = place.parent
    return WRONG_LOCATION
