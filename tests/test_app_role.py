"""Issue 14: web, worker and beat run as an app role that cannot rewrite
history. ``grant_app_role`` makes it; connected as it, every way round the
append-only triggers is refused, and the whole service still works."""

import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from alerts.models import Alert, AlertKind, NotificationChannel
from alerts.services import alert_acknowledge
from custody import tasks
from custody.models import LedgerEvent, RollCallEntry
from custody.services import ledger, rollcalls
from tests import factories
from tests.alerting import reconcile, scan
from tests.rollcall_world import count_world, entry, verify_by_recount

APPEND_ONLY = {
    "custody_checkin",
    "custody_quarantinedcheckin",
    "custody_ledgerevent",
    "custody_rollcallexpected",
    "custody_rollcallentry",
    "custody_roundcheck",
    "custody_roundobservation",
}
NEVER_DELETED = {
    "custody_rollcall",
    "custody_locationtag",
    "alerts_alert",
    "alerts_notification",
}
FAR_MONTHS = ("2091_03", "2091_04", "2091_05", "2091_06", "2092_01")


def role_name(prefix: str) -> str:
    # Roles are cluster-wide: one per test database, so parallel runs don't meet.
    return f"{prefix}_{connection.settings_dict['NAME']}"[:63]


def owner_connect(**kwargs) -> psycopg.Connection:
    """The test database's owner (the role that migrated), beside Django's connection."""
    settings = connection.settings_dict
    return psycopg.connect(
        host=settings["HOST"],
        port=settings["PORT"] or 5432,
        dbname=settings["NAME"],
        user=kwargs.pop("user", settings["USER"]),
        password=settings["PASSWORD"] or None,
        autocommit=True,
        **kwargs,
    )


def drop_role(conn, role: str) -> None:
    if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone():
        conn.execute(f"DROP OWNED BY {role}")
        conn.execute(f"DROP ROLE {role}")


def drop_far_partitions(conn) -> None:
    for month in FAR_MONTHS:
        conn.execute(f"DROP TABLE IF EXISTS custody_checkin_{month}")


@pytest.fixture(scope="module")
def app_role(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        role = role_name("app")
        with owner_connect() as owner:
            drop_role(owner, role)
            drop_far_partitions(owner)
        call_command("grant_app_role", role, verbosity=0)
        yield role
        with owner_connect() as owner:
            drop_far_partitions(owner)
            drop_role(owner, role)


@pytest.fixture
def app_sql(app_role, transactional_db):
    with owner_connect(user=app_role) as conn:
        yield conn


@pytest.fixture
def as_app_role(app_role, transactional_db):
    """Django itself connected as the app role, as web, worker and beat are."""
    settings = connection.settings_dict
    saved = settings["USER"], settings["PASSWORD"]
    connection.close()
    settings["USER"], settings["PASSWORD"] = app_role, ""
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        assert cursor.fetchone()[0] == app_role
    yield app_role
    connection.close()  # the flush after the test runs as the owner again
    settings["USER"], settings["PASSWORD"] = saved


def refused(conn, sql: str) -> bool:
    """True when PostgreSQL refuses ``sql`` for lack of rights; anything it
    does let through is rolled back."""
    try:
        with conn.transaction():
            conn.execute(sql)
            raise psycopg.Rollback()
    except psycopg.errors.InsufficientPrivilege:
        return True
    return False


def checkin_partitions(conn) -> set[str]:
    rows = conn.execute(
        "SELECT inhrelid::regclass::text FROM pg_inherits "
        "WHERE inhparent = 'public.custody_checkin'::regclass"
    ).fetchall()
    return {name for (name,) in rows}


def refusing_tables(conn) -> set[str]:
    """The tables a ``custody_refuse_change`` trigger guards, from the catalogue."""
    rows = conn.execute(
        "SELECT DISTINCT t.tgrelid::regclass::text FROM pg_trigger t "
        "JOIN pg_proc p ON p.oid = t.tgfoid WHERE p.proname = 'custody_refuse_change'"
    ).fetchall()
    return {name for (name,) in rows}


# --- What the app role cannot do ----------------------------------------------------


def test_the_app_role_cannot_rewrite_any_append_only_table_or_partition(app_role, app_sql):
    made = app_sql.execute(
        "SELECT public.custody_checkin_ensure_partitions('2092-01-15', 0, 0)"
    ).fetchone()[0]
    assert made == 1  # a partition made later, by beat's function, as the app role
    partitions = checkin_partitions(app_sql)
    assert {"custody_checkin_default", "custody_checkin_2092_01"} <= partitions
    append_only = APPEND_ONLY | partitions | refusing_tables(app_sql)

    for table in sorted(append_only):
        for sql in (
            f"UPDATE {table} SET id = id",
            f"DELETE FROM {table}",
            f"TRUNCATE {table}",
            f"ALTER TABLE {table} DISABLE TRIGGER USER",
            f"ALTER TABLE {table} DISABLE TRIGGER ALL",
        ):
            assert refused(app_sql, sql), sql
    for table in sorted(NEVER_DELETED):
        for sql in (f"DELETE FROM {table}", f"TRUNCATE {table}"):
            assert refused(app_sql, sql), sql
        assert refused(app_sql, f"ALTER TABLE {table} DISABLE TRIGGER USER")
    for partition in sorted(partitions):
        assert refused(app_sql, f"DROP TABLE {partition}")
        assert refused(app_sql, f"ALTER TABLE custody_checkin DETACH PARTITION {partition}")
    assert refused(app_sql, "SET session_replication_role = replica")
    assert refused(app_sql, "CREATE TABLE public.custody_shadow (id int)")
    assert refused(app_sql, "CREATE TABLE custody_shadow (id int)")
    assert refused(app_sql, "CREATE SCHEMA custody_shadow")
    assert refused(
        app_sql, "CREATE FUNCTION public.custody_shadow() RETURNS int AS 'SELECT 1' LANGUAGE sql"
    )


def test_the_app_role_is_no_superuser_owns_nothing_and_is_granted_no_more(app_role, app_sql):
    superuser, inherits, creates_roles, member_of = app_sql.execute(
        "SELECT rolsuper, rolinherit, rolcreaterole, "
        "(SELECT count(*) FROM pg_auth_members WHERE member = r.oid) "
        "FROM pg_roles r WHERE rolname = current_user"
    ).fetchone()
    assert (superuser, inherits, creates_roles, member_of) == (False, False, False, 0)
    owned = app_sql.execute(
        "SELECT relname FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles "
        "WHERE rolname = current_user)"
    ).fetchall()
    assert owned == []
    # A catalogue sweep of every table: what the statements above can't all try.
    too_much = app_sql.execute(
        """
        SELECT c.relname, p.privilege FROM pg_class c
        CROSS JOIN unnest(ARRAY['TRUNCATE', 'REFERENCES', 'TRIGGER']) AS p(privilege)
        WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
          AND has_table_privilege(c.oid, p.privilege)
        """
    ).fetchall()
    assert too_much == []
    rewritable = [
        table
        for table in sorted(APPEND_ONLY | checkin_partitions(app_sql))
        if app_sql.execute(
            "SELECT has_table_privilege(%s, 'UPDATE') OR has_table_privilege(%s, 'DELETE')",
            [table, table],
        ).fetchone()[0]
    ]
    assert rewritable == []
    assert not app_sql.execute("SELECT has_schema_privilege('public', 'CREATE')").fetchone()[0]


def test_only_the_app_role_may_make_partitions_and_only_within_bounds(app_role, app_sql):
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        app_sql.execute("SELECT public.custody_checkin_ensure_partitions(now(), 0, 1000)")
    grantees = app_sql.execute(
        "SELECT coalesce(a.grantee::regrole::text, 'PUBLIC') FROM pg_proc, aclexplode(proacl) a "
        "WHERE proname = 'custody_checkin_ensure_partitions' AND a.grantee <> proowner"
    ).fetchall()
    assert grantees == [(app_role,)]  # not PUBLIC


# --- grant_app_role refuses what would not be safe -----------------------------------


def test_grant_app_role_refuses_a_superuser_itself_a_member_or_an_owner(db):
    superuser, member, holder = role_name("su"), role_name("member"), role_name("holder")
    table = f"public.{holder}"[:70]
    with owner_connect() as owner:
        for role in (superuser, member, holder):
            drop_role(owner, role)
        owner.execute(f"CREATE ROLE {superuser} SUPERUSER")
        owner.execute(f"CREATE ROLE {member}")
        owner.execute(f"GRANT {connection.settings_dict['USER']} TO {member}")
        # As a partition made by the app role in the old restricted-role setup.
        owner.execute(f"CREATE ROLE {holder}")
        owner.execute(f"CREATE TABLE {table} (id int)")
        owner.execute(f"ALTER TABLE {table} OWNER TO {holder}")
        try:
            with pytest.raises(CommandError, match="superuser"):
                call_command("grant_app_role", superuser)
            with pytest.raises(CommandError, match="is a member of"):
                call_command("grant_app_role", member)
            with pytest.raises(CommandError, match=f"REASSIGN OWNED BY {holder}"):
                call_command("grant_app_role", holder)
            with pytest.raises(CommandError, match="as the owner role"):
                call_command("grant_app_role", connection.settings_dict["USER"])
            with pytest.raises(CommandError, match="plain role name"):
                call_command("grant_app_role", 'x"; DROP TABLE custody_ledgerevent; --')
        finally:
            owner.execute(f"DROP TABLE IF EXISTS {table}")
            for role in (superuser, member, holder):
                drop_role(owner, role)


def test_grant_app_role_is_idempotent_and_sets_a_hashed_password(app_role, db, tmp_path):
    def sql(query):
        with connection.cursor() as cursor:  # the command's own transaction: sees its work
            cursor.execute(query, [app_role])
            return cursor.fetchall()

    privileges = (
        "SELECT c.relname, a.privilege_type FROM pg_class c, aclexplode(c.relacl) a "
        "WHERE a.grantee = %s::regrole ORDER BY 1, 2"
    )
    before = sql(privileges)
    secret = tmp_path / "password"
    secret.write_text("correct horse battery staple\n")
    call_command("grant_app_role", app_role, password_file=str(secret), verbosity=0)
    assert sql(privileges) == before
    [(stored,)] = sql("SELECT rolpassword FROM pg_authid WHERE rolname = %s")
    assert stored.startswith("SCRAM-SHA-256$") and "horse" not in stored


# --- ...and the service works under it -------------------------------------------------


def test_ingestion_and_a_reconcile_pass_that_opens_an_alert_run_as_the_app_role(as_app_role):
    t0 = timezone.now().replace(microsecond=0) - timedelta(days=1)
    facility = factories.FacilityFactory()
    with time_machine.travel(t0, tick=False):
        cell = factories.CellFactory(facility=facility, code="A-01")
        seen = factories.InmateFactory(facility=facility, cell=cell, admitted_at=t0)
        missed = factories.InmateFactory(facility=facility, cell=cell, admitted_at=t0)
    NotificationChannel.objects.create(
        facility=facility, level=0, name="L0", kind="email", target="guardia@fj2.gob.gt"
    )
    _device, key = factories.device(facility)

    assert scan(key, seen, cell, t0 + timedelta(minutes=30))["accepted"] == 1
    reconcile(facility, t0 + timedelta(minutes=66))

    alert = Alert.objects.get(kind=AlertKind.MISSED_CHECKIN, inmate=missed)
    assert alert.notifications.exists()
    supervisor = factories.UserFactory(role="supervisor", facilities=[facility])
    assert alert_acknowledge(alert=alert, by=supervisor).status == "acknowledged"
    assert not Alert.objects.filter(inmate=seen).exists()


def test_beat_makes_partitions_owned_by_the_owner_not_the_app_role(as_app_role):
    with time_machine.travel(datetime(2091, 3, 15, 12, tzinfo=UTC), tick=False):
        assert tasks.ensure_checkin_partitions() == 4
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_get_userbyid(c.relowner), pg_get_userbyid(parent.relowner), "
            "(SELECT count(*) FROM pg_trigger t WHERE t.tgrelid = c.oid "
            "AND t.tgname = 'custody_append_only_truncate') "
            "FROM pg_class c, pg_class parent WHERE parent.relname = 'custody_checkin' "
            "AND c.relkind = 'r' AND c.relname LIKE 'custody_checkin_2091_%%' ORDER BY 1"
        )
        made = cursor.fetchall()
    assert [row[0] for row in made] == [f"custody_checkin_{m}" for m in FAR_MONTHS[:4]]
    for _name, owner, parent_owner, truncate_guards in made:
        assert owner == parent_owner != as_app_role
        assert truncate_guards == 1


def test_roll_calls_and_the_ledger_run_as_the_app_role(as_app_role, make_user):
    w = count_world(factories.FacilityFactory(), make_user, people=3)
    rollcall, _ = rollcalls.rollcall_start(location=w.unit, kind="formal", by=w.users["guard"])
    rollcalls.rollcall_record_entries(
        rollcall=rollcall,
        raw_entries=[entry(p["booking_number"]) for p in w.people],
        by=w.users["guard"],
    )
    rollcall = rollcalls.rollcall_submit(rollcall=rollcall, by=w.users["guard"])
    rollcall = verify_by_recount(rollcall, w.users["supervisor"])
    assert rollcall.status == "verified"
    assert RollCallEntry.objects.filter(rollcall=rollcall).count() == 3

    event = ledger.ledger_append(
        facility=w.facility, actor=w.users["admin"], action="test.app_role", subject="x"
    )
    assert LedgerEvent.objects.filter(pk=event.pk).exists()
    assert ledger.ledger_verify(facility=w.facility).ok


def test_sign_in_by_session_and_by_token_runs_as_the_app_role(as_app_role, client):
    from rest_framework.test import APIClient

    user = factories.UserFactory(role="guard", username=f"guard-{uuid.uuid4().hex[:8]}")
    signed_in = client.post("/login/", {"username": user.username, "password": factories.PASSWORD})
    assert signed_in.status_code == 302
    assert client.post("/logout/").status_code in (200, 302)  # the session row is deleted

    api = APIClient()
    answer = api.post(
        "/api/v1/auth/token/",
        {"username": user.username, "password": factories.PASSWORD},
        format="json",
    )
    assert answer.status_code == 200, answer.content
    api.credentials(HTTP_AUTHORIZATION=f"Token {answer.json()['token']}")
    assert api.get("/api/v1/users/me/").status_code == 200
    assert api.post("/api/v1/auth/token/revoke/").status_code == 204
    assert api.get("/api/v1/users/me/").status_code == 401


def test_a_month_detached_for_archiving_stays_read_only_for_the_app(app_role, transactional_db):
    """Detaching a month drops the triggers it inherited; the next grant must
    not mistake it for an ordinary table the app may rewrite."""
    month = "custody_checkin_2092_01"
    with owner_connect() as owner:
        owner.execute("SELECT public.custody_checkin_ensure_partitions('2092-01-15', 0, 0)")
        owner.execute(f"ALTER TABLE custody_checkin DETACH PARTITION {month}")
        try:
            call_command("grant_app_role", app_role, verbosity=0)
            privileges = {
                row[0]
                for row in owner.execute(
                    "SELECT privilege_type FROM information_schema.role_table_grants "
                    "WHERE grantee = %s AND table_name = %s",
                    [app_role, month],
                )
            }
            assert privileges == {"SELECT"}
            with owner_connect(user=app_role) as app:
                assert refused(app, f"DELETE FROM {month}")
        finally:
            # Archived and dropped, as the runbook says (the test flush would trip on it).
            owner.execute(f"DROP TABLE {month}")
