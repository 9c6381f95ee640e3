"""The embedded database's percentile gives what PostgreSQL's does."""

import sqlite3

import pytest
from django.db import connection

from alerts.audit.sqlite_functions import PercentileCont

VALUES = [7, 1, 10, 3, None, 4, 2, 9, 8, 6, 5]


def sqlite_percentile(fraction: float):
    db = sqlite3.connect(":memory:")
    db.create_aggregate("PERCENTILE_CONT", 2, PercentileCont)
    db.execute("CREATE TABLE t (x)")
    db.executemany("INSERT INTO t VALUES (?)", [(v,) for v in VALUES])
    return db.execute("SELECT PERCENTILE_CONT(x, ?) FROM t", (fraction,)).fetchone()[0]


@pytest.mark.django_db
@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9, 0.95])
def test_the_same_as_postgresql(fraction):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT percentile_cont(%s) WITHIN GROUP (ORDER BY x) FROM unnest(%s::int[]) AS t(x)",
            [fraction, VALUES],
        )
        expected = cursor.fetchone()[0]
    assert sqlite_percentile(fraction) == pytest.approx(expected)


def test_nothing_to_take_a_percentile_of():
    db = sqlite3.connect(":memory:")
    db.create_aggregate("PERCENTILE_CONT", 2, PercentileCont)
    assert db.execute("SELECT PERCENTILE_CONT(NULL, 0.5)").fetchone()[0] is None
