"""Guards of alerts_alert and alerts_notification (migrations 0002, 0005).

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

SQLITE_TRIGGERS = [
    "CREATE TRIGGER IF NOT EXISTS alerts_alert_no_delete BEFORE DELETE ON alerts_alert BEGIN "
    "SELECT RAISE(ABORT, 'alerts are never deleted'); END",
    "CREATE TRIGGER IF NOT EXISTS alerts_alert_frozen BEFORE UPDATE ON alerts_alert "
    "WHEN OLD.status = 'resolved' BEGIN "
    "SELECT RAISE(ABORT, 'a resolved alert cannot change'); END",
    "CREATE TRIGGER IF NOT EXISTS alerts_notification_no_delete BEFORE DELETE ON alerts_notification BEGIN "
    "SELECT RAISE(ABORT, 'deliveries are never deleted'); END",
]


def install(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_FUNCTION, params=None)
        for sql in PG_TRIGGERS:
            schema_editor.execute(sql, params=None)
    elif vendor == "sqlite":
        for sql in SQLITE_TRIGGERS:
            schema_editor.execute(sql, params=None)


def reinstall_sqlite(apps, schema_editor):
    """SQLite rebuilds a table to alter it, dropping its triggers: after such
    a migration, put them back (PostgreSQL alters in place and keeps them)."""
    if schema_editor.connection.vendor == "sqlite":
        for sql in SQLITE_TRIGGERS:
            schema_editor.execute(sql, params=None)


def remove(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    names = {
        "postgresql": [
            "alerts_guard ON alerts_alert",
            "alerts_guard_truncate ON alerts_alert",
            "alerts_notification_keep ON alerts_notification",
            "alerts_notification_keep_truncate ON alerts_notification",
        ],
        "sqlite": [
            "alerts_alert_no_delete",
            "alerts_alert_frozen",
            "alerts_notification_no_delete",
        ],
    }.get(vendor, [])
    for name in names:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {name}", params=None)
    if vendor == "postgresql":
        schema_editor.execute("DROP FUNCTION IF EXISTS alerts_guard_alert()", params=None)
