"""Database guards of the roll-call record (migration 0011).

Rosters and entries are append-only like check-ins (invariant 3). A count
itself moves forward only: in progress → submitted → verified (or
cancelled); once submitted, what it found can never be rewritten, and a
count is never deleted. Enforced by the database, so no code path, admin or
shell can quietly turn a discrepancy into a clean count.
"""

from custody.migrations._checkin_table import REFUSE_CHANGE_FUNCTION, _append_only_sql

APPEND_ONLY_TABLES = ("custody_rollcallexpected", "custody_rollcallentry")

# What a count is about, fixed from its start.
_IDENTITY = (
    "facility_id, location_id, kind, started_at, started_by_id, call_id, recount_of_id, "
    "expected_count"
)
# What a submitted count found, fixed from its submission.
_RESULT = (
    "submitted_at, submitted_by_id, present_count, out_count, unaccounted_count, unaccounted::text"
)


def _row(prefix: str, columns: str) -> str:
    """``(NEW.a, NEW.b)`` from ``"a, b"``."""
    return "(" + ", ".join(f"{prefix}.{c}" for c in columns.split(", ")) + ")"


PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION custody_guard_rollcall() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR TG_OP = 'TRUNCATE' THEN
        RAISE EXCEPTION 'roll calls are never deleted (%)', TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF OLD.status IN ('verified', 'cancelled') THEN
        RAISE EXCEPTION 'roll call % is % and cannot change', OLD.id, OLD.status
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF {_row("NEW", _IDENTITY)} IS DISTINCT FROM {_row("OLD", _IDENTITY)} THEN
        RAISE EXCEPTION 'what roll call % counts cannot change', OLD.id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF OLD.status = 'submitted' AND (
        NEW.status <> 'verified'
        OR {_row("NEW", _RESULT)} IS DISTINCT FROM {_row("OLD", _RESULT)}
    ) THEN
        RAISE EXCEPTION 'roll call % is submitted: it can only be verified', OLD.id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$;
"""

PG_TRIGGERS = [
    "CREATE TRIGGER custody_rollcall_guard BEFORE UPDATE OR DELETE ON custody_rollcall "
    "FOR EACH ROW EXECUTE FUNCTION custody_guard_rollcall()",
    "CREATE TRIGGER custody_rollcall_guard_truncate BEFORE TRUNCATE ON custody_rollcall "
    "FOR EACH STATEMENT EXECUTE FUNCTION custody_guard_rollcall()",
]


def install(apps, schema_editor):
    schema_editor.execute(REFUSE_CHANGE_FUNCTION, params=None)
    schema_editor.execute(PG_FUNCTION, params=None)
    for sql in PG_TRIGGERS:
        schema_editor.execute(sql, params=None)
    for table in APPEND_ONLY_TABLES:
        for sql in _append_only_sql(table):
            schema_editor.execute(sql, params=None)


def remove(apps, schema_editor):
    for name in ("custody_rollcall_guard", "custody_rollcall_guard_truncate"):
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {name} ON custody_rollcall", params=None)
    for table in APPEND_ONLY_TABLES:
        for name in ("custody_append_only", "custody_append_only_truncate"):
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}", params=None)
