import itertools

import factory
from django.utils import timezone

from custody import services
from custody.models import Facility, Location, LocationKind, SecurityLevel

PASSWORD = "correct-horse-battery-staple"


class FacilityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Facility

    code = factory.Sequence(lambda n: f"F{n:03d}")
    name = factory.Sequence(lambda n: f"Centro {n}")
    timezone = "America/Guatemala"


class LocationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Location

    facility = factory.SubFactory(FacilityFactory)
    code = factory.Sequence(lambda n: f"L{n:04d}")
    name = factory.LazyAttribute(lambda o: f"Location {o.code}")
    kind = LocationKind.UNIT


class CellFactory(LocationFactory):
    kind = LocationKind.CELL
    capacity = 4
    parent = factory.SubFactory(
        LocationFactory, facility=factory.SelfAttribute("..facility"), kind=LocationKind.UNIT
    )


class InmateFactory(factory.Factory):
    """Admits through the service, as the API does (first deadline set)."""

    class Meta:
        model = dict

    facility = factory.SubFactory(FacilityFactory)
    cell = factory.SubFactory(CellFactory, facility=factory.SelfAttribute("..facility"))
    booking_number = factory.Sequence(lambda n: f"GT-2026-{n:06d}")
    first_name = factory.Faker("first_name", locale="es_MX")
    last_name = factory.Faker("last_name", locale="es_MX")
    security_level = SecurityLevel.MEDIUM
    admitted_at = factory.LazyFunction(timezone.now)

    @classmethod
    def _create(cls, model_class, **kwargs):
        return services.inmate_admit(**kwargs)

    _build = _create


class UserFactory(factory.Factory):
    class Meta:
        model = dict

    username = factory.Sequence(lambda n: f"user{n}")
    password = PASSWORD
    role = "guard"
    facilities = factory.List([])

    @classmethod
    def _create(cls, model_class, facilities, **kwargs):
        if not facilities:
            facilities = [FacilityFactory()]
        return services.user_create(facilities=facilities, **kwargs)

    _build = _create


_device_numbers = itertools.count(1)


def device(facility, **kwargs):
    """A device and its one-time key."""
    kwargs.setdefault("name", f"reader-{next(_device_numbers)}")
    kwargs.setdefault("kind", "biometric")
    return services.device_create(facility=facility, **kwargs)
