"""Guards of alerts_alert and alerts_notification (migration 0002).

An alert is never deleted, and once resolved never changes; while open,
who it is about and when it opened never change either. Enforced by the
database (as the custody record's append-only triggers are), so no code path,
admin or shell can quietly close the gap it records."""



PG_FUNCTION = """
CREATE OR REPLACE FUNCTION alerts_guard_alert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR TG_OP = 'TRUNCATE' THEN
        RAISE EXCEPTION 'alerts are never deleted (%)', TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF OLD.status = 'resolved' THEN
        RAISE EXCEPTION 'alert % is resolved and cannot change', OLD.id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.status = 'open' AND OLD.status <> 'open' THEN
        RAISE EXCEPTION 'alert % cannot go back to open', OLD.id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF (NEW.facility_id, NEW.kind, NEW.dedup_key, NEW.opened_at, NEW.due_at,
        NEW.inmate_id, NEW.movement_id, NEW.device_id)
       IS DISTINCT FROM
       (OLD.facility_id, OLD.kind, OLD.dedup_key, OLD.opened_at, OLD.due_at,
        OLD.inmate_id, OLD.movement_id, OLD.device_id) THEN
        RAISE EXCEPTION 'what alert % is about cannot change', OLD.id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$;
"""

PG_TRIGGERS = [
    "CREATE TRIGGER alerts_guard BEFORE UPDATE OR DELETE ON alerts_alert "
    "FOR EACH ROW EXECUTE FUNCTION alerts_guard_alert()",
    "CREATE TRIGGER alerts_guard_truncate BEFORE TRUNCATE ON alerts_alert "
    "FOR EACH STATEMENT EXECUTE FUNCTION alerts_guard_alert()",
    # Deliveries are history too: never deleted.
    "CREATE TRIGGER alerts_notification_keep BEFORE DELETE ON alerts_notification "
    "FOR EACH ROW EXECUTE FUNCTION alerts_guard_alert()",
    "CREATE TRIGGER alerts_notification_keep_truncate BEFORE TRUNCATE ON alerts_notification "
    "FOR EACH STATEMENT EXECUTE FUNCTION alerts_guard_alert()",
]

def install(apps, schema_editor):
    schema_editor.execute(PG_FUNCTION, params=None)
    for sql in PG_TRIGGERS:
        schema_editor.execute(sql, params=None)


def remove(apps, schema_editor):
    for name in (
        "alerts_guard ON alerts_alert",
        "alerts_guard_truncate ON alerts_alert",
        "alerts_notification_keep ON alerts_notification",
        "alerts_notification_keep_truncate ON alerts_notification",
    ):
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {name}", params=None)
    schema_editor.execute("DROP FUNCTION IF EXISTS alerts_guard_alert()", params=None)
