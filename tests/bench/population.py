"""A national-sized custody record built straight in SQL, for the reconciler's
benchmarks (``reconcile``, ``lag``).

Building 200,000 people through the admission service would take minutes; a
few ``INSERT ... SELECT`` statements take seconds. The rows are the ones the
services would have written, and satisfy every constraint: facilities with
housing units of 8-person cells, a biometric reader per unit and a tablet per
facility (fresh heartbeats), each person in custody in a cell with a
``next_due_at`` one check interval after ``last_seen_at`` (a fingerprint,
so ``identity_verified_at`` too), the completed
admission movement and open cell assignment behind each of them, a few people
out at court (departed, due back in hours) and in transit to another facility
(cell given up), one or two check-ins per person in custody (the last at
``last_seen_at``, stored in arrival order as production stores them) and an
e-mail channel per facility. Not written: the ledger events of admissions (each
chain's head is at its start, so the chains hold whatever the benchmark
appends, and verify).

Who is what inside each facility is decided by a permutation of the people's
numbers, so the counts are exact and the roles are spread through the table:

``due``
    past ``next_due_at + grace`` at ``now`` (1 s to 10 min past it): the
    reconciler must open exactly one ``missed_checkin`` for each.
``recent``
    seen 30-60 s before ``now``; their check-ins are the "new" ones the
    reconciler's check-in rules read.
``out`` / ``transit``
    at court (back in 2-4 h) / on a transfer (arrival in 3 h).
everyone else
    due between ``now + 10 min`` and ``now + interval - 2 min``, so nothing
    else becomes due for ten minutes plus the grace.
"""

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime

from psycopg.types.json import Jsonb

INTERVALS = {"maximum": 30 * 60, "medium": 60 * 60, "minimum": 120 * 60}
LEVELS = ("maximum", "medium", "minimum")
GRACE_SECONDS = 300
# The model's defaults (custody.models.records), which SQL does not apply.
MAX_ABSENCE = {"court": 57600, "medical": 259200, "temporary_release": 259200}
CELL_CAPACITY = 8


@dataclass(frozen=True)
class Population:
    facilities: int
    per_facility: int
    due: int = 0  # per facility
    recent: int = 0
    out: int = 0
    transit: int = 0
    units: int = 4
    checkins: bool = True
    channels: bool = True

    def __post_init__(self):
        special = self.due + self.recent + self.out + self.transit
        if special > self.per_facility:
            raise ValueError(f"{special} special people in a facility of {self.per_facility}")
        if self.transit and self.facilities < 2:
            raise ValueError("transfers need a second facility")

    @property
    def cells(self) -> int:
        return math.ceil(self.per_facility / CELL_CAPACITY)

    @property
    def multiplier(self) -> int:
        """A step coprime with the facility's size: ``i * step mod size`` is a
        permutation, which spreads each role over the whole id range."""
        step = max(1, round(self.per_facility * 0.618)) | 1
        while math.gcd(step, self.per_facility) != 1:
            step += 2
        return step


def device_key(secret: str, facility_code: str, device_name: str) -> str:
    """The clear key of a seeded device (only its hash is stored)."""
    return f"dk_{secret}_{facility_code}_{device_name.replace(' ', '-')}"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()  # as custody.models.hash_device_key


def seed(conn, pop: Population, *, now: datetime, secret: str) -> dict:
    """Writes the population in one transaction, then VACUUM ANALYZE, as
    autovacuum keeps a production database: statistics for the planner,
    visibility maps, and the check-ins' BRIN ranges summarised (an
    unsummarised range matches every query, so before the first vacuum the
    reconciler's read of new check-ins scans the whole table)."""
    params = {
        "facilities": pop.facilities,
        "per": pop.per_facility,
        "units": pop.units,
        "cells": pop.cells,
        "cap": CELL_CAPACITY,
        "step": pop.multiplier,
        "due": pop.due,
        "out": pop.due + pop.out,
        "transit": pop.due + pop.out + pop.transit,
        "recent": pop.due + pop.out + pop.transit + pop.recent,
        "grace": GRACE_SECONDS,
        "intervals": Jsonb(INTERVALS),
        "max_absence": Jsonb(MAX_ABSENCE),
        "now": now,
        "secret": secret,
    }
    with conn.transaction():
        for statement in STATEMENTS:
            if statement is CHECKINS and not pop.checkins:
                continue
            if statement is CHANNELS and not pop.channels:
                continue
            conn.execute(statement, params)
    for table in TABLES:
        conn.execute(f"VACUUM (ANALYZE) {table}")
    return counts(conn)


def counts(conn) -> dict:
    row = conn.execute(
        """
        SELECT count(*),
               count(*) FILTER (WHERE status = 'in_custody'),
               count(*) FILTER (WHERE status = 'out_authorized'),
               count(*) FILTER (WHERE status = 'in_transit')
        FROM custody_inmate
        """
    ).fetchone()
    others = {
        name: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        for name, table in (
            ("facilities", "custody_facility"),
            ("locations", "custody_location"),
            ("devices", "custody_device"),
            ("movements", "custody_movement"),
            ("cell_assignments", "custody_cellassignment"),
            ("checkins", "custody_checkin"),
        )
    }
    return {
        "inmates": row[0],
        "in_custody": row[1],
        "out_authorized": row[2],
        "in_transit": row[3],
        **others,
    }


def due_now(conn, at: datetime) -> int:
    """People in custody past their deadline plus their facility's grace at ``at``."""
    return conn.execute(
        "SELECT count(*) FROM custody_inmate i JOIN custody_facility f ON f.id = i.facility_id "
        "WHERE i.status = 'in_custody' "
        "AND i.next_due_at + make_interval(secs => f.grace_seconds) < %s",
        [at],
    ).fetchone()[0]


TABLES = (
    "custody_facility",
    "custody_location",
    "custody_device",
    "custody_inmate",
    "custody_movement",
    "custody_cellassignment",
    "custody_checkin",
    "alerts_notificationchannel",
)

FACILITIES = """
INSERT INTO custody_facility (code, name, timezone, check_interval_seconds, grace_seconds,
                              created_at, is_national, identity_window_seconds,
                              max_absence_seconds, count_freeze_seconds, recount_sample_percent)
SELECT 'F' || lpad(g::text, 3, '0'), 'Benchmark facility ' || g, 'America/Guatemala',
       %(intervals)s, %(grace)s, %(now)s, false, 86400,
       %(max_absence)s, 900, 10
FROM generate_series(1, %(facilities)s) g
"""

UNITS = """
INSERT INTO custody_location (code, name, kind, capacity, facility_id, parent_id)
SELECT 'U' || u, 'Unit ' || u, 'unit', NULL, f.id, NULL
FROM custody_facility f CROSS JOIN generate_series(0, %(units)s - 1) u
"""

CELLS = """
INSERT INTO custody_location (code, name, kind, capacity, facility_id, parent_id)
SELECT u.code || '-C' || lpad(c::text, 4, '0'), 'Cell ' || c, 'cell', %(cap)s, f.id, u.id
FROM custody_facility f
CROSS JOIN generate_series(0, %(cells)s - 1) c
JOIN custody_location u ON u.facility_id = f.id AND u.code = 'U' || mod(c, %(units)s)
"""

DEVICES = """
INSERT INTO custody_device (id, name, kind, key_hash, key_prefix, is_active, last_heartbeat_at,
                            created_at, facility_id, location_id, methods)
SELECT gen_random_uuid(), d.name, d.kind,
       encode(sha256(convert_to(d.key, 'UTF8')), 'hex'), left(d.key, 10),
       true, %(now)s, %(now)s, d.facility_id, d.location_id, '[]'::jsonb
FROM (
    SELECT 'Reader ' || u.code AS name, 'biometric' AS kind, u.facility_id, u.id AS location_id,
           'dk_' || %(secret)s || '_' || f.code || '_Reader-' || u.code AS key
    FROM custody_location u JOIN custody_facility f ON f.id = u.facility_id
    WHERE u.kind = 'unit'
    UNION ALL
    SELECT 'Tablet', 'tablet', f.id, NULL, 'dk_' || %(secret)s || '_' || f.code || '_Tablet'
    FROM custody_facility f
) d
"""

# The plan of each person: facility, number, permuted rank (decides the
# role), level, cell, deadlines. Dropped at commit.
PLAN = """
CREATE TEMP TABLE bench_plan ON COMMIT DROP AS
WITH base AS (
    SELECT f.id AS facility_id, i, 'BN-' || f.code || '-' || lpad(i::text, 6, '0') AS booking,
           mod(i::bigint * %(step)s, %(per)s) AS p,
           (ARRAY['maximum', 'medium', 'minimum'])[mod(i, 3) + 1] AS level,
           'U' || mod(i / %(cap)s, %(units)s) || '-C' || lpad((i / %(cap)s)::text, 4, '0')
               AS cell_code
    FROM custody_facility f CROSS JOIN generate_series(0, %(per)s - 1) i
), roled AS (
    SELECT base.*,
           CASE WHEN p < %(due)s THEN 'due'
                WHEN p < %(out)s THEN 'out'
                WHEN p < %(transit)s THEN 'transit'
                WHEN p < %(recent)s THEN 'recent'
                ELSE 'normal' END AS role,
           (%(intervals)s ->> level)::int AS iv
    FROM base
)
SELECT roled.*,
       CASE role
           WHEN 'due' THEN %(now)s - make_interval(secs => %(grace)s + 1 + mod(p * 37, 600))
           WHEN 'normal' THEN %(now)s + make_interval(secs => 600 + mod(p * 31, iv - 720))
           WHEN 'recent' THEN %(now)s - make_interval(secs => 30 + mod(p, 30) - iv)
       END AS next_due_at
FROM roled
"""

INMATES = """
INSERT INTO custody_inmate (booking_number, first_name, last_name, security_level, status,
                            admitted_at, last_seen_at, identity_verified_at, next_due_at,
                            created_at, updated_at, facility_id, cell_id)
SELECT p.booking, 'Bench', 'Person ' || p.i, p.level,
       CASE p.role WHEN 'out' THEN 'out_authorized' WHEN 'transit' THEN 'in_transit'
                   ELSE 'in_custody' END,
       %(now)s - interval '30 days',
       COALESCE(p.next_due_at - make_interval(secs => p.iv), %(now)s - interval '1 hour'),
       -- The last sighting is a fingerprint (CHECKINS): identity proven then.
       COALESCE(p.next_due_at - make_interval(secs => p.iv), %(now)s - interval '1 hour'),
       p.next_due_at, %(now)s - interval '30 days', %(now)s,
       p.facility_id, CASE WHEN p.role = 'transit' THEN NULL ELSE c.id END
FROM bench_plan p
JOIN custody_location c ON c.facility_id = p.facility_id AND c.code = p.cell_code
ORDER BY p.facility_id, p.i
"""

# A completed admission movement (by the system) and the first cell
# assignment it started, for everyone.
ADMISSIONS = """
WITH admitted AS (
    INSERT INTO custody_movement (kind, status, destination, reason, requested_at, approved_at,
                                  completed_at, facility_id, inmate_id, to_location_id,
                                  cancel_reason, emergency, emergency_reason)
    SELECT 'admission', 'completed', '', '', i.admitted_at, i.admitted_at, i.admitted_at,
           i.facility_id, i.id, c.id, '', false, ''
    FROM custody_inmate i
    JOIN bench_plan p ON p.booking = i.booking_number
    JOIN custody_location c ON c.facility_id = p.facility_id AND c.code = p.cell_code
    RETURNING id, inmate_id, to_location_id, completed_at
)
INSERT INTO custody_cellassignment (started_at, ended_at, cell_id, inmate_id, started_by_id)
SELECT completed_at, NULL, to_location_id, inmate_id, id FROM admitted
"""

# The two officers every departure needs (the database refuses one alone).
OFFICERS = """
INSERT INTO custody_user (password, is_superuser, username, first_name, last_name, email,
                          is_staff, is_active, date_joined)
VALUES ('!', false, 'bench.requester', '', '', '', false, true, %(now)s),
       ('!', false, 'bench.approver', '', '', '', false, true, %(now)s)
"""
REQUESTER = "(SELECT id FROM custody_user WHERE username = 'bench.requester')"
APPROVER = "(SELECT id FROM custody_user WHERE username = 'bench.approver')"

OUTINGS = f"""
INSERT INTO custody_movement (kind, status, destination, reason, expected_back_at, requested_at,
                              approved_at, departed_at, facility_id, inmate_id,
                              from_location_id, cancel_reason, emergency, emergency_reason,
                              requested_by_id, approved_by_id)
SELECT 'court', 'departed', 'Juzgado de turno', 'Hearing', %(now)s
       + make_interval(mins => 120 + mod(i.id, 120)::int),
       %(now)s - interval '1 day', %(now)s - interval '1 day', %(now)s - interval '1 hour',
       i.facility_id, i.id, i.cell_id, '', false, '', {REQUESTER}, {APPROVER}
FROM custody_inmate i WHERE i.status = 'out_authorized'
"""

TRANSFERS = f"""
WITH departed AS (
    INSERT INTO custody_movement (kind, status, destination, reason, expected_arrival_at,
                                  requested_at, approved_at, departed_at, facility_id,
                                  inmate_id, from_location_id, to_facility_id, cancel_reason,
                                  emergency, emergency_reason, requested_by_id, approved_by_id)
    SELECT 'transfer', 'departed', '', 'Transfer', %(now)s + interval '3 hours',
           %(now)s - interval '1 day', %(now)s - interval '1 day', %(now)s - interval '1 hour',
           i.facility_id, i.id, a.cell_id,
           (SELECT min(f.id) FROM custody_facility f WHERE f.id <> i.facility_id), '', false, '',
           {REQUESTER}, {APPROVER}
    FROM custody_inmate i
    JOIN custody_cellassignment a ON a.inmate_id = i.id AND a.ended_at IS NULL
    WHERE i.status = 'in_transit'
    RETURNING id, inmate_id, departed_at
)
UPDATE custody_cellassignment a SET ended_at = d.departed_at, ended_by_id = d.id
FROM departed d WHERE a.inmate_id = d.inmate_id AND a.ended_at IS NULL
"""

# The last observation of each person in custody (at last_seen_at) and the
# one before it, by the reader of their unit, in arrival order.
CHECKINS = """
INSERT INTO custody_checkin (id, observed_at, received_at, facility_id, inmate_id, location_id,
                             method, is_biometric, score, device_id, recorded_by_id,
                             out_of_place)
SELECT gen_random_uuid(), s.at, s.at + interval '2 seconds', i.facility_id, i.id, i.cell_id,
       'fingerprint', true, 0.95, d.id, NULL, false
FROM custody_inmate i
JOIN custody_location c ON c.id = i.cell_id
JOIN custody_device d ON d.location_id = c.parent_id
CROSS JOIN LATERAL (
    VALUES (i.last_seen_at),
           (i.last_seen_at - make_interval(secs => (%(intervals)s ->> i.security_level)::int))
) s (at)
WHERE i.status = 'in_custody'
ORDER BY s.at
"""

# Each chain at its start, as after a facility's first event: the first
# pass does not pay for creating the head.
LEDGER_HEADS = """
INSERT INTO custody_ledgerhead (facility_id, seq, hash)
SELECT id, 0, repeat('0', 64) FROM custody_facility
"""

CHANNELS = """
INSERT INTO alerts_notificationchannel (level, name, kind, target, secret, min_severity,
                                        is_active, facility_id, purpose)
SELECT 0, 'Guardia', 'email', lower(f.code) || '@bench.invalid', '', 'medium', true, f.id,
       'alerts'
FROM custody_facility f
"""

STATEMENTS = (
    FACILITIES,
    UNITS,
    CELLS,
    DEVICES,
    PLAN,
    INMATES,
    ADMISSIONS,
    OFFICERS,
    OUTINGS,
    TRANSFERS,
    CHECKINS,
    LEDGER_HEADS,
    CHANNELS,
)
