"""The app's database role: what web, worker and beat may do (PostgreSQL).

The append-only triggers hold only against a role that cannot switch them off,
and a table's owner (or a superuser) always can. So the service runs as two
roles: the *owner* migrates and owns every table, partition and function; the
*app* role (web, worker, beat) owns nothing, is no superuser, is a member of
no role, and has exactly these privileges, re-applied by ``grant_app_role``
after every migration:

- CONNECT on the database and USAGE on schema ``public``; never CREATE, so it
  can make no table, function or schema of its own.
- On every table and partition in ``public``: SELECT and INSERT, and also
  - UPDATE, unless a trigger refuses every update there (one calling
    ``custody_refuse_change``: check-ins and their partitions, quarantine,
    ledger, roll-call rosters and entries, round checks and observations);
  - DELETE, unless a BEFORE DELETE row trigger guards the rows (history is
    never deleted: the same tables, roll calls, location tags, alerts,
    deliveries).
  Triggers of a partitioned table count for its partitions. Never TRUNCATE,
  REFERENCES or TRIGGER. ``django_migrations`` is SELECT only.
- USAGE and SELECT on every sequence; EXECUTE on every SECURITY DEFINER
  function in ``public`` (such as ``custody_checkin_ensure_partitions``: the
  owner's capabilities the app may call, nothing else it may do as the owner).
- Default privileges of the granting role in ``public``: a table it creates
  later (a partition made by beat, a migration's table before the next
  ``grant_app_role``) starts at SELECT and INSERT, a sequence at USAGE, SELECT.

The rules read the catalogue, not a list of models: a new app's tables (axes,
otp, ...) and a new append-only table are covered as soon as their migration
ran. Everything happens in one transaction: the app never sees half a grant.
"""

import re
from dataclasses import dataclass, field

import psycopg
from django.db import DatabaseError, connection, transaction

# Functions that refuse every row change they fire on (the append-only record).
REFUSING_FUNCTIONS = ("custody_refuse_change",)
# A month of check-ins detached for archiving loses the triggers it inherited;
# by its name it is still the record, so the app may only read it.
DETACHED_CHECKIN_MONTH = re.compile(r"^custody_checkin_(\d{4}_\d{2}|default)$")
READ_ONLY_TABLES = ("django_migrations",)
SCHEMA = "public"

ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# NOINHERIT: even a membership granted by mistake later gives no rights
# without an explicit SET ROLE (and grant_app_role refuses memberships).
ROLE_ATTRIBUTES = {
    "rolcanlogin": ("LOGIN", True),
    "rolcreatedb": ("CREATEDB", False),
    "rolcreaterole": ("CREATEROLE", False),
    "rolinherit": ("INHERIT", False),
    "rolbypassrls": ("BYPASSRLS", False),
    "rolreplication": ("REPLICATION", False),
}

ROLE_SQL = (
    "SELECT rolsuper, rolcanlogin, rolcreatedb, rolcreaterole, rolinherit, rolbypassrls, "
    "rolreplication FROM pg_catalog.pg_roles WHERE rolname = %s"
)

# Every table and partition, with what its triggers (or its ancestors') guard.
# tgtype bits: 1 row, 2 before, 8 delete, 16 update.
TABLES_SQL = """
WITH rel AS (
    SELECT c.oid, c.relname FROM pg_catalog.pg_class c
    WHERE c.relnamespace = %(schema)s::regnamespace AND c.relkind IN ('r', 'p')
), guard AS (
    SELECT rel.relname, t.tgtype, p.proname
    FROM rel
    JOIN pg_catalog.pg_trigger t ON t.tgrelid = rel.oid
        OR t.tgrelid IN (SELECT relid FROM pg_catalog.pg_partition_ancestors(rel.oid))
    JOIN pg_catalog.pg_proc p ON p.oid = t.tgfoid
    WHERE p.pronamespace <> 'pg_catalog'::regnamespace
)
SELECT rel.relname,
    coalesce(bool_or(guard.tgtype & 16 <> 0 AND guard.proname = ANY(%(refusing)s)), false),
    coalesce(bool_or(guard.tgtype & 11 = 11), false)
FROM rel LEFT JOIN guard USING (relname)
GROUP BY rel.relname ORDER BY rel.relname
"""

OWNED_SQL = """
SELECT 'relation ' || oid::regclass::text FROM pg_catalog.pg_class WHERE relowner = %(oid)s
UNION ALL SELECT 'function ' || oid::regprocedure::text FROM pg_catalog.pg_proc
    WHERE proowner = %(oid)s
UNION ALL SELECT 'schema ' || nspname FROM pg_catalog.pg_namespace WHERE nspowner = %(oid)s
UNION ALL SELECT 'database ' || datname FROM pg_catalog.pg_database
    WHERE datdba = %(oid)s AND datname = current_database()
ORDER BY 1
"""


class RoleError(Exception):
    """The role cannot be made safe from here; the message says what to do."""


@dataclass
class AppRoleGrants:
    role: str
    created: bool = False
    altered: bool = False
    append_only: list[str] = field(default_factory=list)  # SELECT, INSERT
    guarded: list[str] = field(default_factory=list)  # SELECT, INSERT, UPDATE
    mutable: list[str] = field(default_factory=list)  # SELECT, INSERT, UPDATE, DELETE
    read_only: list[str] = field(default_factory=list)  # SELECT
    functions: list[str] = field(default_factory=list)


def app_role_grant(*, role: str, password: str | None = None) -> AppRoleGrants:
    """Creates ``role`` if missing (or brings its attributes in line) and
    re-applies exactly the app role's privileges described in this module.
    Runs as the owner role (the one that migrates). Refuses, with what to do,
    a role that is or may become more than the app: a superuser, the caller
    itself, a member of another role, or the owner of anything here."""
    if not ROLE_NAME.match(role):
        raise RoleError(
            f"{role!r} is not a plain role name (lower-case letters, digits, _; 63 at most)."
        )
    grants = AppRoleGrants(role=role)
    with transaction.atomic(), connection.cursor() as cursor:
        _ensure_role(cursor, grants, password)
        _refuse_if_more_than_the_app(cursor, role)
        _grant(cursor, grants)
        _check_cannot_create(cursor, role)
    return grants


def _ensure_role(cursor, grants: AppRoleGrants, password: str | None) -> None:
    role = grants.role
    cursor.execute("SELECT current_user")
    if cursor.fetchone()[0] == role:
        raise RoleError(
            f"Run grant_app_role as the owner role, for another role: {role} is the one "
            "connected (DATABASE_URL)."
        )
    cursor.execute(ROLE_SQL, [role])
    row = cursor.fetchone()
    wanted = " ".join(
        keyword if value else f"NO{keyword}" for keyword, value in ROLE_ATTRIBUTES.values()
    )
    secret = f" PASSWORD '{_encrypted(role, password)}'" if password else ""
    if row is None:
        _as_role_admin(
            cursor,
            f'CREATE ROLE "{role}" NOSUPERUSER {wanted}{secret}',
            f'CREATE ROLE "{role}" NOSUPERUSER {wanted}' + (" PASSWORD '...'" if secret else ""),
        )
        grants.created = True
        return
    if row[0]:
        raise RoleError(
            f"{role} is a superuser: the append-only triggers do not hold against it. "
            f"Use a role that is not (as a superuser: ALTER ROLE {role} NOSUPERUSER)."
        )
    current = dict(zip(ROLE_ATTRIBUTES, row[1:], strict=True))
    if secret or any(current[name] != value for name, (_, value) in ROLE_ATTRIBUTES.items()):
        shown = f'ALTER ROLE "{role}" {wanted}' + (" PASSWORD '...'" if secret else "")
        _as_role_admin(cursor, f'ALTER ROLE "{role}" {wanted}{secret}', shown)
        grants.altered = True


def _encrypted(role: str, password: str) -> str:
    """The password hashed here (SCRAM, as the server is set to): the plain
    text never reaches the server, its logs or its statistics."""
    hashed = connection.connection.pgconn.encrypt_password(password.encode(), role.encode())
    value = hashed.decode()
    if "'" in value or "\\" in value:  # never in SCRAM or md5 output; never let it be SQL
        raise RoleError("Unexpected password hash.")
    return value


def _as_role_admin(cursor, sql: str, shown: str) -> None:
    try:
        with transaction.atomic():
            cursor.execute(sql)
    except DatabaseError as exc:
        if not isinstance(exc.__cause__, psycopg.errors.InsufficientPrivilege):
            raise
        raise RoleError(
            f"This role may not create or alter roles. As a superuser run: {shown}; "
            "then run grant_app_role again."
        ) from exc


def _refuse_if_more_than_the_app(cursor, role: str) -> None:
    cursor.execute(
        "SELECT m.roleid::regrole::text FROM pg_auth_members m "
        "WHERE m.member = %s::regrole ORDER BY 1",
        [role],
    )
    memberships = [name for (name,) in cursor.fetchall()]
    if memberships:
        names = ", ".join(memberships)
        raise RoleError(
            f"{role} is a member of {names}: it could act with their rights. "
            f"As a superuser run: REVOKE {names} FROM {role}."
        )
    cursor.execute(OWNED_SQL, {"oid": _oid(cursor, role)})
    owned = [name for (name,) in cursor.fetchall()]
    if owned:
        cursor.execute("SELECT current_user")
        owner = cursor.fetchone()[0]
        shown = ", ".join(owned[:5]) + (f" and {len(owned) - 5} more" if len(owned) > 5 else "")
        raise RoleError(
            f"{role} owns {shown}: an owner can drop its triggers. As a superuser, in this "
            f"database, run: REASSIGN OWNED BY {role} TO {owner}."
        )


def _oid(cursor, role: str) -> int:
    cursor.execute("SELECT %s::regrole::oid", [role])
    return cursor.fetchone()[0]


def _grant(cursor, grants: AppRoleGrants) -> None:
    role = f'"{grants.role}"'
    database = _database(cursor)
    cursor.execute(f"REVOKE CREATE, TEMPORARY ON DATABASE {database} FROM {role}")
    cursor.execute(f"GRANT CONNECT ON DATABASE {database} TO {role}")
    cursor.execute(f"REVOKE ALL ON SCHEMA {SCHEMA} FROM {role}")
    cursor.execute(f"GRANT USAGE ON SCHEMA {SCHEMA} TO {role}")

    cursor.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA {SCHEMA} FROM {role}")
    cursor.execute(TABLES_SQL, {"schema": SCHEMA, "refusing": list(REFUSING_FUNCTIONS)})
    for table, refuses_update, guards_delete in cursor.fetchall():
        if table in READ_ONLY_TABLES or (
            not refuses_update and DETACHED_CHECKIN_MONTH.match(table)
        ):
            grants.read_only.append(table)
        elif refuses_update:
            grants.append_only.append(table)
        elif guards_delete:
            grants.guarded.append(table)
        else:
            grants.mutable.append(table)
    for privileges, tables in (
        ("SELECT", grants.read_only),
        ("SELECT, INSERT", grants.append_only),
        ("SELECT, INSERT, UPDATE", grants.guarded),
        ("SELECT, INSERT, UPDATE, DELETE", grants.mutable),
    ):
        if tables:
            names = ", ".join(f'{SCHEMA}."{table}"' for table in tables)
            cursor.execute(f"GRANT {privileges} ON TABLE {names} TO {role}")

    cursor.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {SCHEMA} FROM {role}")
    cursor.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {SCHEMA} TO {role}")
    cursor.execute(f"REVOKE ALL ON ALL FUNCTIONS IN SCHEMA {SCHEMA} FROM {role}")
    cursor.execute(
        "SELECT oid::regprocedure::text FROM pg_proc "
        "WHERE pronamespace = %s::regnamespace AND prosecdef ORDER BY 1",
        [SCHEMA],
    )
    grants.functions = [name for (name,) in cursor.fetchall()]
    for function in grants.functions:
        cursor.execute(f"GRANT EXECUTE ON FUNCTION {SCHEMA}.{function} TO {role}")

    defaults = f"ALTER DEFAULT PRIVILEGES IN SCHEMA {SCHEMA}"
    cursor.execute(f"{defaults} REVOKE ALL ON TABLES FROM {role}")
    cursor.execute(f"{defaults} GRANT SELECT, INSERT ON TABLES TO {role}")
    cursor.execute(f"{defaults} REVOKE ALL ON SEQUENCES FROM {role}")
    cursor.execute(f"{defaults} GRANT USAGE, SELECT ON SEQUENCES TO {role}")
    cursor.execute(f"{defaults} REVOKE ALL ON FUNCTIONS FROM {role}")


def _check_cannot_create(cursor, role: str) -> None:
    """CREATE can also come through PUBLIC (on schema public before
    PostgreSQL 15): take it from PUBLIC too, or say who must."""
    cursor.execute(
        "SELECT has_schema_privilege(%s, %s, 'CREATE'), "
        "has_database_privilege(%s, current_database(), 'CREATE')",
        [role, SCHEMA, role],
    )
    on_schema, on_database = cursor.fetchone()
    statements = []
    if on_schema:
        statements.append(f"REVOKE CREATE ON SCHEMA {SCHEMA} FROM PUBLIC")
    if on_database:
        statements.append(f"REVOKE CREATE ON DATABASE {_database(cursor)} FROM PUBLIC")
    for sql in statements:
        cursor.execute(sql)  # a no-op with a warning unless we own the object
    cursor.execute(
        "SELECT has_schema_privilege(%s, %s, 'CREATE') "
        "OR has_database_privilege(%s, current_database(), 'CREATE')",
        [role, SCHEMA, role],
    )
    if cursor.fetchone()[0]:
        raise RoleError(
            f"{role} could still create objects (through PUBLIC). As the schema's or "
            f"database's owner run: {'; '.join(statements)}."
        )


def _database(cursor) -> str:
    """The current database's name, quoted as an identifier."""
    cursor.execute("SELECT quote_ident(current_database())")
    return cursor.fetchone()[0]
