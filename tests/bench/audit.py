"""The auditor workspace on years of data: one person's history, one facility-month's report.

The world (built in SQL, every row as the services would write it)
    ``HIS``: 2,000 people over two years (``--years``), in 8-person cells of
    nine units. One of them, the subject (``HIS-00000``), has 100,000
    check-ins behind them (``--checkins``: one every ~10 minutes, so every
    monthly partition of ``custody_checkin`` holds some), 50 court trips
    (four steps each on the ledger), the roll calls of their 24-person unit
    four times a day for the two years (verified by a second officer) and a
    share of the facility's alerts. Everyone else has 250 check-ins
    (``--others-checkins``) over their time in custody, some court trips and
    alerts. Check-ins are stored in arrival order, the subject's interleaved
    with everyone's, as production stores them: a history reads scattered
    pages, not one person's rows packed together.

    ``AUD``: 500 people (``--facility-people``) in five units for the last
    full calendar month in facility time (October when run in November): a
    check-in an hour each (~370,000 rows), one in ten a guard's ``visual``
    (seven in ten on unit A2's night shift), the rest fingerprint or face
    with a share of low match scores, unit A3's reader with a clock running
    ahead; four formal counts a day per unit, with their rosters and marks
    (some walked in two minutes, some with someone unaccounted, one pair of
    guards always verifying each other, some left unverified); ~2,000
    alerts, acknowledged and resolved (some by the reconciler, some with
    boilerplate reasons, the last 40 still open); 300 quarantined scans.
    Roll calls are inserted in their final state (the guards refuse UPDATE
    and DELETE, not INSERT), with results consistent with their marks; each
    present mark is also a check-in with the mark's id, as the roll-call
    service stores it (the subject's among their 100,000).

    Both facilities' ledgers hold the events the services would have
    appended (admissions, movements, alerts, counts, quarantines), each at
    its own time, hash-chained with the service's own functions; they are
    verified before anything is measured. Then ``VACUUM (ANALYZE)``, as
    autovacuum keeps a production database.

How requests are timed
    In-process, under ``DEBUG=0``, through Django's test client (every
    middleware, DRF, knox token authentication; no socket), from the call to
    the last byte of the answer. Warm-up requests first; then the variants
    are interleaved so that drift on a noisy machine hits all alike. One more
    request of each, with a fresh token (knox moves a token's expiry at most
    once a minute), counts the SQL statements; the costliest of them is run
    again under ``EXPLAIN (ANALYZE, BUFFERS)`` and its plan kept.

History (``GET /api/v1/inmates/HIS-00000/history/``, as an auditor)
    first page (``page_size=50``), page 2, a page deep in the history
    (``--deep-page``, 1000 by default: rows 49,951-50,000) and a one-month
    ``since``/``until`` range a year back. Baseline in the same run: the
    subject's 50 first check-ins straight from ``custody_checkin``
    (``WHERE inmate_id = %s ORDER BY observed_at LIMIT 50``; with the OFFSET
    of the deep page; within the month), timed the same way through Django's
    connection.

Integrity report (``AUD``, the month)
    ``alerts.audit.signals.integrity_report(facility=..., period=...)``
    called in-process, ``--runs`` times after a warm-up: wall time and SQL
    statements, rows per signal. Also ``/audit/AUD/integrity/`` for the same
    month, signed in as the auditor, when the page is there (static files
    named without collectstatic's manifest, which the benchmark does not
    build). Baseline: one
    pass over the month's check-ins of the facility (visual checks per
    officer, a ``GROUP BY``), the least any report on them must read.

Targets
    history first page p95 < 100 ms; integrity report p50 < 5 s.

Checks (exit 1 whatever ``--strict`` says)
    every answer 200 (the page: 200 or not there yet), the history's
    statements the same on page 1 as deep in it, both ledgers verify.

Run ``python -m tests.bench audit`` (``--help``), a few minutes. Its own
database, dropped and recreated: ``BENCH_DATABASE_URL``, default
``custody_bench_audit``. Prints a table and one JSON line, also written to
``var/bench/audit.json``; the plans of the costliest statements go to
``var/bench/audit-plans.json`` (printed too when a target is missed).
"""

import argparse
import json
import math
import os
import re
import sys
import time
import traceback
import zoneinfo
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from tests.bench import common

NAME = "audit"
DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/custody_bench_audit"
)
TZ = "America/Guatemala"
CELL_CAPACITY = 8
COUNT_TIMES = ("06:00", "12:00", "18:00", "22:00")
SUBJECT = "HIS-00000"
SUBJECT_UNIT_SIZE = 24  # the subject's unit: counted four times a day for years
HIS_UNITS = 8  # and everyone else's
SUBJECT_TRIPS = 50
HISTORY = "/api/v1/inmates/{booking}/history/"
PAGE_SIZE = 50

TARGET_HISTORY_MS = 100  # p95 of the first page
TARGET_REPORT_S = 5.0  # p50 of the integrity report of one facility-month
NOISE = 0.10


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench audit",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--checkins", type=int, default=100_000, help="the subject's check-ins (100000)")
    add("--people", type=int, default=2000, help="people of HIS, the subject included (2000)")
    add("--others-checkins", type=int, default=250, help="check-ins of each other person (250)")
    add("--years", type=int, default=2, help="years of HIS history (2)")
    add("--facility-people", type=int, default=500, help="people of AUD (500)")
    add("--units", type=int, default=5, help="units of AUD (5)")
    add("--alerts", type=int, default=2000, help="alerts of AUD in the month (2000)")
    add("--quarantined", type=int, default=300, help="quarantined scans of AUD (300)")
    add("--requests", type=int, default=30, help="timed requests per history variant (30)")
    add("--runs", type=int, default=3, help="timed integrity reports (3)")
    add("--deep-page", type=int, default=1000, help="the page deep in the history (1000)")
    add("--database-url", default=DATABASE_URL, help="benchmark database, recreated")
    add("--settle", type=float, default=10, help="seconds to wait for a quiet machine (10)")
    add("--strict", action="store_true", help="exit 1 when a target is missed too")
    args = parser.parse_args(argv)
    if args.people <= SUBJECT_UNIT_SIZE + HIS_UNITS:
        parser.error(f"--people: more than {SUBJECT_UNIT_SIZE + HIS_UNITS}")
    if args.deep_page * PAGE_SIZE > args.checkins:
        parser.error("--deep-page: beyond the subject's check-ins")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    url = args.database_url
    world = plan_world(args, datetime.now(UTC))
    common.log(f"recreating and migrating {url}")
    common.recreate_database(url)

    started = time.perf_counter()
    common.log("facilities, units, cells, readers and officers (services)")
    structure = common.django_call(
        url,
        f"{__name__}:seed_structure",
        before=world["his_start"],
        units={code: [(u, size) for u, size in units] for code, units in world["units"].items()},
    )
    common.log(
        f"people, {args.checkins:,} + {args.people - 1:,} x {args.others_checkins} check-ins "
        f"over {args.years} years (HIS), a month of {args.facility_people} people (AUD)"
    )
    with common.pg_connect(url, autocommit=True) as conn:
        seeded = seed_rows(conn, args, world, structure)
    common.log("ledgers: the services' events, each at its time, chained")
    ledgers = common.django_call(url, f"{__name__}:seed_ledgers")
    common.log("VACUUM (ANALYZE)")
    with common.pg_connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
        conn.execute("CHECKPOINT")
        seeded["partitions"] = conn.execute(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'custody_checkin'::regclass"
        ).fetchone()[0]
    seeded["seconds"] = round(time.perf_counter() - started, 1)
    common.log(f"seeded in {seeded['seconds']} s: {seeded['rows']}")

    idle = common.wait_quiet(args.settle)
    common.log(f"history requests (machine {idle:.0%} busy just before)")
    history = common.django_call(
        url,
        f"{__name__}:run_history",
        booking=SUBJECT,
        month=world["history_month"],
        requests=args.requests,
        deep_page=args.deep_page,
    )
    idle_report = common.wait_quiet(args.settle)
    common.log(f"integrity report (machine {idle_report:.0%} busy just before)")
    report_run = common.django_call(
        url,
        f"{__name__}:run_integrity",
        code="AUD",
        since=world["since"],
        until=world["until"],
        runs=args.runs,
    )

    report = build_report(args, world, seeded, ledgers, history, report_run)
    report["machine_busy_before"] = {"history": round(idle, 3), "report": round(idle_report, 3)}
    plans = report.pop("plans")
    print_report(report, plans)
    common.write_report(NAME, report)
    path = common.REPORT_DIR / f"{NAME}-plans.json"
    path.write_text(json.dumps(plans, indent=1) + "\n")
    print(f"EXPLAIN (ANALYZE, BUFFERS) of the costliest statements: {path}")
    if report["failures"]:
        print("\nFAILED: " + "; ".join(report["failures"]), file=sys.stderr)
        return 1
    met = [v for v in report["targets"].values() if v is not None]
    return 1 if args.strict and not all(met) else 0


# --- What to build ------------------------------------------------------------------


def plan_world(args, now: datetime) -> dict:
    """Times (facility time for the month, UTC for the rest) and unit sizes."""
    tz = zoneinfo.ZoneInfo(TZ)
    local = now.astimezone(tz)
    this_month = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    since = (this_month - timedelta(days=1)).replace(day=1)
    his_start = now - timedelta(days=365 * args.years)
    # A month about a year back: the since/until filter on the history.
    year_ago = (local - timedelta(days=365)).replace(day=1, hour=0, minute=0, second=0)
    year_ago = year_ago.replace(microsecond=0)
    month_after = (year_ago + timedelta(days=32)).replace(day=1)
    others = args.people - SUBJECT_UNIT_SIZE
    his_units = [("H0", SUBJECT_UNIT_SIZE)] + [
        (f"H{n + 1}", others // HIS_UNITS + (1 if n < others % HIS_UNITS else 0))
        for n in range(HIS_UNITS)
    ]
    per_unit = args.facility_people // args.units
    aud_units = [
        (f"A{n}", per_unit + (1 if n < args.facility_people % args.units else 0))
        for n in range(args.units)
    ]
    return {
        "now": now.isoformat(),
        "his_start": his_start.isoformat(),
        "since": since.isoformat(),
        "until": this_month.isoformat(),
        "history_month": {"since": year_ago.isoformat(), "until": month_after.isoformat()},
        "units": {"HIS": his_units, "AUD": aud_units},
        "months_back": math.ceil(args.years * 12) + 1,
    }


# --- Facilities, units, cells, readers, officers (under Django, in a subprocess) -


GUARDS = {"HIS": 4, "AUD": 8}
SUPERVISORS = {"HIS": 2, "AUD": 3}


def seed_structure(*, before: str, units: dict) -> dict:
    """Through the services, as an administrator would have set them up
    before the history starts (their ledger events dated then): both
    facilities, their units (cells in one statement each), a reader per
    unit, guards, supervisors and one auditor of both facilities."""
    import time_machine
    from django.db import transaction
    from django.test.utils import override_settings

    at = datetime.fromisoformat(before) - timedelta(days=1)
    # The password hasher is not what is measured (requests carry tokens).
    hashers = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    with (
        time_machine.travel(at, tick=False),
        override_settings(PASSWORD_HASHERS=hashers),
        transaction.atomic(),
    ):
        return _structure(units)


def _structure(units: dict) -> dict:
    from custody import services
    from custody.models import Location, LocationKind

    result = {"facilities": {}}
    facilities = {}
    for code, unit_sizes in units.items():
        facility = services.facility_create(code=code, name=f"Audit bench {code}", timezone=TZ)
        facilities[code] = facility
        described = []
        for unit_code, size in unit_sizes:
            unit = services.location_create(
                facility=facility, code=unit_code, name=f"Unit {unit_code}", kind=LocationKind.UNIT
            )
            cells = Location.objects.bulk_create(
                [
                    Location(
                        facility=facility,
                        code=f"{unit_code}-C{c:02d}",
                        name=f"{unit_code} cell {c}",
                        kind=LocationKind.CELL,
                        parent=unit,
                        capacity=CELL_CAPACITY,
                    )
                    for c in range(-(-size // CELL_CAPACITY))
                ]
            )
            reader, _key = services.device_create(
                facility=facility, name=f"Reader {unit_code}", kind="biometric", location=unit
            )
            described.append(
                {
                    "id": unit.pk,
                    "code": unit_code,
                    "size": size,
                    "reader": str(reader.pk),
                    "cells": [[cell.pk, cell.code] for cell in cells],
                }
            )
        officers = {}
        for role, count in (("guard", GUARDS[code]), ("supervisor", SUPERVISORS[code])):
            officers[role] = [
                services.user_create(
                    username=f"{code.lower()}-{role}-{n + 1}",
                    password="bench-only-password",
                    role=role,
                    facilities=[facility],
                ).pk
                for n in range(count)
            ]
        result["facilities"][code] = {"id": facility.pk, "units": described, **officers}
    services.user_create(
        username="bench-auditor",
        password="bench-only-password",
        role="auditor",
        facilities=list(facilities.values()),
    )
    return result


# --- The rows (this process, SQL) ------------------------------------------------


def seed_rows(conn, args, world: dict, structure: dict) -> dict:
    """Everything but the structure and the ledger, in one transaction."""
    facilities = structure["facilities"]
    his, aud = facilities["HIS"], facilities["AUD"]
    now = datetime.fromisoformat(world["now"])
    his_start = datetime.fromisoformat(world["his_start"])
    since, until = datetime.fromisoformat(world["since"]), datetime.fromisoformat(world["until"])
    people = _people(his, aud, args, his_start, since)
    params = {
        "now": now,
        "tz": TZ,
        "his": his["id"],
        "aud": aud["id"],
        "his_guards": his["guard"],
        "aud_guards": aud["guard"],
        "his_officers": his["guard"] + his["supervisor"],
        "aud_officers": aud["guard"] + aud["supervisor"],
        "since": since,
        "until": until,
        "hours": round((until - since).total_seconds() / 3600),
        "times": list(COUNT_TIMES),
    }
    with conn.transaction():
        conn.execute("SET LOCAL work_mem = '256MB'")
        conn.execute(
            "SELECT custody_checkin_ensure_partitions(%s, %s, 3)", [now, world["months_back"]]
        )
        conn.execute(PEOPLE_TABLE)
        _copy(conn, "bench_people", PEOPLE_COLUMNS, people)
        for statement in (INMATES, PEOPLE_IDS, ADMISSIONS, TRIPS, SCHEDULES):
            conn.execute(statement, params)
        common.log("roll calls, rosters and marks")
        conn.execute(ROLLCALL_PLAN_TABLE)
        today = now.astimezone(zoneinfo.ZoneInfo(TZ)).date()
        first_his_day = his_start.astimezone(zoneinfo.ZoneInfo(TZ)).date() + timedelta(days=1)
        conn.execute(
            ROLLCALL_PLAN,
            {
                **params,
                "facility": his["id"],
                "units": [his["units"][0]["id"]],  # the subject's unit
                "first_day": first_his_day,
                "days": (today - first_his_day).days,
                "counters": his["guard"],
                "verifiers": his["supervisor"],
                "pair": [his["guard"][0], his["guard"][1]],
                "pair_units": [],
                "fast": 0,
                "absent": 0,
                "unverified": 0,
            },
        )
        conn.execute(
            ROLLCALL_PLAN,
            {
                **params,
                "facility": aud["id"],
                "units": [u["id"] for u in aud["units"]],
                "first_day": since.date(),
                "days": (until.date() - since.date()).days,
                "counters": aud["guard"][2:],
                "verifiers": aud["supervisor"],
                # The same two guards count and vouch for each other in two units.
                "pair": [aud["guard"][0], aud["guard"][1]],
                "pair_units": [aud["units"][1]["id"], aud["units"][-1]["id"]],
                "fast": 30,  # per mille: walked in two minutes
                "absent": 20,  # someone unaccounted
                "unverified": 50,
            },
        )
        for statement in (ROLLCALLS, ROLLCALL_EXPECTED, ROLLCALL_ENTRIES, SUBJECT_CHECKINS):
            conn.execute(statement, params)
        common.log("check-ins of HIS (two years, in arrival order)")
        conn.execute(HIS_CHECKINS, params)
        common.log("check-ins of AUD (the month, hourly)")
        conn.execute(AUD_CHECKINS, params)
        _fast_reader_heartbeat(conn, aud["units"][3]["reader"], until)
        common.log("alerts and quarantined scans")
        _alerts(conn, args, params, his, aud, his_start, now, since, until)
        conn.execute(QUARANTINE, {**params, "count": args.quarantined})
        return {"rows": _counts(conn)}


def _fast_reader_heartbeat(conn, reader: str, until: datetime) -> None:
    """Unit A3's reader told its clock at a heartbeat near the month's end
    (where the schema records it: ``clock_offset_seconds``, when present)."""
    has_offset = conn.execute(
        "SELECT 1 FROM information_schema.columns "
        "WHERE table_name = 'custody_device' AND column_name = 'clock_offset_seconds'"
    ).fetchone()
    if has_offset:
        conn.execute(
            "UPDATE custody_device SET clock_offset_seconds = 110, clock_checked_at = %s, "
            "last_heartbeat_at = %s WHERE id = %s",
            [until - timedelta(hours=2), until - timedelta(hours=2), reader],
        )


PEOPLE_COLUMNS = (
    "facility_id, fi, booking, first_name, last_name, level, unit_id, unit_ord, cell_id, "
    "cell_code, reader_id, k, unit_n, admitted_at, checkins, trips"
)

PEOPLE_TABLE = """
CREATE TEMP TABLE bench_people (
    facility_id bigint, fi int, booking text, first_name text, last_name text, level text,
    unit_id bigint, unit_ord int, cell_id bigint, cell_code text, reader_id uuid, k int,
    unit_n int, admitted_at timestamptz, checkins int, trips int, inmate_id bigint
) ON COMMIT DROP
"""


def _people(his: dict, aud: dict, args, his_start: datetime, since: datetime) -> list[tuple]:
    """One row per person: where they live, since when, how many check-ins."""
    rows = []
    for code, facility in (("HIS", his), ("AUD", aud)):
        fi = 0
        for ord_, unit in enumerate(facility["units"]):
            for k in range(unit["size"]):
                cell_id, cell_code = unit["cells"][k // CELL_CAPACITY]
                if code == "HIS":
                    subject = fi == 0
                    # The subject's unit came in at the start, the rest over two months.
                    admitted = his_start + timedelta(days=0 if ord_ == 0 else fi % 60)
                    checkins = args.checkins if subject else args.others_checkins
                    trips = SUBJECT_TRIPS if subject else (2 if fi % 10 == 0 else 0)
                    level = "maximum" if subject else ("medium", "minimum")[fi % 2]
                else:
                    admitted, checkins, trips, level = since - timedelta(days=90), 0, 0, "medium"
                rows.append(
                    (
                        facility["id"],
                        fi,
                        f"{code}-{fi:05d}",
                        "Bench",
                        f"Person {fi}",
                        level,
                        unit["id"],
                        ord_,
                        cell_id,
                        cell_code,
                        unit["reader"],
                        k,
                        unit["size"],
                        admitted,
                        checkins,
                        trips,
                    )
                )
                fi += 1
    return rows


def _copy(conn, table: str, columns: str, rows: list[tuple]) -> None:
    with conn.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


INMATES = """
INSERT INTO custody_inmate (booking_number, first_name, last_name, security_level, status,
                            admitted_at, last_seen_at, next_due_at, created_at, updated_at,
                            facility_id, cell_id)
SELECT booking, first_name, last_name, level, 'in_custody', admitted_at,
       %(now)s - interval '10 minutes', %(now)s + interval '50 minutes', admitted_at, %(now)s,
       facility_id, cell_id
FROM bench_people ORDER BY facility_id, fi
"""

PEOPLE_IDS = """
UPDATE bench_people p SET inmate_id = i.id FROM custody_inmate i WHERE i.booking_number = p.booking
"""

# The completed admission (by the system) and the open cell assignment it started.
ADMISSIONS = """
WITH admitted AS (
    INSERT INTO custody_movement (kind, status, destination, reason, requested_at, approved_at,
                                  completed_at, facility_id, inmate_id, to_location_id,
                                  cancel_reason, emergency, emergency_reason)
    SELECT 'admission', 'completed', '', '', admitted_at, admitted_at, admitted_at,
           facility_id, inmate_id, cell_id, '', false, ''
    FROM bench_people ORDER BY admitted_at
    RETURNING id, inmate_id, to_location_id, completed_at
)
INSERT INTO custody_cellassignment (started_at, ended_at, cell_id, inmate_id, started_by_id)
SELECT completed_at, NULL, to_location_id, inmate_id, id FROM admitted
"""

# Court hearings, evenly over each person's time: requested by a guard,
# approved by a supervisor, out the next morning and back that afternoon.
TRIPS = """
INSERT INTO custody_movement (kind, status, destination, reason, expected_back_at,
                              requested_at, requested_by_id, approved_at, approved_by_id,
                              departed_at, departed_by_id, completed_at, completed_by_id,
                              facility_id, inmate_id, from_location_id, to_location_id,
                              cancel_reason, emergency, emergency_reason)
SELECT 'court', 'completed', 'Juzgado de turno', 'Hearing ' || n, t + interval '1 day 10 hours',
       t, o[1 + mod(n, 4)], t + interval '2 hours', o[5 + mod(n, 2)],
       t + interval '1 day 2 hours', o[1 + mod(n + 1, 4)],
       t + interval '1 day 8 hours', o[1 + mod(n + 2, 4)],
       p.facility_id, p.inmate_id, p.cell_id, p.cell_id, '', false, ''
FROM bench_people p
CROSS JOIN LATERAL generate_series(1, p.trips) n
CROSS JOIN LATERAL (
    SELECT p.admitted_at
           + (%(now)s - interval '2 days' - p.admitted_at) * (n::float / (p.trips + 1))
) x (t)
CROSS JOIN (SELECT %(his_officers)s::bigint[]) y (o)
WHERE p.trips > 0
ORDER BY t
"""

SCHEDULES = """
INSERT INTO custody_countschedule (facility_id, location_id, time_of_day, kind, grace_minutes,
                                   is_active, created_at)
SELECT f, NULL, t::time, 'formal', 15, true, %(now)s - interval '3 years'
FROM unnest(ARRAY[%(his)s, %(aud)s]) f CROSS JOIN unnest(%(times)s::text[]) t
"""

_CHECKIN_INSERT = """
INSERT INTO custody_checkin (id, observed_at, received_at, facility_id, inmate_id, location_id,
                             method, is_biometric, score, device_id, recorded_by_id,
                             out_of_place)
SELECT * FROM ({scheduled}
    UNION ALL
    -- A present count mark is a check-in too (same id) at the counted unit,
    -- as the roll-call service stores it.
    SELECT e.id, e.observed_at, e.received_at, rc.facility_id, e.inmate_id, rc.location_id,
           e.method, false, NULL::float, NULL::uuid, e.recorded_by_id, false
    FROM custody_rollcallentry e JOIN custody_rollcall rc ON rc.id = e.rollcall_id
    WHERE rc.facility_id = %({facility})s AND e.status = 'present'
) c
ORDER BY 2
"""

# Everyone's check-ins, evenly from admission to now, in arrival order: one
# in seven a guard's visual check, the rest at the unit's reader.
HIS_CHECKINS = _CHECKIN_INSERT.format(
    facility="his",
    scheduled="""
    SELECT gen_random_uuid(), c.at, c.at + interval '2 seconds', p.facility_id, p.inmate_id,
           p.cell_id, CASE WHEN c.visual THEN 'visual' ELSE 'fingerprint' END, NOT c.visual,
           CASE WHEN c.visual THEN NULL ELSE 0.72 + mod(j * 13 + p.k, 27) / 100.0 END,
           CASE WHEN c.visual THEN NULL ELSE p.reader_id END,
           CASE WHEN c.visual THEN (%(his_guards)s::bigint[])[
                    1 + mod(j, cardinality(%(his_guards)s::bigint[]))] END,
           false
    FROM bench_people p
    CROSS JOIN LATERAL generate_series(0, p.checkins - 1) j
    CROSS JOIN LATERAL (
        SELECT p.admitted_at + (%(now)s - p.admitted_at) * ((j + 0.5) / p.checkins),
               mod(j * 37 + p.k * 11, 100) < 15
    ) c (at, visual)
    WHERE p.facility_id = %(his)s""",
)

# The subject's count marks are check-ins too: theirs add up to --checkins.
SUBJECT_CHECKINS = """
UPDATE bench_people p SET checkins = p.checkins - (
    SELECT count(*) FROM custody_rollcallentry e
    WHERE e.inmate_id = p.inmate_id AND e.status = 'present')
WHERE p.facility_id = %(his)s AND p.fi = 0
"""

# An hourly check-in per person through the month. Visual checks are by the
# guard on duty in the unit (three shifts); on unit A2's night shift seven in
# ten are visual, elsewhere one in ten. 1.5% of the machine reads score under
# 0.45. Unit A3's reader runs fast: its scans arrive before they were made
# by its clock, 5 s at the start of the month, ~110 s at the end (beyond 2
# minutes they are refused: see QUARANTINE). One in 2,000 seen in another
# unit (out of place).
AUD_CHECKINS = _CHECKIN_INSERT.format(
    facility="aud",
    scheduled="""
    SELECT gen_random_uuid(), c.at,
           c.at + CASE WHEN p.unit_ord = 3 AND NOT c.visual
                       THEN make_interval(secs => -5 - h * 0.14) ELSE interval '2 seconds' END,
           p.facility_id, p.inmate_id,
           CASE WHEN c.stray THEN (SELECT o.unit_id FROM bench_people o
                                   WHERE o.facility_id = p.facility_id
                                     AND o.unit_ord <> p.unit_ord LIMIT 1)
                ELSE p.cell_id END,
           CASE WHEN c.visual THEN 'visual' WHEN mod(p.k, 10) = 0 THEN 'face'
                ELSE 'fingerprint' END,
           NOT c.visual,
           CASE WHEN c.visual THEN NULL
                WHEN mod(h * 7 + p.k * 3, 1000) < 15 THEN 0.30 + mod(h + p.k, 15) / 100.0
                ELSE 0.75 + mod(h * 13 + p.k, 24) / 100.0 END,
           CASE WHEN c.visual THEN NULL ELSE p.reader_id END,
           CASE WHEN c.visual THEN (%(aud_guards)s::bigint[])[
                    1 + mod(p.unit_ord + 5 * c.shift, cardinality(%(aud_guards)s::bigint[]))]
           END,
           c.stray
    FROM bench_people p
    CROSS JOIN LATERAL generate_series(0, %(hours)s - 1) h
    CROSS JOIN LATERAL (
        SELECT %(since)s + make_interval(hours => h, mins => mod(p.k * 7, 60),
                                         secs => mod(p.k * 13 + h, 60))
    ) t (at)
    CROSS JOIN LATERAL (
        SELECT t.at, extract(hour FROM t.at AT TIME ZONE %(tz)s)::int / 8,
               CASE WHEN p.unit_ord = 2 AND extract(hour FROM t.at AT TIME ZONE %(tz)s) NOT
                         BETWEEN 6 AND 21
                    THEN mod(h * 31 + p.k * 17, 100) < 70
                    ELSE mod(h * 31 + p.k * 17, 100) < 10 END,
               mod(h * 11 + p.k * 5, 2000) = 0
    ) c (at, shift, visual, stray)
    WHERE p.facility_id = %(aud)s""",
)

ROLLCALL_PLAN_TABLE = """
CREATE TEMP TABLE bench_rc (
    id uuid, facility_id bigint, unit_id bigint, unit_n int, started_at timestamptz,
    counter bigint, verifier bigint, seconds int, absent_k int, unverified boolean
) ON COMMIT DROP
"""

# Four formal counts a day per unit. ``r`` (0-999, from the slot) decides:
# below ``fast`` the count is walked in two minutes; the next ``absent`` find
# one person unaccounted; the top ``unverified`` are never verified. In
# ``pair_units`` the same two guards take turns counting and vouching.
ROLLCALL_PLAN = """
INSERT INTO bench_rc
SELECT gen_random_uuid(), %(facility)s, s.unit_id, s.unit_n, s.started_at,
       CASE WHEN s.unit_id = ANY(%(pair_units)s::bigint[])
            THEN (%(pair)s::bigint[])[1 + mod(d + t, 2)]
            ELSE (%(counters)s::bigint[])[
                1 + mod(d * 4 + t + s.unit_ord, cardinality(%(counters)s::bigint[]))] END,
       CASE WHEN s.unit_id = ANY(%(pair_units)s::bigint[])
            THEN (%(pair)s::bigint[])[2 - mod(d + t, 2)]
            ELSE (%(verifiers)s::bigint[])[
                1 + mod(d + t, cardinality(%(verifiers)s::bigint[]))] END,
       CASE WHEN s.r < %(fast)s THEN 120 ELSE 600 + s.r END,
       CASE WHEN s.r >= %(fast)s AND s.r < %(fast)s + %(absent)s THEN mod(d + t, s.unit_n) END,
       s.r >= 1000 - %(unverified)s
FROM (
    SELECT u.unit_id, u.unit_n, u.unit_ord, d, t,
           ((%(first_day)s::date + d) + (%(times)s::time[])[t + 1]) AT TIME ZONE %(tz)s
               AS started_at,
           mod(abs(hashtext(u.unit_id || ':' || d || ':' || t)), 1000) AS r
    FROM (SELECT unit_id, min(unit_n) AS unit_n, min(unit_ord) AS unit_ord FROM bench_people
          WHERE unit_id = ANY(%(units)s::bigint[]) GROUP BY unit_id) u
    CROSS JOIN generate_series(0, %(days)s - 1) d
    CROSS JOIN generate_series(0, 3) t
) s
WHERE s.started_at < %(now)s - interval '1 hour'
"""

ROLLCALLS = """
INSERT INTO custody_rollcall (id, facility_id, location_id, kind, status, started_at,
                              started_by_id, submitted_at, submitted_by_id, verified_at,
                              verified_by_id, cancel_reason, expected_count, present_count,
                              out_count, unaccounted_count, unaccounted)
SELECT rc.id, rc.facility_id, rc.unit_id, 'formal',
       CASE WHEN rc.unverified THEN 'submitted' ELSE 'verified' END,
       rc.started_at, rc.counter, rc.started_at + make_interval(secs => rc.seconds + 30),
       rc.counter,
       CASE WHEN NOT rc.unverified THEN rc.started_at + make_interval(secs => rc.seconds + 630) END,
       CASE WHEN NOT rc.unverified THEN rc.verifier END,
       '', rc.unit_n, rc.unit_n - (rc.absent_k IS NOT NULL)::int, 0,
       (rc.absent_k IS NOT NULL)::int,
       COALESCE((SELECT jsonb_build_array(jsonb_build_object(
                    'inmate', p.booking, 'name', p.first_name || ' ' || p.last_name,
                    'cell', p.cell_code, 'marked', 'absent', 'status', 'in_custody'))
                 FROM bench_people p WHERE p.unit_id = rc.unit_id AND p.k = rc.absent_k),
                '[]'::jsonb)
FROM bench_rc rc ORDER BY rc.started_at
"""

ROLLCALL_EXPECTED = """
INSERT INTO custody_rollcallexpected (rollcall_id, inmate_id, cell_id, status, whereabouts)
SELECT rc.id, p.inmate_id, p.cell_id, 'in_custody', ''
FROM bench_rc rc JOIN bench_people p ON p.unit_id = rc.unit_id
ORDER BY rc.started_at, p.k
"""

# One mark per person, walked at an even pace; the unaccounted one marked absent.
ROLLCALL_ENTRIES = """
INSERT INTO custody_rollcallentry (id, rollcall_id, inmate_id, status, method, observed_at,
                                   received_at, recorded_by_id)
SELECT gen_random_uuid(), rc.id, p.inmate_id,
       CASE WHEN p.k = rc.absent_k THEN 'absent' ELSE 'present' END, 'visual', m.at,
       m.at + interval '1 second', rc.counter
FROM bench_rc rc JOIN bench_people p ON p.unit_id = rc.unit_id
CROSS JOIN LATERAL (
    SELECT rc.started_at + make_interval(secs => rc.seconds * (p.k + 1)::float / rc.unit_n)
) m (at)
ORDER BY m.at
"""


def _alerts(conn, args, params, his, aud, his_start, now, since, until) -> None:
    """AUD: ~``--alerts`` in the month (one per count with someone
    unaccounted, 30 readers offline, the rest about people; the last 40
    still open or acknowledged). HIS: 600 over the years, a quarter of them
    about the subject, all resolved."""
    discrepancies = conn.execute(
        "SELECT count(*) FROM bench_rc WHERE facility_id = %s AND absent_k IS NOT NULL",
        [aud["id"]],
    ).fetchone()[0]
    conn.execute(DISCREPANCY_ALERTS, {**params, "facility": aud["id"]})
    conn.execute(
        DEVICE_ALERTS, {**params, "facility": aud["id"], "count": 30, "start": since, "end": until}
    )
    for facility, count, start, end, unresolved, subject_share in (
        (aud, max(0, args.alerts - discrepancies - 30), since, until, 40, 0),
        (his, 600, his_start, now - timedelta(days=1), 0, 4),
    ):
        conn.execute(
            PERSON_ALERTS,
            {
                **params,
                "facility": facility["id"],
                "count": count,
                "start": start,
                "end": end,
                "unresolved": unresolved,
                "subject_every": subject_share,
                "guards": facility["guard"],
                "resolvers": facility["supervisor"] + facility["guard"],
                "boilerplate": BOILERPLATE,
                "reasons": REASONS,
            },
        )


# What a tired or careless officer writes; the integrity report looks for these.
BOILERPLATE = ["ok", "OK", "Resuelto", "resuelto", "checked", "false alarm", "n/a", "."]
REASONS = [
    "Found in the infirmary after a medical call; the nurse on duty confirmed.",
    "The reader missed the scan; visual check by the unit officer.",
    "In the yard during recreation; back in the cell on the next round.",
    "Kitchen work detail ran late; the supervisor confirmed by radio.",
    "Family visit overran; escorted back to the unit.",
]

_ALERT_COLUMNS = """
    facility_id, kind, severity, severity_rank, status, dedup_key, inmate_id, location_id,
    device_id, due_at, details, opened_at, acknowledged_at, acknowledged_by_id, resolved_at,
    resolved_by_id, resolution, resolved_by_observation, escalation_level
"""

# Kinds 7:2:1 missed check-in, out of place, impossible travel. A third of
# the missed check-ins cleared by the reconciler (seen again); the rest
# acknowledged by a guard and resolved by an officer, one in four with
# boilerplate. The last ``unresolved``: half acknowledged, half open, each
# about someone else.
PERSON_ALERTS = f"""
INSERT INTO alerts_alert ({_ALERT_COLUMNS})
SELECT %(facility)s, a.kind, s.severity, s.rank, a.status, a.kind || ':inmate:' || p.inmate_id,
       p.inmate_id, p.cell_id, NULL, a.opened_at - interval '5 minutes',
       jsonb_build_object('last_seen_at', a.opened_at - interval '65 minutes'), a.opened_at,
       CASE WHEN a.status = 'acknowledged' OR (a.status = 'resolved' AND NOT a.auto)
            THEN a.opened_at + make_interval(mins => 1 + mod(a.n, 29)) END,
       CASE WHEN a.status = 'acknowledged' OR (a.status = 'resolved' AND NOT a.auto)
            THEN (%(guards)s::bigint[])[1 + mod(a.n, cardinality(%(guards)s::bigint[]))] END,
       CASE WHEN a.status = 'resolved'
            THEN a.opened_at + make_interval(mins => 35 + mod(a.n * 7, 90)) END,
       CASE WHEN a.status = 'resolved' AND NOT a.auto
            THEN (%(resolvers)s::bigint[])[1 + mod(a.n, cardinality(%(resolvers)s::bigint[]))]
       END,
       CASE WHEN a.status <> 'resolved' THEN ''
            WHEN a.auto THEN 'Seen again.'
            WHEN mod(a.n, 4) = 0 THEN (%(boilerplate)s::text[])[
                1 + mod(a.n / 4, cardinality(%(boilerplate)s::text[]))]
            ELSE (%(reasons)s::text[])[1 + mod(a.n, cardinality(%(reasons)s::text[]))]
                 || ' Checked at '
                 || to_char((a.opened_at + make_interval(mins => 30 + mod(a.n * 7, 90)))
                            AT TIME ZONE %(tz)s, 'HH24:MI') || '.' END,
       CASE WHEN a.status = 'resolved' AND a.auto
            THEN jsonb_build_object('method', 'fingerprint', 'observed_at',
                                    a.opened_at + make_interval(mins => 34 + mod(a.n * 7, 90)))
       END,
       0
FROM (
    SELECT n, (ARRAY['missed_checkin', 'missed_checkin', 'missed_checkin', 'out_of_place',
                     'missed_checkin', 'missed_checkin', 'impossible_travel', 'missed_checkin',
                     'out_of_place', 'missed_checkin'])[1 + mod(n, 10)] AS kind,
           %(start)s + (%(end)s::timestamptz - %(start)s) * ((n + 0.5) / %(count)s) AS opened_at,
           CASE WHEN n >= %(count)s - %(unresolved)s / 2 THEN 'open'
                WHEN n >= %(count)s - %(unresolved)s THEN 'acknowledged'
                ELSE 'resolved' END AS status,
           mod(n, 3) = 0 AND mod(n, 10) IN (0, 1, 2, 4, 5, 7, 9) AS auto,
           CASE WHEN %(subject_every)s > 0 AND mod(n, %(subject_every)s) = 0 THEN 0
                ELSE mod(n, (SELECT count(*) FROM bench_people
                             WHERE facility_id = %(facility)s))::int END AS fi
    FROM generate_series(0, %(count)s - 1) n
) a
JOIN bench_people p ON p.facility_id = %(facility)s AND p.fi = a.fi
JOIN (VALUES ('missed_checkin', 'high', 1), ('out_of_place', 'medium', 2),
             ('impossible_travel', 'high', 1)) s (kind, severity, rank) ON s.kind = a.kind
ORDER BY a.opened_at
"""

# A count with someone unaccounted opens a discrepancy; its verifier (or
# a supervisor) resolves it after the recount.
DISCREPANCY_ALERTS = f"""
INSERT INTO alerts_alert ({_ALERT_COLUMNS})
SELECT rc.facility_id, 'count_discrepancy', 'critical', 0, 'resolved',
       'count_discrepancy:rollcall:' || rc.id, NULL, rc.unit_id, NULL,
       rc.started_at + make_interval(secs => rc.seconds + 30),
       jsonb_build_object('rollcall', rc.id, 'unaccounted', 1),
       rc.started_at + make_interval(secs => rc.seconds + 45),
       rc.started_at + make_interval(secs => rc.seconds + 300), rc.verifier,
       rc.started_at + make_interval(secs => rc.seconds + 1800), rc.verifier,
       CASE WHEN mod(abs(hashtext(rc.id::text)), 3) = 0 THEN 'ok'
            ELSE 'Recount: the person was in the shower block; everyone present.' END,
       NULL, 0
FROM bench_rc rc WHERE rc.facility_id = %(facility)s AND rc.absent_k IS NOT NULL
ORDER BY rc.started_at
"""

DEVICE_ALERTS = f"""
INSERT INTO alerts_alert ({_ALERT_COLUMNS})
SELECT %(facility)s, 'device_offline', 'medium', 2, 'resolved',
       'device_offline:device:' || u.reader_id, NULL, u.unit_id, u.reader_id, a.at,
       jsonb_build_object('last_heartbeat_at', a.at - interval '10 minutes'), a.at,
       a.at + interval '12 minutes', (%(aud_guards)s::bigint[])[1],
       a.at + interval '40 minutes', (%(aud_officers)s::bigint[])[
           cardinality(%(aud_officers)s::bigint[])],
       CASE WHEN mod(n, 2) = 0 THEN 'Reader rebooted' ELSE 'ok' END, NULL, 0
FROM generate_series(0, %(count)s - 1) n
CROSS JOIN LATERAL (
    SELECT %(start)s + (%(end)s::timestamptz - %(start)s) * ((n + 0.5) / %(count)s)
) a (at)
JOIN (SELECT DISTINCT unit_ord, unit_id, reader_id FROM bench_people
      WHERE facility_id = %(facility)s) u
  ON u.unit_ord = mod(n, (SELECT count(DISTINCT unit_id) FROM bench_people
                          WHERE facility_id = %(facility)s))
ORDER BY a.at
"""

# Scans that could not be accepted: most from unit A3's fast reader (from
# the future by its clock), the rest buffered too long, unknown people,
# another facility's or malformed.
QUARANTINE = """
INSERT INTO custody_quarantinedcheckin (received_at, facility_id, device_id, item_id, reason,
                                        errors, raw, fingerprint)
SELECT q.at, %(aud)s, u.reader_id, q.item, q.reason,
       jsonb_build_object(CASE q.reason WHEN 'unknown_inmate' THEN 'inmate'
                                        WHEN 'wrong_facility' THEN 'inmate'
                                        WHEN 'invalid' THEN 'score' ELSE 'observed_at' END,
                          jsonb_build_array('Rejected: ' || q.reason)),
       jsonb_build_object('id', q.item, 'inmate', CASE q.reason WHEN 'unknown_inmate'
                          THEN 'UNKNOWN-' || n ELSE 'AUD-' || lpad(mod(n, 500)::text, 5, '0')
                          END, 'method', 'fingerprint', 'observed_at',
                          q.at - CASE q.reason WHEN 'clock_past' THEN interval '80 hours'
                                               WHEN 'clock_future' THEN interval '-3 minutes'
                                               ELSE interval '3 seconds' END),
       encode(sha256(convert_to('audit-bench:' || n, 'UTF8')), 'hex')
FROM generate_series(0, %(count)s - 1) n
CROSS JOIN LATERAL (
    SELECT %(since)s + (%(until)s::timestamptz - %(since)s) * ((n + 0.5) / %(count)s),
           gen_random_uuid()::text,
           (ARRAY['clock_future', 'clock_future', 'clock_future', 'clock_past', 'unknown_inmate',
                  'unknown_inmate', 'wrong_facility', 'wrong_facility', 'clock_future',
                  'invalid'])[1 + mod(n, 10)]
) q (at, item, reason)
JOIN (SELECT DISTINCT unit_ord, reader_id FROM bench_people WHERE facility_id = %(aud)s) u
  ON u.unit_ord = CASE WHEN q.reason = 'clock_future' THEN 3 ELSE mod(n, 3) END
ORDER BY q.at
"""

COUNTED = (
    ("checkins", "custody_checkin"),
    ("inmates", "custody_inmate"),
    ("movements", "custody_movement"),
    ("rollcalls", "custody_rollcall"),
    ("rollcall_expected", "custody_rollcallexpected"),
    ("rollcall_entries", "custody_rollcallentry"),
    ("alerts", "alerts_alert"),
    ("quarantined", "custody_quarantinedcheckin"),
)


def _counts(conn) -> dict:
    counts = {
        name: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for name, table in COUNTED
    }
    counts["subject_checkins"] = conn.execute(
        "SELECT count(*) FROM custody_checkin c JOIN custody_inmate i ON i.id = c.inmate_id "
        "WHERE i.booking_number = %s",
        [SUBJECT],
    ).fetchone()[0]
    return counts


# --- The ledgers (under Django, in a subprocess) -----------------------------------


def seed_ledgers() -> dict:
    """The events the services would have appended, each at its own time:
    admissions, movement steps, alerts (opened, acknowledged, resolved),
    counts (started, submitted, verified) and quarantined scans; chained with
    the ledger's own ``canonical_event`` and ``chain_hash``, then verified."""
    from django.db import transaction

    from custody.models import Facility
    from custody.services import ledger_verify

    result = {}
    for facility in Facility.objects.order_by("code"):
        with transaction.atomic():
            events = sorted(_events(facility), key=lambda e: e[0])
            _chain(facility, events)
        check = ledger_verify(facility=facility)
        result[facility.code] = {
            "events": check.events,
            "ok": check.ok,
            "problem": str(check.problem),
        }
    return result


def _events(facility) -> list[tuple]:
    """(at, actor, action, subject, data) of everything in ``facility``."""
    from alerts.models import Alert
    from alerts.services.recording import alert_event_data, alert_subject
    from custody.models import Movement, QuarantinedCheckIn, RollCall
    from custody.services.placement import inmate_subject, movement_event_data

    events = []
    movements = Movement.objects.filter(facility=facility).select_related(
        "inmate", "facility", "from_location", "to_location", "to_facility"
    )
    for movement in movements:
        subject = inmate_subject(movement.inmate)
        if movement.kind == "admission":
            events.append(
                (
                    movement.completed_at,
                    "system",
                    "inmate.admitted",
                    subject,
                    {"booking_number": movement.inmate.booking_number, "cell": _cell(movement)},
                )
            )
            continue
        for step, by in (
            ("requested", movement.requested_by_id),
            ("approved", movement.approved_by_id),
            ("departed", movement.departed_by_id),
            ("completed", movement.completed_by_id),
        ):
            at = getattr(movement, f"{step}_at")
            data = movement_event_data(movement, status=step)
            events.append((at, _actor(by), f"movement.{step}", subject, data))
    alerts = Alert.objects.filter(facility=facility).select_related("inmate", "location")
    for alert in alerts:
        subject = alert_subject(alert)
        events.append((alert.opened_at, "system", "alert.opened", subject, alert_event_data(alert)))
        if alert.acknowledged_at:
            events.append(
                (
                    alert.acknowledged_at,
                    _actor(alert.acknowledged_by_id),
                    "alert.acknowledged",
                    subject,
                    alert_event_data(alert),
                )
            )
        if alert.resolved_at:
            data = alert_event_data(
                alert, resolution=alert.resolution, observation=alert.resolved_by_observation
            )
            events.append(
                (alert.resolved_at, _actor(alert.resolved_by_id), "alert.resolved", subject, data)
            )
    for rc in RollCall.objects.filter(facility=facility).select_related("location"):
        subject = f"rollcall:{rc.pk}"
        where = {"location": rc.location.code, "kind": rc.kind}
        events.append((rc.started_at, _actor(rc.started_by_id), "rollcall.started", subject, where))
        submitted = {
            **where,
            "expected": rc.expected_count,
            "present": rc.present_count,
            "out_authorized": rc.out_count,
            "unaccounted": [row["inmate"] for row in rc.unaccounted],
        }
        events.append(
            (rc.submitted_at, _actor(rc.submitted_by_id), "rollcall.submitted", subject, submitted)
        )
        if rc.verified_at:
            events.append(
                (rc.verified_at, _actor(rc.verified_by_id), "rollcall.verified", subject, where)
            )
    for q in QuarantinedCheckIn.objects.filter(facility=facility):
        data = {"item": q.item_id, "reason": q.reason}
        events.append((q.received_at, f"device:{q.device_id}", "checkins.quarantined", "", data))
    return events


_USERNAMES: dict = {}


def _actor(user_id) -> str:
    from custody.models import User

    if user_id is None:
        return "system"
    if not _USERNAMES:
        _USERNAMES.update(User.objects.values_list("pk", "username"))
    return f"user:{_USERNAMES[user_id]}"


def _cell(movement) -> str | None:
    return movement.to_location.code if movement.to_location_id else None


def _chain(facility, events: list[tuple]) -> None:
    """Appends ``events`` after the facility's head, each at its own time."""
    from custody.services.ledger import PendingEvent, ledger_append_many

    ledger_append_many(
        facility=facility,
        events=[
            PendingEvent(action=action, subject=subject, data=data, actor=actor, at=at)
            for at, actor, action, subject, data in events
        ],
    )


# --- Requests and reports, timed (under Django, in a subprocess) --------------------


class Census:
    """The SQL statements of one call, the costliest five, and the plan of the first."""

    def __init__(self):
        from django.db import connection

        self.connection = connection

    def __call__(self, call) -> dict:
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(self.connection) as captured:
            call()
        queries = sorted(captured.captured_queries, key=lambda q: -float(q["time"]))
        return {
            "statements": len(queries),
            "sql_ms": round(sum(float(q["time"]) for q in queries) * 1000, 1),
            "top": [
                {"ms": round(float(q["time"]) * 1000, 1), "sql": _shape(q["sql"])}
                for q in queries[:5]
            ],
            "costliest": _explain(self.connection, queries[0]["sql"]) if queries else None,
        }


def _shape(sql: str) -> str:
    """The start of a statement, on one line, to tell which it is."""
    return re.sub(r"\s+", " ", sql)[:240]


def _explain(connection, sql: str) -> dict:
    """The statement's plan as it runs now, and its planning and execution times."""
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        plan = [row[0] for row in cursor.fetchall()]
    times = {}
    for line in plan:
        found = re.match(r"(Planning|Execution) Time: ([0-9.]+) ms", line.strip())
        if found:
            times[found.group(1).lower() + "_ms"] = float(found.group(2))
    return {"sql": sql, "plan": plan, **times}


def _client(token: str | None = None, user=None):
    from django.test import Client

    headers = {"Host": "127.0.0.1"}
    if token:
        headers["Authorization"] = f"Token {token}"
    client = Client(raise_request_exception=False, headers=headers)
    if user is not None:
        client.force_login(user)
    return client


def _token(user) -> str:
    from knox.models import AuthToken

    return AuthToken.objects.create(user=user)[1]


def _get(client, url: str) -> tuple[float, int, bytes]:
    started = time.perf_counter()
    response = client.get(url)
    content = response.content
    return (time.perf_counter() - started) * 1000, response.status_code, content


def run_history(*, booking: str, month: dict, requests: int, deep_page: int) -> dict:
    """The history's variants, interleaved, ``requests`` times each after a
    warm-up; the baseline's queries the same way; then a census of each."""
    from django.db import connection

    from custody.models import Inmate, User

    auditor = User.objects.get(username="bench-auditor")
    inmate = Inmate.objects.get(booking_number=booking)
    base = HISTORY.format(booking=booking) + f"?page_size={PAGE_SIZE}"
    variants = {
        "first_page": base,
        "page_2": base + "&page=2",
        "deep_page": base + f"&page={deep_page}",
        "month": base + "&" + urlencode({"since": month["since"], "until": month["until"]}),
    }
    since, until = datetime.fromisoformat(month["since"]), datetime.fromisoformat(month["until"])
    baselines = {
        "first_page": (BASELINE_SQL + " LIMIT 50", [inmate.pk]),
        "page_2": (BASELINE_SQL + " LIMIT 50 OFFSET 50", [inmate.pk]),
        "deep_page": (
            BASELINE_SQL + f" LIMIT 50 OFFSET {(deep_page - 1) * PAGE_SIZE}",
            [inmate.pk],
        ),
        "month": (BASELINE_MONTH_SQL, [inmate.pk, since, until]),
    }
    client = _client(_token(auditor))
    answers = {}
    for name, url in variants.items():  # warm-up, untimed
        for _ in range(3):
            _, status, content = _get(client, url)
        answers[name] = {"status": status, **_page_shape(status, content)}

    def raw(sql, params):
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            cursor.fetchall()
        return (time.perf_counter() - started) * 1000

    for sql, params in baselines.values():
        raw(sql, params)
    ms = {name: [] for name in variants}
    base_ms = {name: [] for name in variants}
    statuses = {name: set() for name in variants}
    cpu_before = common.cpu_sample(None)
    for _ in range(requests):
        for name, url in variants.items():
            elapsed, status, _ = _get(client, url)
            ms[name].append(elapsed)
            statuses[name].add(status)
            base_ms[name].append(raw(*baselines[name]))
    cpu = common.cpu_split(cpu_before, common.cpu_sample(None))

    census = Census()
    counted = _client(_token(auditor))
    census_of = {name: census(lambda url=url: counted.get(url)) for name, url in variants.items()}
    base_plans = {
        name: _explain(connection, connection.ops.compose_sql(sql, params))
        for name, (sql, params) in baselines.items()
    }
    total = answers["first_page"].get("count")
    filtered = answers["month"].get("count")
    return {
        "ms": ms,
        "baseline_ms": base_ms,
        "statuses": {name: sorted(s) for name, s in statuses.items()},
        "answers": answers,
        "census": census_of,
        "baseline_plans": base_plans,
        "filter_applied": filtered is not None and total is not None and filtered < total,
        "urls": variants,
        "baseline_sql": {name: sql for name, (sql, _) in baselines.items()},
        "cpu": cpu,
    }


BASELINE_SQL = (
    "SELECT id, observed_at, method, score, location_id, device_id, recorded_by_id "
    "FROM custody_checkin WHERE inmate_id = %s ORDER BY observed_at"
)
BASELINE_MONTH_SQL = (
    "SELECT id, observed_at, method, score, location_id, device_id, recorded_by_id "
    "FROM custody_checkin WHERE inmate_id = %s AND observed_at >= %s AND observed_at < %s "
    "ORDER BY observed_at LIMIT 50"
)


def _page_shape(status: int, content: bytes) -> dict:
    if status != 200:
        return {"detail": content[:300].decode(errors="replace")}
    body = json.loads(content)
    results = body.get("results", [])
    return {
        "count": body.get("count"),
        "rows": len(results),
        "types": sorted({row["type"] for row in results}),
        "first_at": results[0]["at"] if results else None,
    }


def run_integrity(*, code: str, since: str, until: str, runs: int) -> dict:
    """The report ``runs`` times after a warm-up, its census; the page; the baseline."""
    import importlib

    from django.db import connection
    from django.test.utils import override_settings

    from alerts.audit.period import Period
    from custody.models import Facility, User

    facility = Facility.objects.get(code=code)
    period = Period(
        since=datetime.fromisoformat(since),
        until=datetime.fromisoformat(until),
        tz=facility.tzinfo,
    )
    result = {"baseline": _integrity_baseline(connection, facility, period, runs)}
    try:
        signals = importlib.import_module("alerts.audit.signals")
        integrity_report = signals.integrity_report
    except (ImportError, AttributeError) as exc:
        result["report"] = {"missing": f"{type(exc).__name__}: {exc}"}
    else:
        result["report"] = _time_report(integrity_report, facility, period, runs)

    auditor = User.objects.get(username="bench-auditor")
    local_since, local_until = period.local()
    last_day = (local_until - timedelta(microseconds=1)).date()
    url = f"/audit/{code}/integrity/?since={local_since.date()}&until={last_day}"
    with override_settings(STORAGES=PLAIN_STATIC):
        result["page"] = _time_page(_client(user=auditor), url, runs)
    return result


# The deployed service serves hashed names from collectstatic's manifest; the
# benchmark does not run collectstatic (it would rewrite var/static), and a
# name looked up in a manifest costs what one joined to STATIC_URL does.
PLAIN_STATIC = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}


def _time_page(client, url: str, runs: int) -> dict:
    response = client.get(url)
    page = {"url": url, "status": response.status_code}
    if response.status_code == 200:
        page["ms"] = [_get(client, url)[0] for _ in range(max(2, runs - 1))]
        page["census"] = Census()(lambda: client.get(url))
    elif getattr(response, "exc_info", None):
        page["detail"] = "".join(traceback.format_exception(*response.exc_info))[-1500:]
    else:
        page["detail"] = response.content[:200].decode(errors="replace")
    return page


def _time_report(integrity_report, facility, period, runs: int) -> dict:
    report = integrity_report(facility=facility, period=period)  # warm-up
    seconds = []
    cpu_before = common.cpu_sample(None)
    for _ in range(runs):
        started = time.perf_counter()
        report = integrity_report(facility=facility, period=period)
        seconds.append(time.perf_counter() - started)
    cpu = common.cpu_split(cpu_before, common.cpu_sample(None))
    census = Census()(lambda: integrity_report(facility=facility, period=period))
    return {
        "seconds": seconds,
        "census": census,
        "signals": [
            {"name": _signal_name(signal), "rows": len(getattr(signal, "rows", []) or [])}
            for signal in report.signals
        ],
        "cpu": cpu,
    }


def _signal_name(signal) -> str:
    for attribute in ("key", "slug", "code", "name", "title"):
        value = getattr(signal, attribute, None)
        if value:
            return str(value)
    return type(signal).__name__


INTEGRITY_BASELINE_SQL = (
    "SELECT recorded_by_id, count(*), count(*) FILTER (WHERE method = 'visual') "
    "FROM custody_checkin WHERE facility_id = %s AND observed_at >= %s AND observed_at < %s "
    "GROUP BY recorded_by_id"
)


def _integrity_baseline(connection, facility, period, runs: int) -> dict:
    params = [facility.pk, period.since, period.until]
    seconds = []
    for index in range(runs + 1):
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(INTEGRITY_BASELINE_SQL, params)
            rows = cursor.fetchall()
        if index:  # the first is the warm-up
            seconds.append(time.perf_counter() - started)
    return {
        "seconds": seconds,
        "groups": len(rows),
        "checkins": sum(row[1] for row in rows),
        "plan": _explain(connection, connection.ops.compose_sql(INTEGRITY_BASELINE_SQL, params)),
    }


# --- The report ---------------------------------------------------------------------


def _dist(values: list[float]) -> dict:
    return {
        "n": len(values),
        "p50": round(common.percentile(values, 50), 2),
        "p95": round(common.percentile(values, 95), 2),
        "max": round(max(values), 2),
    }


def _brief(explained: dict | None) -> dict | None:
    """A plan's times and statement, without the plan (that goes to the plans file)."""
    if not explained:
        return None
    return {
        "planning_ms": explained.get("planning_ms"),
        "execution_ms": explained.get("execution_ms"),
        "sql": _shape(explained["sql"]),
    }


def build_report(args, world, seeded, ledgers, history, integrity) -> dict:
    ms = {name: _dist(values) for name, values in history["ms"].items()}
    base = {name: _dist(values) for name, values in history["baseline_ms"].items()}
    census = history["census"]
    rep = integrity["report"]
    report_s = None
    if "seconds" in rep:
        report_s = {**_dist(rep["seconds"]), "statements": rep["census"]["statements"]}
    page = integrity["page"]
    baseline_s = _dist(integrity["baseline"]["seconds"])
    targets = {
        "history_first_page_p95": ms["first_page"]["p95"] < TARGET_HISTORY_MS,
        "integrity_report_p50": None if report_s is None else report_s["p50"] < TARGET_REPORT_S,
    }
    failures = []
    for name, statuses in history["statuses"].items():
        if statuses != [200]:
            failures.append(f"history {name} answered {statuses}: {history['answers'][name]}")
    if census["first_page"]["statements"] != census["deep_page"]["statements"]:
        failures.append(
            f"history statements: {census['first_page']['statements']} on page 1, "
            f"{census['deep_page']['statements']} on page {args.deep_page}"
        )
    if page["status"] not in (200, 404):
        failures.append(f"integrity page answered {page['status']}")
    for code, check in ledgers.items():
        if not check["ok"]:
            failures.append(f"ledger of {code} does not verify: {check['problem']}")
    if seeded["rows"]["subject_checkins"] != args.checkins:
        failures.append(f"the subject has {seeded['rows']['subject_checkins']} check-ins")
    cpu = [history["cpu"]] + ([rep["cpu"]] if "cpu" in rep else [])
    return {
        "benchmark": NAME,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": {
            "subject_checkins": args.checkins,
            "his_people": args.people,
            "others_checkins": args.others_checkins,
            "years": args.years,
            "aud_people": args.facility_people,
            "aud_units": args.units,
            "month": [world["since"], world["until"]],
            "history_month": world["history_month"],
            "requests": args.requests,
            "runs": args.runs,
            "deep_page": args.deep_page,
            "cpus": len(os.sched_getaffinity(0)),
        },
        "seeded": seeded,
        "ledgers": ledgers,
        "history": {
            "ms": ms,
            "baseline_ms": base,
            "statements": {name: c["statements"] for name, c in census.items()},
            "sql_ms": {name: c["sql_ms"] for name, c in census.items()},
            "answers": history["answers"],
            "filter_applied": history["filter_applied"],
            "costliest": {name: _brief(c["costliest"]) for name, c in census.items()},
            "top_statements": {name: c["top"][:4] for name, c in census.items()},
            "cpu": history["cpu"],
        },
        "integrity": {
            "seconds": report_s,
            "missing": rep.get("missing"),
            "signals": rep.get("signals"),
            "top_statements": rep["census"]["top"] if "census" in rep else None,
            "costliest": _brief(rep["census"]["costliest"]) if "census" in rep else None,
            "sql_ms": rep["census"]["sql_ms"] if "census" in rep else None,
            "baseline_s": {**baseline_s, "checkins": integrity["baseline"]["checkins"]},
            "page": {
                "url": page["url"],
                "status": page["status"],
                "ms": _dist(page["ms"]) if "ms" in page else None,
                "statements": page["census"]["statements"] if "census" in page else None,
                "sql_ms": page["census"]["sql_ms"] if "census" in page else None,
                "top_statements": page["census"]["top"] if "census" in page else None,
                "detail": page.get("detail"),
            },
            "cpu": rep.get("cpu"),
        },
        "targets": targets,
        "noisy": max(c["other"] for c in cpu) > NOISE,
        "failures": failures,
        # Written to their own file: the report's JSON line stays readable.
        "plans": {
            "history": {name: c["costliest"] for name, c in census.items()},
            "history_baseline": history["baseline_plans"],
            "integrity_report": rep["census"]["costliest"] if "census" in rep else None,
            "integrity_page": page["census"]["costliest"] if "census" in page else None,
            "integrity_baseline": integrity["baseline"]["plan"],
        },
    }


LABELS = {
    "first_page": "first page",
    "page_2": "page 2",
    "deep_page": "page {deep}",
    "month": "one month (since/until)",
}


def print_report(r: dict, plans: dict) -> None:
    h, cfg = r["history"], r["config"]
    rows = []
    for name, label in LABELS.items():
        label = label.format(deep=cfg["deep_page"])
        d, b = h["ms"][name], h["baseline_ms"][name]
        answer = h["answers"][name]
        rows.append(
            (
                label,
                f"p50 {d['p50']:.1f} ms, p95 {d['p95']:.1f} ms, max {d['max']:.1f} ms "
                f"(n={d['n']}), {h['statements'][name]} statements "
                f"({h['sql_ms'][name]:.1f} ms in SQL), {answer.get('rows', 0)} rows "
                f"of {_number(answer.get('count'))}",
            )
        )
        rows.append(("  costliest statement", _plan_times(h["costliest"][name])))
        if name == "first_page":
            for top in h["top_statements"][name][:3]:
                rows.append(("  a statement", f"{top['ms']:.0f} ms: {top['sql'][:90]}"))
        rows.append(("  baseline: raw SQL", f"p50 {b['p50']:.2f} ms, p95 {b['p95']:.2f} ms"))
    if not h["filter_applied"]:
        rows.append(("since/until", "NOT APPLIED: the endpoint ignores them (not there yet)"))
    rows.append(("CPU during the requests", _cpu_text(h["cpu"])))
    rows.append(("config", _config_text(r)))
    common.print_table(
        f"History of one person, {cfg['subject_checkins']:,} check-ins (in-process, test client)",
        rows,
    )

    i = r["integrity"]
    rows = []
    if i["seconds"] is None:
        rows.append(("integrity_report", f"NOT THERE: {i['missing']}"))
    else:
        s = i["seconds"]
        rows.append(
            (
                "integrity_report",
                f"p50 {s['p50']:.2f} s, max {s['max']:.2f} s (n={s['n']}), "
                f"{s['statements']} statements ({i['sql_ms']:.0f} ms in SQL)",
            )
        )
        signals = ", ".join(f"{sig['name']} {sig['rows']}" for sig in i["signals"])
        rows.append(("rows per signal", signals or "(no signals)"))
        for n, top in enumerate(i["top_statements"][:3]):
            rows.append((f"  statement #{n + 1}", f"{top['ms']:.0f} ms: {top['sql'][:90]}"))
        rows.append(("CPU during the reports", _cpu_text(i["cpu"])))
    p = i["page"]
    if p["ms"] is None:
        why = "not there yet" if p["status"] == 404 else _last_line(p["detail"])
        rows.append(("page", f"{p['url']}: HTTP {p['status']} ({why})"))
    else:
        rows.append(
            (
                "page",
                f"p50 {p['ms']['p50'] / 1000:.2f} s, max {p['ms']['max'] / 1000:.2f} s, "
                f"{p['statements']} statements",
            )
        )
    b = i["baseline_s"]
    rows.append(
        (
            "baseline: one pass",
            f"p50 {b['p50'] * 1000:.0f} ms over {b['checkins']:,} check-ins of the month",
        )
    )
    month = f"{cfg['month'][0][:10]} to {cfg['month'][1][:10]}"
    common.print_table(f"Integrity report, AUD, {month} (in-process)", rows)

    ledgers = ", ".join(
        f"{code} {'ok' if c['ok'] else 'BROKEN'} ({c['events']:,} events)"
        for code, c in r["ledgers"].items()
    )
    seeded = r["seeded"]
    common.print_table(
        "The world",
        [
            ("rows", ", ".join(f"{k} {v:,}" for k, v in seeded["rows"].items())),
            ("check-in partitions", str(seeded["partitions"])),
            ("ledgers", ledgers),
            ("seeded in", f"{seeded['seconds']} s"),
        ],
    )

    t = r["targets"]
    targets = [
        common.Target(
            f"history first page p95 < {TARGET_HISTORY_MS} ms",
            t["history_first_page_p95"],
            f"{h['ms']['first_page']['p95']:.1f} ms (raw SQL "
            f"{h['baseline_ms']['first_page']['p95']:.2f} ms)",
        )
    ]
    if t["integrity_report_p50"] is not None:
        targets.append(
            common.Target(
                f"integrity report p50 < {TARGET_REPORT_S:g} s",
                t["integrity_report_p50"],
                f"{i['seconds']['p50']:.2f} s (one pass: {b['p50']:.2f} s)",
            )
        )
    common.print_targets(targets)
    if t["integrity_report_p50"] is None:
        print(f"  integrity report: not measured ({i['missing']})")
    if not t["history_first_page_p95"]:
        _print_plan("history first page", plans["history"]["first_page"])
    if t["integrity_report_p50"] is False:
        _print_plan("integrity report", plans["integrity_report"])
    if r["failures"]:
        print("\nChecks FAILED: " + "; ".join(r["failures"]))
    else:
        print("\nChecks: every check passed")
    if r["noisy"]:
        print("\nNOISY: other processes took more than 10% of the CPU; rerun on an idle machine.")


def _print_plan(what: str, costliest: dict | None) -> None:
    if not costliest:
        return
    print(f"\nCostliest statement of the {what}:")
    print("  " + re.sub(r"\s+", " ", costliest["sql"])[:600])
    for line in costliest["plan"]:
        print("    " + line)


def _plan_times(brief: dict | None) -> str:
    if not brief:
        return "(none)"
    return (
        f"{brief.get('execution_ms') or 0:.1f} ms to run, "
        f"{brief.get('planning_ms') or 0:.1f} ms to plan: {brief['sql'][:60]}..."
    )


def _last_line(text: str | None) -> str:
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1].strip()[:200] if lines else ""


def _number(value) -> str:
    return "?" if value is None else f"{value:,}"


def _config_text(r: dict) -> str:
    cfg = r["config"]
    return (
        f"{cfg['his_people']:,} people over {cfg['years']} years, "
        f"{cfg['others_checkins']} check-ins each; {cfg['cpus']} CPUs"
    )


def _cpu_text(cpu: dict) -> str:
    return (
        f"machine {cpu['machine_busy']:.0%} busy: this process {cpu['client']:.0%}, "
        f"postgres {cpu['postgres']:.0%}, other {cpu['other']:.0%}"
    )


if __name__ == "__main__":
    sys.exit(main())
