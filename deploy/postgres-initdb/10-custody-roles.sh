#!/usr/bin/env bash
# The service's database and its two roles, made by the PostgreSQL superuser:
#   custody_owner  runs migrations and owns every table, partition and function;
#   custody_app    what web, worker and beat connect as; owns nothing, and gets
#                  its privileges from `manage.py grant_app_role` (run as the owner).
#
# The postgres image runs this once, when it creates its data directory
# (docker-compose.yml mounts this folder into /docker-entrypoint-initdb.d).
# It is idempotent. Run it again by hand to upgrade a database made before the
# two roles (it hands everything in schema public to the owner), or to set up a
# server outside compose:
#   CUSTODY_OWNER_PASSWORD=... CUSTODY_APP_PASSWORD=... PGHOST=db.example.org \
#     POSTGRES_USER=postgres bash deploy/postgres-initdb/10-custody-roles.sh
# Needs psql 15 or newer: \getenv keeps the passwords off every command line.
set -euo pipefail

: "${CUSTODY_OWNER_PASSWORD:?set CUSTODY_OWNER_PASSWORD}"
: "${CUSTODY_APP_PASSWORD:?set CUSTODY_APP_PASSWORD}"
export CUSTODY_DB="${CUSTODY_DB:-custody}"
export CUSTODY_OWNER_ROLE="${CUSTODY_OWNER_ROLE:-custody_owner}"
export CUSTODY_APP_ROLE="${CUSTODY_APP_ROLE:-custody_app}"

psql --no-psqlrc -v ON_ERROR_STOP=1 --quiet \
    --username "${POSTGRES_USER:-postgres}" --dbname postgres <<'SQL'
\getenv db CUSTODY_DB
\getenv owner CUSTODY_OWNER_ROLE
\getenv app CUSTODY_APP_ROLE
\getenv owner_password CUSTODY_OWNER_PASSWORD
\getenv app_password CUSTODY_APP_PASSWORD

SELECT format('CREATE ROLE %I', :'owner')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'owner') \gexec
SELECT format('CREATE ROLE %I', :'app')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app') \gexec

-- Neither is a superuser, nor may make roles or databases: the append-only
-- triggers hold against any role that does not own the tables.
ALTER ROLE :"owner" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOREPLICATION
    PASSWORD :'owner_password';
ALTER ROLE :"app" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOBYPASSRLS NOREPLICATION
    PASSWORD :'app_password';

SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'owner')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
ALTER DATABASE :"db" OWNER TO :"owner";
-- Only the two roles (and the superuser) may connect; nobody else gets TEMP.
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"db" TO :"app";

\connect :"db"
ALTER SCHEMA public OWNER TO :"owner";
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

-- A database made before the two roles (everything owned by the old
-- superuser, partitions perhaps by the app role): the owner takes it all.
SELECT set_config('custody.owner', :'owner', false) \gset
DO $$
DECLARE
    owner text := current_setting('custody.owner');
    change record;
BEGIN
    FOR change IN
        SELECT format('ALTER TABLE %s OWNER TO %I', c.oid::regclass, owner) AS sql
        FROM pg_class c
        WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v')
          AND c.relowner <> owner::regrole
        UNION ALL  -- sequences of no column (the others follow their table)
        SELECT format('ALTER SEQUENCE %s OWNER TO %I', c.oid::regclass, owner)
        FROM pg_class c
        WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'S'
          AND c.relowner <> owner::regrole
          AND NOT EXISTS (
              SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
              AND d.objid = c.oid AND d.deptype IN ('a', 'i'))
        UNION ALL
        SELECT format('ALTER ROUTINE %s OWNER TO %I', p.oid::regprocedure, owner)
        FROM pg_proc p
        WHERE p.pronamespace = 'public'::regnamespace AND p.proowner <> owner::regrole
    LOOP
        EXECUTE change.sql;
    END LOOP;
END
$$;
SQL
