"""Who may vouch for what, and from where (DESIGN.md invariant 10).

Evidence is only as strong as its source. A biometric match comes from a
device that can make it (its declared ``methods``), at the place it is mounted
(its ``location`` or a place under it); a person's word (``visual``,
``manual``) is accepted, but never as a biometric proof. Ingestion, the tablet
pages and the device forms all ask this one module, so a rule cannot differ
between doors.

``rfid`` is not biometric: it proves a tag was read, not whose wrist it was on
(a tag can be cut off and carried). It is a machine read, so only a device may
make one, but ``is_biometric`` is false and identity verification counts only
``IDENTITY_METHODS``.
"""

from collections.abc import Iterable

from django.db import connection
from django.utils.translation import gettext as _

from custody.models import CheckInMethod, Device, DeviceKind, Location

METHOD_NOT_ALLOWED = "method_not_allowed"
WRONG_LOCATION = "wrong_location"

# Proof of who was there: a match of the person's body.
IDENTITY_METHODS = frozenset({CheckInMethod.FINGERPRINT, CheckInMethod.FACE, CheckInMethod.IRIS})
# What a person may report with their own sign-in: their word, never proof.
PERSON_METHODS = frozenset({CheckInMethod.VISUAL, CheckInMethod.MANUAL})
# Machine reads: only from a device that declares them.
MACHINE_METHODS = IDENTITY_METHODS | {CheckInMethod.RFID}

# A device that declares nothing makes what its kind makes. A tablet carries
# a guard's sign-in (visual, manual) and may scan wristbands; a reader never
# vouches with a person's word.
KIND_DEFAULT_METHODS = {
    DeviceKind.BIOMETRIC: MACHINE_METHODS,
    DeviceKind.TABLET: frozenset({CheckInMethod.RFID}) | PERSON_METHODS,
}
NOT_FOR_READERS = PERSON_METHODS


def device_methods(device: Device) -> frozenset[str]:
    """The methods ``device`` may post: those it declares, or its kind's."""
    declared = device.methods or ()
    if declared:
        return frozenset(declared)
    return KIND_DEFAULT_METHODS.get(device.kind, frozenset())


def method_refusal(*, method: str, device: Device | None) -> str | None:
    """None when ``method`` may be posted by ``device`` (None: a person with
    their own token or session), else ``METHOD_NOT_ALLOWED``. A deactivated
    device vouches for nothing."""
    if device is not None and not device.is_active:
        return METHOD_NOT_ALLOWED
    allowed = PERSON_METHODS if device is None else device_methods(device)
    return None if method in allowed else METHOD_NOT_ALLOWED


def device_places(device: Device | None) -> frozenset[int] | None:
    """The ids of the places a mounted device may report: its location and
    every place under it, in one query. None: anywhere in its facility (a
    handheld, or a person)."""
    if device is None or device.location_id is None:
        return None
    with connection.cursor() as cursor:
        cursor.execute(_SUBTREE_SQL, [device.location_id])
        return frozenset(row[0] for row in cursor.fetchall())


# Recursive in plain SQL, so the depth of the tree costs no extra round trips.
_SUBTREE_SQL = """
WITH RECURSIVE under(id) AS (
    SELECT id FROM custody_location WHERE id = %s
    UNION
    SELECT l.id FROM custody_location l JOIN under ON l.parent_id = under.id
)
SELECT id FROM under
"""


def location_refusal(
    *, device: Device | None, location: Location, places: frozenset[int] | None = None
) -> str | None:
    """None when ``device`` may report ``location``, else ``WRONG_LOCATION``.
    A mounted device reports only its place or places under it; a handheld
    (no location), any place of its facility; a person is scoped elsewhere.
    Pass ``places`` (``device_places``) to check many items with one query."""
    if device is None:
        return None
    if device.location_id is None:
        return None if location.facility_id == device.facility_id else WRONG_LOCATION
    if places is None:
        places = device_places(device)
    return location_id_refusal(location_id=location.pk, places=places)


def location_id_refusal(*, location_id: int, places: frozenset[int] | None) -> str | None:
    """``location_refusal`` for the ingestion hot path, on ids already read."""
    if places is None or location_id in places:
        return None
    return WRONG_LOCATION


def methods_problem(methods, *, kind: str) -> str | None:
    """Why ``methods`` cannot be declared for a device of ``kind`` (a message
    for the ``methods`` field), or None. Empty means the kind's defaults."""
    if not isinstance(methods, list):
        return _("Give a list of methods, e.g. %(example)s.") % {
            "example": '["fingerprint", "rfid"]'
        }
    unknown = [m for m in methods if not isinstance(m, str) or m not in CheckInMethod.values]
    if unknown:
        return _("Unknown method %(method)s; use some of: %(methods)s.") % {
            "method": repr(unknown[0])[:40],
            "methods": ", ".join(CheckInMethod.values),
        }
    if len(set(methods)) != len(methods):
        return _("Each method once.")
    if kind == DeviceKind.BIOMETRIC and NOT_FOR_READERS & set(methods):
        return _("A biometric reader cannot declare visual or manual: those are a person's word.")
    return None


def methods_canonical(methods: Iterable[str]) -> list[str]:
    """Declared methods in the order of ``CheckInMethod`` (stable ledger data)."""
    chosen = set(methods)
    return [m for m in CheckInMethod.values if m in chosen]
