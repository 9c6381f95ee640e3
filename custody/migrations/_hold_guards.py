"""The database's guard of legal holds (migration 0028).

A hold is never deleted, and what it holds (facility, person, place, period,
reason, who placed it and when) never changes. Lifting fills its columns
once: first the request (who, when, why), then the approval (who, when), by
another officer (a check constraint) and only after a request. So nobody,
through the service, the admin or a shell as the app role, quietly frees a
month for the archive."""

GUARD_FUNCTION = """
CREATE OR REPLACE FUNCTION custody_guard_legal_hold() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR TG_OP = 'TRUNCATE' THEN
        RAISE EXCEPTION 'legal holds are never deleted (%)', TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF (NEW.id, NEW.facility_id, NEW.inmate_id, NEW.location_id, NEW.period_start,
        NEW.period_end, NEW.reason, NEW.placed_by_id, NEW.placed_at)
       IS DISTINCT FROM
       (OLD.id, OLD.facility_id, OLD.inmate_id, OLD.location_id, OLD.period_start,
        OLD.period_end, OLD.reason, OLD.placed_by_id, OLD.placed_at) THEN
        RAISE EXCEPTION 'what legal hold % holds cannot change', OLD.id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF OLD.lift_requested_at IS NOT NULL AND
       (NEW.lift_requested_by_id, NEW.lift_requested_at, NEW.lift_reason)
       IS DISTINCT FROM (OLD.lift_requested_by_id, OLD.lift_requested_at, OLD.lift_reason) THEN
        RAISE EXCEPTION 'the lifting of legal hold % was already asked for', OLD.id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF OLD.lifted_at IS NOT NULL AND
       (NEW.lifted_by_id, NEW.lifted_at) IS DISTINCT FROM (OLD.lifted_by_id, OLD.lifted_at) THEN
        RAISE EXCEPTION 'legal hold % is lifted already', OLD.id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.lifted_at IS NOT NULL AND OLD.lift_requested_at IS NULL THEN
        RAISE EXCEPTION 'legal hold % is lifted only after a request', OLD.id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$;
"""

TRIGGERS = [
    "CREATE TRIGGER custody_hold_guard BEFORE UPDATE OR DELETE ON custody_legalhold "
    "FOR EACH ROW EXECUTE FUNCTION custody_guard_legal_hold()",
    "CREATE TRIGGER custody_hold_guard_truncate BEFORE TRUNCATE ON custody_legalhold "
    "FOR EACH STATEMENT EXECUTE FUNCTION custody_guard_legal_hold()",
]


def install(apps, schema_editor):
    schema_editor.execute(GUARD_FUNCTION, params=None)
    for sql in TRIGGERS:
        schema_editor.execute(sql, params=None)


def remove(apps, schema_editor):
    for name in ("custody_hold_guard", "custody_hold_guard_truncate"):
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {name} ON custody_legalhold", params=None)
    schema_editor.execute("DROP FUNCTION IF EXISTS custody_guard_legal_hold()", params=None)
