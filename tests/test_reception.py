"""Reception is a real place: a person admitted there is in custody (invariant
1: a cell or a reception area), counted and watched, and ``uncelled`` fires
when they wait past the facility's deadline, closing by itself once celled."""

from datetime import timedelta

import pytest
import time_machine
from django.db import IntegrityError, transaction
from django.utils import timezone

from alerts.models import Alert, AlertKind, AlertStatus, Severity
from custody import selectors
from custody.models import Inmate, InmateStatus, LocationKind, PendingChange
from custody.selectors.rollcalls import cells_within, counting_units
from tests import factories
from tests.alerting import reconcile
from tests.invariants import custody_invariant_problems

pytestmark = pytest.mark.django_db

T0 = timezone.now().replace(microsecond=0) - timedelta(days=2)


@pytest.fixture
def w(facility, make_user):
    with time_machine.travel(T0, tick=False):
        reception = factories.LocationFactory(
            facility=facility, code="REC", kind=LocationKind.RECEPTION
        )
        cell = factories.CellFactory(facility=facility, code="A-01")
        sup = make_user("supervisor", facility)
    return facility, reception, cell, sup


def admit_to_reception(api_as, facility, sup, booking="GT-R1"):
    body = {
        "booking_number": booking,
        "first_name": "Luis",
        "last_name": "Ixcot",
        "facility": facility.code,
        "cell": "REC",
        "security_level": "minimum",
    }
    answer = api_as(sup).post("/api/v1/inmates/", body, format="json")
    assert answer.status_code == 201, answer.content
    return Inmate.objects.get(booking_number=booking)


def uncelled():
    return list(Alert.objects.filter(kind=AlertKind.UNCELLED).order_by("id"))


def test_a_person_admitted_to_reception_is_in_custody_counted_and_listed(w, api_as):
    facility, reception, _cell, sup = w
    person = admit_to_reception(api_as, facility, sup)
    assert person.status == InmateStatus.IN_CUSTODY and person.cell_id == reception.pk
    assert custody_invariant_problems() == []
    headcount = selectors.facility_headcount(facility=facility)
    assert [(r.location, r.expected) for r in headcount.by_location] == [("REC", 1)]
    # Counted by roll calls too: reception is a unit a count can be taken of.
    assert reception in counting_units(facility)
    assert reception.pk in cells_within(reception)


def test_a_count_of_reception_expects_whoever_waits_there(w, api_as, make_user):
    from custody.services.rollcalls import rollcall_start

    facility, reception, _cell, sup = w
    person = admit_to_reception(api_as, facility, sup)
    rollcall, _created = rollcall_start(
        location=reception, kind="informal", by=make_user("guard", facility)
    )
    assert [(e.inmate_id, e.cell_id) for e in rollcall.expected.all()] == [
        (person.pk, reception.pk)
    ]


def test_waiting_past_the_deadline_raises_uncelled_and_a_cell_closes_it(w, api_as):
    facility, _reception, _cell, sup = w
    with time_machine.travel(T0, tick=False):
        person = admit_to_reception(api_as, facility, sup)
    reconcile(facility, T0 + timedelta(hours=3, minutes=59))
    assert uncelled() == []
    reconcile(facility, T0 + timedelta(hours=4, minutes=1))
    [alert] = uncelled()
    assert alert.inmate_id == person.pk and alert.severity == Severity.HIGH
    # Watched like anyone in a cell: unseen for the minimum level's two hours.
    missed = Alert.objects.get(kind=AlertKind.MISSED_CHECKIN, inmate=person)
    assert missed.location_id == person.cell_id
    assert alert.due_at == T0 + timedelta(hours=4)
    reconcile(facility, T0 + timedelta(hours=4, minutes=30))
    assert len(uncelled()) == 1  # one alert per person, not one per pass
    with time_machine.travel(T0 + timedelta(hours=5), tick=False):
        moved = api_as(sup).patch(f"/api/v1/inmates/{person.booking_number}/", {"cell": "A-01"})
        assert moved.status_code == 200, moved.content
    reconcile(facility, T0 + timedelta(hours=5, minutes=1))
    [alert] = uncelled()
    assert alert.status == AlertStatus.RESOLVED


def test_the_deadline_is_the_facility_s_setting(w, api_as):
    facility, *_rest, sup = w
    facility.reception_deadline_seconds = 3600
    facility.save()
    with time_machine.travel(T0, tick=False):
        admit_to_reception(api_as, facility, sup)
    reconcile(facility, T0 + timedelta(hours=1, minutes=1))
    assert len(uncelled()) == 1


@pytest.mark.parametrize("value", [0, 59, 90_000, "4h", None])
def test_a_bad_reception_deadline_is_a_400(w, make_user, api_as, value):
    facility, *_rest = w
    admin = make_user("admin", facility)
    answer = api_as(admin).patch(
        f"/api/v1/facilities/{facility.code}/",
        {"reception_deadline_seconds": value},
        format="json",
    )
    assert answer.status_code == 400 and "reception_deadline_seconds" in answer.json()["errors"]


def test_a_longer_reception_deadline_waits_for_a_second_officer(w, make_user, api_as):
    facility, *_rest = w
    admin = make_user("admin", facility)
    path = f"/api/v1/facilities/{facility.code}/"
    longer = api_as(admin).patch(path, {"reception_deadline_seconds": 8 * 3600}, format="json")
    assert longer.status_code == 202
    shorter = api_as(admin).patch(path, {"reception_deadline_seconds": 3600}, format="json")
    assert shorter.status_code == 200
    assert PendingChange.objects.count() == 1


def test_a_cell_move_goes_to_a_cell_never_back_to_reception(w, api_as):
    facility, _reception, cell, sup = w
    person = factories.InmateFactory(facility=facility, cell=cell, booking_number="GT-C1")
    answer = api_as(sup).patch(f"/api/v1/inmates/{person.booking_number}/", {"cell": "REC"})
    assert answer.status_code == 400 and "cell" in answer.json()["errors"]


def test_the_database_keeps_people_in_a_cell_or_reception(w, api_as):
    facility, reception, _cell, sup = w
    person = admit_to_reception(api_as, facility, sup)
    yard = factories.LocationFactory(facility=facility, code="PATIO", kind=LocationKind.YARD)
    with pytest.raises(IntegrityError), transaction.atomic():
        Inmate.objects.filter(pk=person.pk).update(cell=yard)
    with pytest.raises(IntegrityError), transaction.atomic():
        type(reception).objects.filter(pk=reception.pk).update(kind=LocationKind.YARD)
    answer = api_as(sup).patch(f"/api/v1/locations/{reception.pk}/", {"kind": "cell"})
    assert answer.status_code == 400 and "kind" in answer.json()["errors"]
