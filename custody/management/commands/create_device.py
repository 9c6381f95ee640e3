"""Registers a biometric reader or tablet and prints its key, this once.

The key is stored only as a hash, so this output is the one chance to copy it
into the device. A lost key is replaced by rotating it (Django admin, Devices,
"Issue new keys"), not recovered.
"""

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.management.base import BaseCommand, CommandError

from custody import services
from custody.models import CheckInMethod, DeviceKind, Facility, Location
from custody.services.evidence import device_methods


class Command(BaseCommand):
    help = "Register a device (biometric reader or tablet) and print its key once."

    def add_arguments(self, parser):
        parser.add_argument("--facility", required=True, help="Facility code, e.g. FJ2.")
        parser.add_argument("--name", required=True, help="Unique inside the facility.")
        parser.add_argument(
            "--kind", required=True, help=f"One of: {', '.join(DeviceKind.values)}."
        )
        parser.add_argument("--location", help="Location code inside the facility (optional).")
        parser.add_argument(
            "--methods",
            default="",
            help=(
                "Comma-separated methods it can make, e.g. fingerprint,rfid "
                f"(of: {', '.join(CheckInMethod.values)}); none: the defaults of its kind."
            ),
        )

    def handle(
        self,
        *args,
        facility: str,
        name: str,
        kind: str,
        location: str | None,
        methods: str = "",
        **options,
    ):
        if kind not in DeviceKind.values:
            raise CommandError(
                f"Unknown kind {kind!r}; use one of: {', '.join(DeviceKind.values)}."
            )
        facility_obj = facility_get(facility)
        location_obj = location_get(facility_obj, location) if location else None
        try:
            device, key = services.device_create(
                facility=facility_obj,
                name=name,
                kind=kind,
                location=location_obj,
                methods=[m.strip() for m in methods.split(",") if m.strip()],
            )
        except ValidationError as exc:
            raise CommandError(f"Device not created: {describe(exc)}") from exc
        where = f"{facility_obj.code}/{location_obj.code}" if location_obj else facility_obj.code
        self.stdout.write(self.style.SUCCESS(f"Device {device.name!r} ({device.kind}) at {where}"))
        self.stdout.write(f"  id:  {device.pk}")
        self.stdout.write(f"  methods: {', '.join(sorted(device_methods(device)))}")
        self.stdout.write(f"  key: {key}")
        self.stdout.write(
            self.style.WARNING(
                "  The key is shown only this once (it is stored hashed): copy it into the "
                "device now."
            )
        )


def facility_get(code: str) -> Facility:
    facility = Facility.objects.filter(code=code).first()
    if facility is None:
        known = ", ".join(Facility.objects.values_list("code", flat=True)[:20]) or "none yet"
        raise CommandError(f"Unknown facility {code!r} (known: {known}).")
    return facility


def location_get(facility: Facility, code: str) -> Location:
    location = Location.objects.filter(facility=facility, code=code).first()
    if location is None:
        raise CommandError(f"Unknown location {code!r} in facility {facility.code}.")
    return location


def describe(exc: ValidationError) -> str:
    """One line naming the field of each error, e.g. "name: This field cannot be blank."."""
    if not hasattr(exc, "error_dict"):
        return "; ".join(exc.messages)
    return "; ".join(
        message if field == NON_FIELD_ERRORS else f"{field}: {message}"
        for field, messages in exc.message_dict.items()
        for message in messages
    )
