"""Issue 14, where the service is deployed: compose connects web, worker and
beat as the app role and migrates as the owner, and the init script that
makes the two roles does what it says, on a fresh database and on one made
before the two roles."""

import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import psycopg
import pytest
import yaml
from django.db import connection

from tests.test_deployment import interpolate

ROOT = Path(__file__).resolve().parent.parent
INIT_SCRIPT = ROOT / "deploy" / "postgres-initdb" / "10-custody-roles.sh"


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


def command_of(service) -> str:
    command = service.get("command", "")
    return " ".join(command) if isinstance(command, list) else command


def test_web_worker_and_beat_connect_as_the_app_role_and_only_migrate_as_the_owner(compose):
    for name in ("web", "worker", "beat"):
        env = compose[name]["environment"]
        assert urlparse(interpolate(env["DATABASE_URL"])).username == "custody_app", name
        assert "CUSTODY_OWNER_PASSWORD" not in str(env), name
    migrate = compose["migrate"]
    owner_url = interpolate(migrate["environment"]["DATABASE_URL"])
    assert urlparse(owner_url).username == "custody_owner"
    command = command_of(migrate)
    assert command.index("manage.py migrate") < command.index(
        "manage.py grant_app_role custody_app"
    )
    assert "&&" in command  # no grants after a failed migration, and the failure shows


def test_the_database_container_makes_the_roles_with_passwords_it_must_be_given(compose):
    postgres = compose["postgres"]
    assert "./deploy/postgres-initdb:/docker-entrypoint-initdb.d:ro" in postgres["volumes"]
    for var in ("POSTGRES_PASSWORD", "CUSTODY_OWNER_PASSWORD", "CUSTODY_APP_PASSWORD"):
        assert postgres["environment"][var].startswith("${" + var + ":?"), var
    assert os.access(INIT_SCRIPT, os.X_OK)  # the image sources a script that is not
    subprocess.run(["bash", "-n", str(INIT_SCRIPT)], check=True)


def test_the_app_gets_the_settings_of_the_production_issue(compose):
    env = compose["web"]["environment"]
    assert env["NUM_PROXIES"] == "${NUM_PROXIES:-1}"
    for var in (
        "MAX_BODY_BYTES",
        "LEDGER_WITNESS_TRUSTED_KEYS",
        "LEDGER_WITNESS_DIR",
        "LEDGER_EXPORT_DIR",
        "LEDGER_WITNESS_EVERY_SECONDS",
        "WEBHOOK_ALLOWED_HOSTS",
    ):
        assert var in env, var
    example = (ROOT / ".env.example").read_text()
    for var in (
        "CUSTODY_OWNER_PASSWORD",
        "CUSTODY_APP_PASSWORD",
        "NUM_PROXIES",
        "MAX_BODY_BYTES",
        "LEDGER_WITNESS_PUBLIC_KEY",
    ):
        assert f"\n{var}=" in example, var


def test_only_the_worker_holds_the_witness_signing_key(compose):
    """A web process broken into cannot sign a forged chain head: the private
    key is mounted in the worker alone; the others verify with the public key."""
    worker = compose["worker"]
    assert worker["environment"]["LEDGER_SIGNING_KEY_FILE"] == "/run/secrets/ledger_signing_key"
    assert worker["secrets"] == ["ledger_signing_key"]
    for name in ("web", "beat", "migrate"):
        assert "secrets" not in compose[name], name
        assert "LEDGER_SIGNING_KEY_FILE" not in compose[name]["environment"], name
    # Web serves the worker's exports and reads the witness: the same volumes.
    assert compose["web"]["volumes"] == worker["volumes"]


def _psql_15_or_newer() -> bool:
    if not shutil.which("psql"):
        return False
    version = subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout
    return int(version.split()[2].split(".")[0]) >= 15


@pytest.mark.skipif(not _psql_15_or_newer(), reason="the init script needs psql 15+")
def test_the_init_script_makes_the_roles_and_takes_over_an_older_database(db):
    settings = connection.settings_dict
    suffix = settings["NAME"]
    names = {
        "CUSTODY_DB": f"initdb_{suffix}"[:63],
        "CUSTODY_OWNER_ROLE": f"owner_{suffix}"[:63],
        "CUSTODY_APP_ROLE": f"app_init_{suffix}"[:63],
    }
    server = {
        "host": settings["HOST"],
        "port": settings["PORT"] or 5432,
        "user": settings["USER"],
        "password": settings["PASSWORD"] or None,
        "autocommit": True,
    }
    env = {
        **os.environ,
        **names,
        "PGHOST": str(server["host"]),
        "PGPORT": str(server["port"]),
        "POSTGRES_USER": server["user"],
        "CUSTODY_OWNER_PASSWORD": "owner-secret",
        "CUSTODY_APP_PASSWORD": "app'secret",  # quoted, not spliced
    }
    if server["password"]:
        env["PGPASSWORD"] = server["password"]

    def cleanup(admin):
        admin.execute(f"DROP DATABASE IF EXISTS {names['CUSTODY_DB']}")
        for role in (names["CUSTODY_APP_ROLE"], names["CUSTODY_OWNER_ROLE"]):
            admin.execute(f"DROP ROLE IF EXISTS {role}")

    with psycopg.connect(dbname="postgres", **server) as admin:
        cleanup(admin)
        # A database of the old deployment: made and owned by the superuser.
        admin.execute(f"CREATE DATABASE {names['CUSTODY_DB']}")
        try:
            with psycopg.connect(dbname=names["CUSTODY_DB"], **server) as old:
                old.execute("CREATE TABLE custody_ledgerevent (id bigint PRIMARY KEY)")
                old.execute(
                    "CREATE FUNCTION custody_refuse_change() RETURNS int AS 'SELECT 1' LANGUAGE sql"
                )
            for _ in range(2):  # idempotent
                subprocess.run(["bash", str(INIT_SCRIPT)], env=env, check=True, timeout=60)

            with psycopg.connect(dbname=names["CUSTODY_DB"], **server) as db_:
                owners = db_.execute(
                    "SELECT pg_get_userbyid(relowner) FROM pg_class "
                    "WHERE relname = 'custody_ledgerevent' "
                    "UNION ALL SELECT pg_get_userbyid(proowner) FROM pg_proc "
                    "WHERE proname = 'custody_refuse_change' "
                    "UNION ALL SELECT pg_get_userbyid(datdba) FROM pg_database "
                    "WHERE datname = current_database()"
                ).fetchall()
                assert set(owners) == {(names["CUSTODY_OWNER_ROLE"],)}
                roles = db_.execute(
                    "SELECT rolname, rolsuper, rolcreaterole, rolcreatedb, rolinherit, rolcanlogin "
                    "FROM pg_roles WHERE rolname IN (%s, %s) ORDER BY rolname = %s",
                    [
                        names["CUSTODY_OWNER_ROLE"],
                        names["CUSTODY_APP_ROLE"],
                        names["CUSTODY_APP_ROLE"],
                    ],
                ).fetchall()
                assert [r[1:] for r in roles] == [
                    (False, False, False, True, True),  # the owner
                    (False, False, False, False, True),  # the app: NOINHERIT
                ]
            app_server = {**server, "user": names["CUSTODY_APP_ROLE"], "password": "app'secret"}
            with psycopg.connect(dbname=names["CUSTODY_DB"], **app_server) as app:
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    app.execute("CREATE TABLE custody_shadow (id int)")
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    app.execute("CREATE TEMPORARY TABLE custody_ledgerevent (id int)")
        finally:
            cleanup(admin)
