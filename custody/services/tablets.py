"""Enrolling a tablet (docs/api.md "Tablets"): an administrator, on the
tablet itself, makes it a device of its facility. From then on its marks are
recorded under the signed-in officer *and* the tablet, and only an enrolled,
active tablet whose methods include ``rfid`` may record a scan as ``rfid``.
"""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from custody import selectors
from custody.models import CheckInMethod, Device, DeviceKind, Facility, Location
from custody.roles import ADMIN_ROLES
from custody.services.access import device_create, device_update
from custody.services.evidence import KIND_DEFAULT_METHODS
from custody.services.ledger import ledger_append

TABLET_METHODS = KIND_DEFAULT_METHODS[DeviceKind.TABLET]


def require_enroller(user, facility: Facility) -> None:
    """Only an administrator of ``facility`` enrols its tablets."""
    if getattr(user, "role", None) not in ADMIN_ROLES:
        raise PermissionDenied(_("Only an administrator may enrol a tablet."))
    if facility.pk not in selectors.visible_facility_ids(user):
        raise PermissionDenied(
            _("You are not assigned to facility %(facility)s.") % {"facility": facility.code}
        )


@transaction.atomic
def tablet_enrol(
    *,
    facility: Facility,
    name: str,
    methods: list[str],
    by,
    location: Location | None = None,
    replacing: Device | None = None,
) -> tuple[Device, str]:
    """Makes a tablet device of ``facility``; answers it and its key (for the
    browser's cookie, shown to nobody). ``replacing``, the tablet the browser
    held before, is deactivated: one browser, one live credential. Both are
    on the facility's ledger (``tablet.enrolled`` names the admin)."""
    require_enroller(by, facility)
    unknown = sorted(set(methods) - TABLET_METHODS)
    if unknown or not methods:
        raise ValidationError(
            {
                "methods": _("A tablet makes some of: %(methods)s.")
                % {"methods": ", ".join(sorted(TABLET_METHODS))}
            }
        )
    # Another facility's tablet is not this admin's to end; its key leaves
    # this browser all the same (the cookie is replaced).
    if (
        replacing is not None
        and replacing.is_active
        and replacing.facility_id in selectors.visible_facility_ids(by)
    ):
        device_update(device=replacing, by=by, is_active=False)
    device, key = device_create(
        facility=facility, name=name, kind=DeviceKind.TABLET, location=location, by=by
    )
    device.methods = [m for m in CheckInMethod.values if m in methods]
    device.save(update_fields=["methods"])
    ledger_append(
        facility=facility,
        actor=by,
        action="tablet.enrolled",
        subject=f"device:{device.pk}",
        data={
            "name": device.name,
            "location": location.code if location else None,
            "methods": device.methods,
            "key_prefix": device.key_prefix,
            "replaces": str(replacing.pk) if replacing is not None else None,
        },
    )
    return device, key
