"""The custody record's own rules, held by the database as well as the code."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import IntegrityError, transaction
from django.utils import timezone

from custody import services
from custody.models import CellAssignment, Inmate, InmateStatus, LocationKind, SecurityLevel
from tests import factories

pytestmark = pytest.mark.django_db


@time_machine.travel("2026-11-24 07:00:00+00:00", tick=False)
@pytest.mark.parametrize(
    ("level", "minutes"),
    [(SecurityLevel.MAXIMUM, 30), (SecurityLevel.MEDIUM, 60), (SecurityLevel.MINIMUM, 120)],
)
def test_admission_sets_the_first_deadline_by_security_level(facility, level, minutes):
    inmate = factories.InmateFactory(facility=facility, security_level=level)
    assert inmate.status == InmateStatus.IN_CUSTODY
    assert inmate.next_due_at == timezone.now() + timedelta(minutes=minutes)


def test_a_new_facility_gets_the_default_check_intervals(facility, make_user, api_as):
    client = api_as(make_user("admin", facility))
    response = client.post("/api/v1/facilities/", {"code": "FJ2", "name": "Fraijanes II"})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["check_interval_seconds"] == {"maximum": 1800, "medium": 3600, "minimum": 7200}
    assert body["grace_seconds"] == 300 and body["timezone"] == "America/Guatemala"


@time_machine.travel("2026-11-24 07:00:00+00:00", tick=False)
def test_a_facility_can_tighten_its_check_intervals(db):
    facility = factories.FacilityFactory(
        check_interval_seconds={"maximum": 900, "medium": 1800, "minimum": 3600}
    )
    inmate = factories.InmateFactory(facility=facility, security_level=SecurityLevel.MAXIMUM)
    assert inmate.next_due_at == timezone.now() + timedelta(minutes=15)


def test_raising_the_security_level_brings_the_deadline_closer_never_further(facility):
    inmate = factories.InmateFactory(facility=facility, security_level=SecurityLevel.MINIMUM)
    before = inmate.next_due_at
    services.inmate_update(inmate=inmate, security_level=SecurityLevel.MAXIMUM)
    assert inmate.next_due_at == inmate.admitted_at + timedelta(minutes=30)
    services.inmate_update(inmate=inmate, security_level=SecurityLevel.MINIMUM)
    assert inmate.next_due_at == inmate.admitted_at + timedelta(minutes=30)
    assert inmate.next_due_at < before


def test_the_database_refuses_a_person_in_custody_without_a_cell(facility):
    """Invariant 1 (place half; docs/architecture.md), enforced by PostgreSQL,
    not only the code: a cell or a reception area, nothing else, never none."""
    inmate = factories.InmateFactory(facility=facility)
    with pytest.raises(IntegrityError), transaction.atomic():
        Inmate.objects.filter(pk=inmate.pk).update(cell=None)
    unit = inmate.cell.parent
    with pytest.raises(IntegrityError), transaction.atomic():
        Inmate.objects.filter(pk=inmate.pk).update(cell=unit)
    with pytest.raises(IntegrityError), transaction.atomic():
        now = timezone.now()  # a closed stay: only the place's kind is wrong
        CellAssignment.objects.create(inmate=inmate, cell=unit, started_at=now, ended_at=now)
    reception = factories.LocationFactory(facility=facility, kind=LocationKind.RECEPTION)
    Inmate.objects.filter(pk=inmate.pk).update(cell=reception)  # a reception area will do


def test_the_database_refuses_a_person_in_custody_without_a_deadline(facility):
    """Invariant 2 (docs/architecture.md): every inmate in custody has a next_due_at."""
    inmate = factories.InmateFactory(facility=facility)
    with pytest.raises(IntegrityError), transaction.atomic():
        Inmate.objects.filter(pk=inmate.pk).update(next_due_at=None)


def test_the_database_refuses_a_cell_without_capacity(facility):
    cell = factories.CellFactory(facility=facility)
    with pytest.raises(IntegrityError), transaction.atomic():
        type(cell).objects.filter(pk=cell.pk).update(capacity=None)


def test_the_overdue_query_uses_the_partial_index_on_next_due_at(facility):
    """Reconciliation must cost O(what is due): the due query reads the index."""
    from django.db import connection

    # A facility's worth of people, few of them due, with fresh statistics: on
    # an empty table the planner's choice between indexes is a coin toss.
    first = factories.InmateFactory(facility=facility)
    later = timezone.now() + timedelta(hours=1)
    copies = []
    for n in range(300):
        copy = Inmate.objects.get(pk=first.pk)
        copy.pk, copy.booking_number, copy.next_due_at = None, f"IDX-{n}", later
        copies.append(copy)
    Inmate.objects.bulk_create(copies)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE custody_inmate")
        cursor.execute("SET enable_seqscan = off")
        plan = (
            Inmate.objects.filter(
                facility=facility, status=InmateStatus.IN_CUSTODY, next_due_at__lt=timezone.now()
            )
            .only("id")
            .explain()
        )
        cursor.execute("RESET enable_seqscan")
    assert "inmate_due_per_facility" in plan


def test_times_are_shown_in_the_facilitys_own_zone(db, make_user, api_as):
    guatemala = factories.FacilityFactory(timezone="America/Guatemala")
    madrid = factories.FacilityFactory(timezone="Europe/Madrid")
    at = datetime(2026, 11, 24, 7, 0, tzinfo=UTC)
    factories.InmateFactory(facility=guatemala, booking_number="GT-1", admitted_at=at)
    factories.InmateFactory(facility=madrid, booking_number="ES-1", admitted_at=at)
    client = api_as(make_user("auditor", guatemala, madrid))
    gt = client.get("/api/v1/inmates/GT-1/").json()
    es = client.get("/api/v1/inmates/ES-1/").json()
    assert gt["admitted_at"] == "2026-11-24T01:00:00-06:00"
    assert es["admitted_at"] == "2026-11-24T08:00:00+01:00"
    assert gt["next_due_at"] == "2026-11-24T02:00:00-06:00"


def test_an_inmate_is_admitted_through_the_api_with_natural_keys(facility, make_user, api_as):
    factories.CellFactory(facility=facility, code="B-2-14")
    client = api_as(make_user("supervisor", facility))
    response = client.post(
        "/api/v1/inmates/",
        {
            "booking_number": "GT-2025-000123",
            "first_name": "Juan",
            "last_name": "Pérez",
            "facility": facility.code,
            "cell": "B-2-14",
            "security_level": "maximum",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["cell"] == "B-2-14" and body["facility"] == facility.code
    assert body["status"] == "in_custody" and body["next_due_at"] and body["last_seen_at"] is None
    listed = client.get(f"/api/v1/inmates/?facility={facility.code}&cell=B-2-14").json()
    assert listed["count"] == 1 and set(listed) == {"count", "next", "previous", "results"}


def test_lists_are_paginated_and_bounded_in_queries(
    facility, make_user, api_as, django_assert_max_num_queries
):
    cell = factories.CellFactory(facility=facility)
    for _ in range(30):
        factories.InmateFactory(facility=facility, cell=cell)
    client = api_as(make_user("guard", facility))
    with django_assert_max_num_queries(8):
        body = client.get("/api/v1/inmates/?page_size=10").json()
    assert body["count"] == 30 and len(body["results"]) == 10 and body["next"]


def test_custody_never_imports_alerts():
    """docs/architecture.md: custody knows nothing about alerts; alerts reads custody."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "custody"
    offenders = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path}: {n}" for n in names if n.split(".")[0] == "alerts"]
    assert not offenders


def test_shorter_check_intervals_bring_existing_deadlines_closer(facility, make_user, api_as):
    with time_machine.travel("2026-11-24 07:00:00+00:00", tick=False):
        inmate = factories.InmateFactory(facility=facility, security_level=SecurityLevel.MEDIUM)
        untouched = factories.InmateFactory(facility=facility, security_level="minimum")
        client = api_as(make_user("admin", facility))
        response = client.patch(
            f"/api/v1/facilities/{facility.code}/",
            {"check_interval_seconds": {"maximum": 900, "medium": 1200, "minimum": 7200}},
            format="json",
        )
        assert response.status_code == 200, response.content
    inmate.refresh_from_db()
    untouched.refresh_from_db()
    assert inmate.next_due_at == inmate.admitted_at + timedelta(minutes=20)
    assert untouched.next_due_at == untouched.admitted_at + timedelta(minutes=120)
    # Loosening never pushes a deadline away.
    client.patch(
        f"/api/v1/facilities/{facility.code}/",
        {"check_interval_seconds": {"maximum": 1800, "medium": 3600, "minimum": 7200}},
        format="json",
    )
    inmate.refresh_from_db()
    assert inmate.next_due_at == inmate.admitted_at + timedelta(minutes=20)


def test_an_admission_in_the_future_is_refused(facility, make_user, api_as):
    factories.CellFactory(facility=facility, code="A-01")
    client = api_as(make_user("supervisor", facility))
    future = (timezone.now() + timedelta(hours=3)).isoformat()
    response = client.post(
        "/api/v1/inmates/",
        {
            "booking_number": "GT-F-1",
            "first_name": "A",
            "last_name": "B",
            "facility": facility.code,
            "cell": "A-01",
            "security_level": "maximum",
            "admitted_at": future,
        },
        format="json",
    )
    assert response.status_code == 400
    assert "admitted_at" in response.json()["errors"]


def test_new_check_ins_are_found_by_arrival_through_the_brin_index(facility):
    """The reconciler reads only scans that arrived since its last pass
    (custody.selectors.due.checkins_received), on every monthly partition."""
    import re
    from datetime import timedelta

    from django.db import connection

    from custody.models import CheckIn

    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        plan = CheckIn.objects.filter(
            facility=facility, received_at__gt=now - timedelta(seconds=20), received_at__lte=now
        ).explain()
        cursor.execute("RESET enable_seqscan")
    # Partitions name the parent's BRIN index <partition>_received_at_idx.
    assert re.search(r"Index Scan on custody_checkin_\w+_received_at_idx", plan), plan
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'checkin_received_brin'")
        assert "USING brin" in cursor.fetchone()[0]
