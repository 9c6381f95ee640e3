"""Database guards of invariant 7 for departures (migration 0020).

Every departure (court, medical, temporary release, release, transfer) needs
two different officers: a movement of those kinds cannot *enter* approved,
departed or completed unless ``approved_by`` is set and is not the
requester. The one exception is an emergency medical departure, which may
leave (and come back) before its approval; whoever approves it later is
neither the requester nor the officer who let the person out. Whether a
movement is an emergency is fixed when it is requested.

Checked on entering those states (an insert, a step from ``requested``, or a
changed approver), so movements recorded before the rule keep completing.

Extensions of a return are never deleted; only a pending one changes, once,
to approved or rejected (the CHECK constraint on the model keeps the
approver a second officer).
"""

DEPARTURE_KINDS = "('court', 'medical', 'temporary_release', 'release', 'transfer')"
PAST_APPROVAL = "('approved', 'departed', 'completed')"

# {ne}: "IS DISTINCT FROM", NULL-safe.
_ENTERING = (
    "NEW.kind IN {kinds} AND NEW.status IN {past} AND ({insert} OR OLD.status = 'requested' "
    "OR NEW.approved_by_id {ne} OLD.approved_by_id)"
)
_TWO_OFFICERS = (
    "(NEW.approved_by_id IS NOT NULL AND NEW.approved_by_id {ne} NEW.requested_by_id "
    "AND (NOT NEW.emergency OR NEW.approved_by_id {ne} NEW.departed_by_id)) "
    "OR (NEW.emergency AND NEW.kind = 'medical' AND NEW.approved_by_id IS NULL "
    "AND NEW.status IN ('departed', 'completed'))"
)


def _condition(ne: str, insert: str) -> tuple[str, str]:
    entering = _ENTERING.format(kinds=DEPARTURE_KINDS, past=PAST_APPROVAL, ne=ne, insert=insert)
    return entering, _TWO_OFFICERS.format(ne=ne)


def _pg_sql() -> list[str]:
    entering, two = _condition("IS DISTINCT FROM", "TG_OP = 'INSERT'")
    # PL/pgSQL evaluates OLD lazily only in UPDATE; keep INSERT on its own branch.
    entering_update = entering.replace("TG_OP = 'INSERT' OR ", "")
    kinds = DEPARTURE_KINDS
    return [
        f"""
CREATE OR REPLACE FUNCTION custody_guard_departure() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND (NEW.emergency IS DISTINCT FROM OLD.emergency
            OR NEW.emergency_reason IS DISTINCT FROM OLD.emergency_reason) THEN
        RAISE EXCEPTION 'whether movement % is an emergency is fixed at request', OLD.id
            USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.emergency AND NEW.kind <> 'medical' THEN
        RAISE EXCEPTION 'only a medical movement can be an emergency'
            USING ERRCODE = 'check_violation';
    END IF;
    IF TG_OP = 'INSERT' THEN
        IF NEW.kind IN {kinds} AND NEW.status IN {PAST_APPROVAL} AND NOT ({two}) THEN
            RAISE EXCEPTION 'a departure needs a second officer''s approval'
                USING ERRCODE = 'check_violation';
        END IF;
    ELSIF {entering_update} AND NOT ({two}) THEN
        RAISE EXCEPTION 'movement % needs a second officer''s approval', NEW.id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
""",
        "CREATE TRIGGER custody_departure_guard BEFORE INSERT OR UPDATE ON custody_movement "
        "FOR EACH ROW EXECUTE FUNCTION custody_guard_departure()",
        """
CREATE OR REPLACE FUNCTION custody_guard_extension() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR TG_OP = 'TRUNCATE' THEN
        RAISE EXCEPTION 'return extensions are never deleted'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF OLD.status <> 'pending'
        OR (NEW.movement_id, NEW.previous_expected_back_at, NEW.expected_back_at, NEW.reason,
            NEW.requested_by_id, NEW.requested_at)
        IS DISTINCT FROM (OLD.movement_id, OLD.previous_expected_back_at, OLD.expected_back_at,
            OLD.reason, OLD.requested_by_id, OLD.requested_at) THEN
        RAISE EXCEPTION 'return extension % is % and cannot change', OLD.id, OLD.status
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$;
""",
        "CREATE TRIGGER custody_extension_guard BEFORE UPDATE OR DELETE "
        "ON custody_movementextension FOR EACH ROW EXECUTE FUNCTION custody_guard_extension()",
        "CREATE TRIGGER custody_extension_guard_truncate BEFORE TRUNCATE "
        "ON custody_movementextension FOR EACH STATEMENT "
        "EXECUTE FUNCTION custody_guard_extension()",
    ]


def install(apps, schema_editor):
    for sql in _pg_sql():
        schema_editor.execute(sql, params=None)


def remove(apps, schema_editor):
    for name, table in (
        ("custody_departure_guard", "custody_movement"),
        ("custody_extension_guard", "custody_movementextension"),
        ("custody_extension_guard_truncate", "custody_movementextension"),
    ):
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}", params=None)
