"""Invariant 3: the database itself refuses to change or remove check-ins,
quarantined scans and ledger events, whatever code (or person with a SQL
prompt) asks, through the partitioned parent and through a partition alike."""

import uuid
from datetime import UTC, timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from custody import services
from custody.models import CheckIn, LedgerEvent, QuarantinedCheckIn
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def record(facility):
    """One row in each append-only table."""
    cell = factories.CellFactory(facility=facility)
    inmate = factories.InmateFactory(facility=facility, cell=cell)
    now = timezone.now()
    # This month's partition, and (years back, past every monthly partition) the default one.
    for observed_at in (now, now - timedelta(days=3 * 365)):
        CheckIn.objects.create(
            id=uuid.uuid4(),
            observed_at=observed_at,
            received_at=now,
            facility=facility,
            inmate=inmate,
            location=cell,
            method="fingerprint",
            is_biometric=True,
            score=0.9,
        )
    QuarantinedCheckIn.objects.create(
        received_at=now,
        facility=facility,
        reason="unknown_inmate",
        errors={"inmate": ["unknown"]},
        raw={"inmate": "nobody"},
        fingerprint=uuid.uuid4().hex,
    )
    services.ledger_append(facility=facility, actor=None, action="test", subject="test:1")
    return facility


def current_partition() -> str:
    return "custody_checkin_" + timezone.now().astimezone(UTC).strftime("%Y_%m")


TABLES = [
    "custody_checkin",
    current_partition(),
    "custody_checkin_default",
    "custody_quarantinedcheckin",
    "custody_ledgerevent",
]
STATEMENTS = {
    "update": "UPDATE {table} SET {column} = {column}",
    "delete": "DELETE FROM {table}",
    "truncate": "TRUNCATE {table}",
}
A_COLUMN = {"custody_quarantinedcheckin": "reason", "custody_ledgerevent": "action"}


def refused(sql: str) -> str:
    """Runs ``sql`` in a savepoint and returns the database's refusal."""
    with pytest.raises(DatabaseError) as error, transaction.atomic(), connection.cursor() as cursor:
        # The fixture's rows are uncommitted, with foreign-key checks deferred;
        # PostgreSQL refuses TRUNCATE over pending checks before any trigger
        # runs. Checked now, they are out of the way of the trigger under test.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(sql)
    return str(error.value)


@pytest.mark.parametrize("table", TABLES)
@pytest.mark.parametrize("operation", sorted(STATEMENTS))
def test_the_database_refuses_to_change_or_remove_the_record(record, table, operation):
    sql = STATEMENTS[operation].format(table=table, column=A_COLUMN.get(table, "method"))
    assert "append-only" in refused(sql)
    # The refusal rolled back its savepoint only; the record is all still there.
    assert CheckIn.objects.count() == 2
    assert QuarantinedCheckIn.objects.count() == 1
    assert LedgerEvent.objects.filter(facility=record).exists()


def test_the_orm_is_refused_too(record):
    with pytest.raises(DatabaseError), transaction.atomic():
        CheckIn.objects.update(score=1.0)
    with pytest.raises(DatabaseError), transaction.atomic():
        LedgerEvent.objects.filter(facility=record).delete()
    with pytest.raises(DatabaseError), transaction.atomic():
        QuarantinedCheckIn.objects.all().delete()
    assert set(CheckIn.objects.values_list("score", flat=True)) == {0.9}


def test_the_test_rows_sit_in_the_partitions_under_test(record):
    with connection.cursor() as cursor:
        for table in (current_partition(), "custody_checkin_default"):
            cursor.execute(f"SELECT count(*) FROM {table}")
            assert cursor.fetchone() == (1,), table


def test_appending_is_still_allowed(record):
    services.ledger_append(facility=record, actor=None, action="test", subject="test:2")
    assert services.ledger_verify(facility=record).ok
