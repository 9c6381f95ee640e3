"""Database guards of the rounds record (migration 0025).

Round checks and their observations are append-only like check-ins
(invariant 3). A location tag is never deleted and never changes what it
proves: its facility, place, uid and kind are fixed at registration, and the
only write it ever takes is its retirement, once. So a uid cannot quietly
move to another cell (a tag taped inside the guard station, "checking" a
whole corridor), whatever the code, the admin or a shell does.
"""

from custody.migrations._checkin_table import REFUSE_CHANGE_FUNCTION, _append_only_sql

APPEND_ONLY_TABLES = ("custody_roundcheck", "custody_roundobservation")

_FIXED = "facility_id, location_id, uid, kind, label, registered_at, registered_by_id"


def _row(prefix: str) -> str:
    return "(" + ", ".join(f"{prefix}.{c}" for c in _FIXED.split(", ")) + ")"


PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION custody_guard_location_tag() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR TG_OP = 'TRUNCATE' THEN
        RAISE EXCEPTION 'location tags are never deleted, only retired'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF OLD.retired_at IS NOT NULL THEN
        RAISE EXCEPTION 'tag % is retired and cannot change', OLD.uid
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF {_row("NEW")} IS DISTINCT FROM {_row("OLD")} THEN
        RAISE EXCEPTION 'tag % can only be retired, never reassigned', OLD.uid
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$;
"""

PG_TRIGGERS = [
    "CREATE TRIGGER custody_location_tag_guard BEFORE UPDATE OR DELETE ON custody_locationtag "
    "FOR EACH ROW EXECUTE FUNCTION custody_guard_location_tag()",
    "CREATE TRIGGER custody_location_tag_guard_truncate BEFORE TRUNCATE ON custody_locationtag "
    "FOR EACH STATEMENT EXECUTE FUNCTION custody_guard_location_tag()",
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
    for name in ("custody_location_tag_guard", "custody_location_tag_guard_truncate"):
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {name} ON custody_locationtag", params=None)
    for table in APPEND_ONLY_TABLES:
        for name in ("custody_append_only", "custody_append_only_truncate"):
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}", params=None)
