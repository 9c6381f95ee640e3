"""README: the service can run under a role that cannot get around the
append-only triggers, and that role can still do its work."""

import uuid

import psycopg
import pytest
from django.db import connection

from tests import factories

APPEND_ONLY = "custody_checkin, custody_quarantinedcheckin, custody_ledgerevent"


@pytest.fixture
def app_role(transactional_db):
    # Roles are cluster-wide: one per test database, so parallel runs don't meet.
    role = f"app_{connection.settings_dict['NAME']}"[:63]
    with connection.cursor() as cursor:
        cursor.execute(f"DROP ROLE IF EXISTS {role}")
        cursor.execute(f"CREATE ROLE {role} LOGIN")
        # The grants of the README, as the owner would give them.
        cursor.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
        cursor.execute(
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}"
        )
        cursor.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}")
        cursor.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON {APPEND_ONLY} FROM {role}")
    settings = connection.settings_dict
    conn = psycopg.connect(
        host=settings["HOST"],
        port=settings["PORT"] or 5432,
        dbname=settings["NAME"],
        user=role,
        autocommit=True,
    )
    yield conn
    conn.close()
    with connection.cursor() as cursor:
        cursor.execute(f"DROP OWNED BY {role}")
        cursor.execute(f"DROP ROLE {role}")


def refused(conn, sql, params=()):
    try:
        conn.execute(sql, params)
    except psycopg.errors.InsufficientPrivilege:
        return True
    return False


def test_the_app_role_appends_but_cannot_rewrite_or_switch_the_triggers_off(app_role):
    inmate = factories.InmateFactory()
    row_id = uuid.uuid4()
    app_role.execute(
        "INSERT INTO custody_checkin (id, observed_at, received_at, facility_id, inmate_id, "
        "location_id, method, is_biometric, out_of_place) "
        "VALUES (%s, now(), now(), %s, %s, %s, 'face', true, false)",
        [row_id, inmate.facility_id, inmate.pk, inmate.cell_id],
    )
    # It still does its normal work on the mutable tables.
    app_role.execute("UPDATE custody_inmate SET last_seen_at = now() WHERE id = %s", [inmate.pk])

    assert refused(app_role, "UPDATE custody_checkin SET score = 1 WHERE id = %s", [row_id])
    assert refused(app_role, "DELETE FROM custody_checkin WHERE id = %s", [row_id])
    assert refused(app_role, "TRUNCATE custody_ledgerevent")
    assert refused(app_role, "SET session_replication_role = replica")
    assert refused(app_role, "ALTER TABLE custody_ledgerevent DISABLE TRIGGER USER")
    count = app_role.execute("SELECT count(*) FROM custody_checkin").fetchone()[0]
    assert count == 1
