import itertools
import uuid
from datetime import timedelta

import factory
from django.utils import timezone

from alerts.models import Alert, AlertKind, Severity
from custody import services
from custody.models import (
    CheckIn,
    CheckInMethod,
    Facility,
    Location,
    LocationKind,
    RollCall,
    RollCallEntry,
    SecurityLevel,
)

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
    # Roomy by default: most tests fill one cell with everyone they need;
    # tests of capacity (tests/test_capacity.py) give their cells real sizes.
    capacity = 500
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


# --- Records as the services leave them (stored directly, for worlds with a past)


class CheckInFactory(factory.django.DjangoModelFactory):
    """A scan of a person in their cell, received 5 s after it was made; a
    visual check has no score. Stored as ingestion stores it, nothing more
    (the person's last sighting is not moved: use the service for that)."""

    class Meta:
        model = CheckIn

    id = factory.LazyFunction(uuid.uuid4)
    inmate = factory.SubFactory(InmateFactory)
    facility = factory.SelfAttribute("inmate.facility")
    location = factory.SelfAttribute("inmate.cell")
    observed_at = factory.LazyFunction(timezone.now)
    received_at = factory.LazyAttribute(lambda o: o.observed_at + timedelta(seconds=5))
    method = "fingerprint"
    is_biometric = factory.LazyAttribute(lambda o: o.method in CheckInMethod.biometric())
    score = factory.LazyAttribute(lambda o: None if o.method == "visual" else 0.93)


class RollCallFactory(factory.django.DjangoModelFactory):
    """A count as the services leave it once submitted (verified when
    ``verified_by`` is given): ``marks`` are (person, status, method), one
    every ``seconds_apart`` from ``at``, stored as its entries by ``by``;
    ``unaccounted_people`` are the ones nobody found."""

    class Meta:
        model = RollCall

    class Params:
        at = factory.LazyFunction(timezone.now)
        by = factory.LazyAttribute(
            lambda o: UserFactory(role="supervisor", facilities=[o.facility])
        )
        marks = ()
        seconds_apart = 60
        unaccounted_people = ()
        last_mark_at = factory.LazyAttribute(
            lambda o: o.at + timedelta(seconds=o.seconds_apart * max(len(o.marks) - 1, 0))
        )

    facility = factory.SubFactory(FacilityFactory)
    location = factory.SubFactory(LocationFactory, facility=factory.SelfAttribute("..facility"))
    kind = "formal"
    status = factory.LazyAttribute(lambda o: "verified" if o.verified_by else "submitted")
    started_at = factory.LazyAttribute(lambda o: o.at - timedelta(minutes=1))
    started_by = factory.SelfAttribute("by")
    submitted_at = factory.LazyAttribute(lambda o: o.last_mark_at + timedelta(minutes=1))
    submitted_by = factory.SelfAttribute("by")
    verified_by = None
    verified_at = factory.LazyAttribute(
        lambda o: o.submitted_at + timedelta(minutes=5) if o.verified_by else None
    )
    expected_count = factory.LazyAttribute(lambda o: len(o.marks))
    present_count = factory.LazyAttribute(
        lambda o: sum(1 for _person, status, _method in o.marks if status == "present")
    )
    out_count = 0
    unaccounted_count = factory.LazyAttribute(lambda o: len(o.unaccounted_people))
    unaccounted = factory.LazyAttribute(
        lambda o: [
            {"inmate": person.booking_number, "status": "in_custody"}
            for person in o.unaccounted_people
        ]
    )

    # Not a field: what _create stores as the count's entries.
    entries_plan = factory.LazyAttribute(lambda o: (o.at, o.seconds_apart, o.by, o.marks))

    @classmethod
    def _create(cls, model_class, *args, entries_plan, **kwargs):
        rollcall = super()._create(model_class, *args, **kwargs)
        at, seconds_apart, by, marks = entries_plan
        RollCallEntry.objects.bulk_create(
            RollCallEntryFactory.build(
                rollcall=rollcall,
                inmate=person,
                status=status,
                method=method,
                observed_at=at + timedelta(seconds=seconds_apart * n),
                recorded_by=by,
            )
            for n, (person, status, method) in enumerate(marks)
        )
        return rollcall


class RollCallEntryFactory(factory.django.DjangoModelFactory):
    """One mark of a count, received 2 s after it was made, by whoever
    started the count unless ``recorded_by`` says otherwise."""

    class Meta:
        model = RollCallEntry

    id = factory.LazyFunction(uuid.uuid4)
    rollcall = factory.SubFactory(RollCallFactory)
    inmate = factory.SubFactory(
        InmateFactory, facility=factory.SelfAttribute("..rollcall.facility")
    )
    status = "present"
    method = "visual"
    observed_at = factory.LazyFunction(timezone.now)
    received_at = factory.LazyAttribute(lambda o: o.observed_at + timedelta(seconds=2))
    recorded_by = factory.SelfAttribute("rollcall.started_by")


class AlertFactory(factory.django.DjangoModelFactory):
    """An alert as the reconciler stores it: open, high, a missed check-in,
    with a key of its own (so any number may be open at once) unless given."""

    class Meta:
        model = Alert

    facility = factory.SubFactory(FacilityFactory)
    kind = AlertKind.MISSED_CHECKIN
    severity = Severity.HIGH
    dedup_key = factory.LazyAttribute(lambda o: f"{o.kind}:test:{uuid.uuid4()}")
    opened_at = factory.LazyFunction(timezone.now)
