"""Database guard of movement sessions (migration 0027).

A session is never deleted; once started, only its end (``ended_by``,
``ended_at``) is written, once. Who started it, for which unit and place,
until when and who was left out stay as recorded.
"""

SQL = [
    """
CREATE OR REPLACE FUNCTION custody_guard_session() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR TG_OP = 'TRUNCATE' THEN
        RAISE EXCEPTION 'movement sessions are never deleted'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF OLD.ended_at IS NOT NULL
        OR (NEW.facility_id, NEW.unit_id, NEW.to_location_id, NEW.started_by_id,
            NEW.started_at, NEW.ends_at, NEW.excluded)
        IS DISTINCT FROM (OLD.facility_id, OLD.unit_id, OLD.to_location_id,
            OLD.started_by_id, OLD.started_at, OLD.ends_at, OLD.excluded) THEN
        RAISE EXCEPTION 'movement session % can only be ended, once', OLD.id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$;
""",
    "CREATE TRIGGER custody_session_guard BEFORE UPDATE OR DELETE "
    "ON custody_movementsession FOR EACH ROW EXECUTE FUNCTION custody_guard_session()",
    "CREATE TRIGGER custody_session_guard_truncate BEFORE TRUNCATE "
    "ON custody_movementsession FOR EACH STATEMENT EXECUTE FUNCTION custody_guard_session()",
]

REVERSE = [
    "DROP TRIGGER IF EXISTS custody_session_guard ON custody_movementsession",
    "DROP TRIGGER IF EXISTS custody_session_guard_truncate ON custody_movementsession",
    "DROP FUNCTION IF EXISTS custody_guard_session()",
]
