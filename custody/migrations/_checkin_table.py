"""Database-side pieces of the check-in record that Django cannot express.

On PostgreSQL the check-in table is range-partitioned by month of
``observed_at`` (old months can be detached and archived) with a DEFAULT
partition so that no scan is ever lost for want of a partition. Its primary
key must contain the partition key, hence ``(id, observed_at)``. PostgreSQL
only: the project runs on nothing else (``make run`` included).

Kept outside the migration files (whose names start with a digit) so that
later migrations and tests can reuse the SQL; the leading underscore keeps
Django's migration loader away.
"""

CREATE_TABLE = """
CREATE TABLE custody_checkin (
    id uuid NOT NULL,
    observed_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL,
    facility_id bigint NOT NULL REFERENCES custody_facility (id),
    inmate_id bigint NOT NULL REFERENCES custody_inmate (id),
    location_id bigint NOT NULL REFERENCES custody_location (id),
    method varchar(16) NOT NULL,
    is_biometric boolean NOT NULL,
    score double precision NULL,
    device_id uuid NULL REFERENCES custody_device (id),
    recorded_by_id bigint NULL REFERENCES custody_user (id),
    out_of_place boolean NOT NULL,
    PRIMARY KEY (id, observed_at)
) PARTITION BY RANGE (observed_at);
CREATE INDEX checkin_inmate_time ON custody_checkin (inmate_id, observed_at);
CREATE INDEX checkin_out_of_place ON custody_checkin (facility_id, received_at)
    WHERE out_of_place;
CREATE TABLE custody_checkin_default PARTITION OF custody_checkin DEFAULT;
"""

# Creates the monthly partitions from ``months_back`` before the month of
# ``around`` to ``months_ahead`` after it, skipping those that exist. Statement triggers
# are not inherited by partitions, so each gets its own TRUNCATE guard.
ENSURE_PARTITIONS_FUNCTION = """
CREATE OR REPLACE FUNCTION custody_checkin_ensure_partitions(
    around timestamptz, months_back integer, months_ahead integer
) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    first_month date := date_trunc('month', around AT TIME ZONE 'UTC')::date;
    month_start date;
    part text;
    created integer := 0;
BEGIN
    FOR i IN -months_back..months_ahead LOOP
        month_start := (first_month + make_interval(months => i))::date;
        part := 'custody_checkin_' || to_char(month_start, 'YYYY_MM');
        IF to_regclass(part) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF custody_checkin '
                'FOR VALUES FROM (%L) TO (%L)',
                part,
                month_start::timestamp AT TIME ZONE 'UTC',
                (month_start + interval '1 month')::timestamp AT TIME ZONE 'UTC'
            );
            EXECUTE format(
                'CREATE TRIGGER custody_append_only_truncate BEFORE TRUNCATE ON %I '
                'FOR EACH STATEMENT EXECUTE FUNCTION custody_refuse_change()',
                part
            );
            created := created + 1;
        END IF;
    END LOOP;
    RETURN created;
END;
$$;
"""

# Since migration 0015: the same, run with the rights of its owner (the role
# that migrates and owns the tables) whoever calls it, so a partition made by
# beat under the app's role belongs to the owner and the app can neither drop
# it nor its triggers. A SECURITY DEFINER function must trust nothing the
# caller can shape: the search path is pinned (pg_temp last, or a caller's
# temporary table would be found first), every object is schema-qualified and
# the counts are bounded. Only the app role may call it (see db_roles).
ENSURE_PARTITIONS_AS_OWNER_FUNCTION = """
CREATE OR REPLACE FUNCTION public.custody_checkin_ensure_partitions(
    around timestamptz, months_back integer, months_ahead integer
) RETURNS integer LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    first_month date;
    month_start date;
    part text;
    created integer := 0;
BEGIN
    IF around IS NULL OR months_back IS NULL OR months_ahead IS NULL
       OR months_back NOT BETWEEN 0 AND 24 OR months_ahead NOT BETWEEN 0 AND 24 THEN
        RAISE EXCEPTION 'custody_checkin_ensure_partitions: months must be 0 to 24'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    first_month := pg_catalog.date_trunc('month', around AT TIME ZONE 'UTC')::date;
    FOR i IN -months_back..months_ahead LOOP
        month_start := (first_month + pg_catalog.make_interval(months => i))::date;
        part := 'custody_checkin_' || pg_catalog.to_char(month_start, 'YYYY_MM');
        IF pg_catalog.to_regclass(pg_catalog.format('public.%I', part)) IS NULL THEN
            EXECUTE pg_catalog.format(
                'CREATE TABLE public.%I PARTITION OF public.custody_checkin '
                'FOR VALUES FROM (%L) TO (%L)',
                part,
                month_start::timestamp AT TIME ZONE 'UTC',
                (month_start + interval '1 month')::timestamp AT TIME ZONE 'UTC'
            );
            EXECUTE pg_catalog.format(
                'CREATE TRIGGER custody_append_only_truncate BEFORE TRUNCATE ON public.%I '
                'FOR EACH STATEMENT EXECUTE FUNCTION public.custody_refuse_change()',
                part
            );
            created := created + 1;
        END IF;
    END LOOP;
    RETURN created;
END;
$$;
REVOKE ALL ON FUNCTION public.custody_checkin_ensure_partitions(timestamptz, integer, integer)
    FROM PUBLIC;
"""

# Back to 0001's function (migrating backwards past 0015).
ENSURE_PARTITIONS_AS_CALLER = (
    ENSURE_PARTITIONS_FUNCTION
    + """
ALTER FUNCTION custody_checkin_ensure_partitions(timestamptz, integer, integer)
    SECURITY INVOKER RESET search_path;
GRANT EXECUTE ON FUNCTION custody_checkin_ensure_partitions(timestamptz, integer, integer)
    TO PUBLIC;
"""
)

# Invariant 3: the database itself refuses to change or remove these rows,
# whatever the application code does. Only a role that may disable triggers
# (the table owner or a superuser) can get around it; the service should run
# as a role that is neither (docs/operations.md).
REFUSE_CHANGE_FUNCTION = """
CREATE OR REPLACE FUNCTION custody_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% on % refused: the custody record is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
"""

APPEND_ONLY_TABLES = ("custody_checkin", "custody_quarantinedcheckin", "custody_ledgerevent")


def _append_only_sql(table: str) -> list[str]:
    return [
        f"CREATE TRIGGER custody_append_only BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION custody_refuse_change()",
        f"CREATE TRIGGER custody_append_only_truncate BEFORE TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION custody_refuse_change()",
    ]


def create(apps, schema_editor):
    schema_editor.execute(CREATE_TABLE, params=None)
    schema_editor.execute(REFUSE_CHANGE_FUNCTION, params=None)
    schema_editor.execute(ENSURE_PARTITIONS_FUNCTION, params=None)
    schema_editor.execute(
        "CREATE TRIGGER custody_append_only_truncate BEFORE TRUNCATE ON custody_checkin_default "
        "FOR EACH STATEMENT EXECUTE FUNCTION custody_refuse_change()",
        params=None,
    )
    schema_editor.execute("SELECT custody_checkin_ensure_partitions(now(), 3, 3)", params=None)


def drop(apps, schema_editor):
    schema_editor.execute("DROP TABLE custody_checkin CASCADE", params=None)
    schema_editor.execute(
        "DROP FUNCTION custody_checkin_ensure_partitions(timestamptz, integer, integer)",
        params=None,
    )


def install_append_only(apps, schema_editor):
    schema_editor.execute(REFUSE_CHANGE_FUNCTION, params=None)
    for table in APPEND_ONLY_TABLES:
        for statement in _append_only_sql(table):
            schema_editor.execute(statement, params=None)


def remove_append_only(apps, schema_editor):
    for table in APPEND_ONLY_TABLES:
        for name in ("custody_append_only", "custody_append_only_truncate"):
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}", params=None)


def ensure_partitions_as_owner(apps, schema_editor):
    schema_editor.execute(ENSURE_PARTITIONS_AS_OWNER_FUNCTION, params=None)


def ensure_partitions_as_caller(apps, schema_editor):
    schema_editor.execute(ENSURE_PARTITIONS_AS_CALLER, params=None)
