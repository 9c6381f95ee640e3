"""Database guard of invariant 1's place half (migration 0026).

A person in custody has a place (the ``in_custody_has_cell`` CHECK); this
says which: ``Inmate.cell`` and every ``CellAssignment`` point at a cell or
a reception area, never a yard or a unit, and a place someone is assigned to
cannot become another kind. The services check the same first, with a clear
message; this stops any other writer.
"""

PLACEMENT_KINDS = "('cell', 'reception')"


def _pg_sql() -> list[str]:
    return [
        f"""
CREATE OR REPLACE FUNCTION custody_guard_placement() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Both tables name the place cell_id.
    IF NEW.cell_id IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM custody_location WHERE id = NEW.cell_id AND kind IN {PLACEMENT_KINDS}
    ) THEN
        RAISE EXCEPTION 'location % is neither a cell nor reception', NEW.cell_id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
""",
        "CREATE TRIGGER custody_inmate_placement_guard BEFORE INSERT OR UPDATE OF cell_id "
        "ON custody_inmate FOR EACH ROW EXECUTE FUNCTION custody_guard_placement()",
        "CREATE TRIGGER custody_assignment_placement_guard BEFORE INSERT OR UPDATE OF cell_id "
        "ON custody_cellassignment FOR EACH ROW EXECUTE FUNCTION custody_guard_placement()",
        f"""
CREATE OR REPLACE FUNCTION custody_guard_placement_kind() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.kind NOT IN {PLACEMENT_KINDS}
        AND EXISTS (SELECT 1 FROM custody_inmate WHERE cell_id = NEW.id) THEN
        RAISE EXCEPTION 'people are placed in location %; it stays a cell or reception', NEW.id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
""",
        "CREATE TRIGGER custody_location_placement_guard BEFORE UPDATE OF kind "
        "ON custody_location FOR EACH ROW EXECUTE FUNCTION custody_guard_placement_kind()",
    ]


def install(apps, schema_editor):
    for sql in _pg_sql():
        schema_editor.execute(sql, params=None)


def remove(apps, schema_editor):
    for name, table in (
        ("custody_inmate_placement_guard", "custody_inmate"),
        ("custody_assignment_placement_guard", "custody_cellassignment"),
        ("custody_location_placement_guard", "custody_location"),
    ):
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}", params=None)
