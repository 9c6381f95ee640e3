"""The establishment roll of a 2,000-person facility, now and at a past time.

The world
    One facility, ten units of 25 eight-bed cells (``--people``: 2,000 in
    custody, admitted through ``inmates_admit_bulk`` ninety days ago), a
    reception area, a yard. Behind them, written in SQL as the services
    would: ``--history`` closed cell assignments per person over the ninety
    days (moves between cells, each ended by a completed cell-move movement)
    and ``--outings`` completed court outings per person; today (facility
    time): 60 people at court, 40 in the yard on internal movements, 20
    waiting in reception, 30 released and 30 admitted. Then ``VACUUM
    (ANALYZE)``.

How it is timed
    In-process under Django (the benchmark's own database), ``--runs`` calls
    of ``establishment_roll`` for now and for 36 hours ago, after a warm-up,
    interleaved; and the endpoint ``GET /api/v1/facilities/{code}/roll/``
    (with and without ``?at=``) through Django's test client as a
    supervisor (DRF, token authentication, no socket). The state query at a
    past time is run under ``EXPLAIN (ANALYZE, BUFFERS)`` and the indexes
    it used are reported.

Target
    p95 < 200 ms for the roll now and at a past time (the selector and the
    endpoint).

Run ``python -m tests.bench roll`` (``--help``), about a minute. Its own
database, dropped and recreated: ``BENCH_DATABASE_URL``, default
``custody_bench_roll``. Prints a table and one JSON line, also written to
``var/bench/roll.json``.
"""

import argparse
import os
import re
import time

from tests.bench.common import (
    Target,
    django_call,
    log,
    percentile,
    print_table,
    print_targets,
    recreate_database,
    write_report,
)

DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/custody_bench_roll"
)
TARGET_MS = 200


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m tests.bench roll", description=__doc__)
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--history", type=int, default=6, help="past cell moves per person")
    parser.add_argument("--outings", type=int, default=3, help="past court outings per person")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv or [])
    log(f"database {DATABASE_URL}: recreating and migrating")
    recreate_database(DATABASE_URL)
    log("seeding and timing (in a Django process)")
    result = django_call(
        DATABASE_URL,
        "tests.bench.roll:run",
        people=args.people,
        history=args.history,
        outings=args.outings,
        runs=args.runs,
    )
    rows = [(name, _ms(numbers)) for name, numbers in result["timings"].items()]
    rows += [
        ("rows: assignments / movements", f"{result['assignments']} / {result['movements']}"),
        ("roll now: current / unlock", f"{result['current']} / {result['unlock']}"),
        ("past-time state plan indexes", ", ".join(result["indexes"]) or "none"),
        ("queries per roll", str(result["queries"])),
    ]
    print_table(f"Establishment roll, {args.people} people", rows)
    targets = [
        Target(
            f"{name} p95 < {TARGET_MS} ms",
            numbers["p95"] < TARGET_MS,
            f"p95 {numbers['p95']:.1f} ms",
        )
        for name, numbers in result["timings"].items()
    ]
    print_targets(targets)
    write_report("roll", {"people": args.people, **result})
    return 1 if args.strict and not all(t.met for t in targets) else 0


def _ms(numbers: dict) -> str:
    return f"p50 {numbers['p50']:.1f} ms  p95 {numbers['p95']:.1f} ms"


# --- Inside Django -------------------------------------------------------------


def run(*, people: int, history: int, outings: int, runs: int) -> dict:
    from datetime import timedelta

    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from custody.selectors import roll

    now = timezone.now()
    facility = _seed(people=people, history=history, outings=outings, now=now)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")
    past = now - timedelta(hours=36)
    client = _client(facility)
    url = f"/api/v1/facilities/{facility.code}/roll/"
    calls = {
        "selector, now": lambda: roll.establishment_roll(facility=facility),
        "selector, 36 h ago": lambda: roll.establishment_roll(facility=facility, at=past),
        "endpoint, now": lambda: _ok(client.get(url)),
        "endpoint, 36 h ago": lambda: _ok(client.get(url, {"at": past.isoformat()})),
    }
    for call in calls.values():
        call()  # warm-up
    times = {name: [] for name in calls}
    for _ in range(runs):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            times[name].append((time.perf_counter() - start) * 1000)
    with CaptureQueriesContext(connection) as queries:
        current = roll.establishment_roll(facility=facility)
    plan = _explain_past_state(connection, facility.pk, past)
    from custody.models import CellAssignment, Movement

    return {
        "timings": {
            name: {"p50": percentile(values, 50), "p95": percentile(values, 95)}
            for name, values in times.items()
        },
        "assignments": CellAssignment.objects.count(),
        "movements": Movement.objects.count(),
        "current": current.total.current_roll,
        "unlock": current.total.unlock_roll,
        "queries": len(queries),
        "indexes": sorted(set(re.findall(r"(?:Index|Bitmap Index) Scan on (\w+)", plan))),
        "plan": plan,
    }


def _ok(response):
    assert response.status_code == 200, response.content[:500]
    return response


def _client(facility):
    from knox.models import AuthToken
    from rest_framework.test import APIClient

    from custody import services

    boss = services.user_create(
        username="roll-bench", password="roll-bench-2026!", role="supervisor", facilities=[facility]
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(user=boss)[1]}")
    client.defaults["HTTP_HOST"] = "127.0.0.1"
    return client


def _explain_past_state(connection, facility_id, at) -> str:
    from custody.selectors import roll

    sql = roll.HELD_AT_SQL
    params = {"f": facility_id, "t": at, "away": list(roll.AWAY_KINDS)}
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def _seed(*, people: int, history: int, outings: int, now):
    from datetime import timedelta

    from django.db import connection

    from custody import services
    from custody.models import Location, LocationKind

    facility = services.facility_create(code="ROLL", name="Roll benchmark")
    cells = []
    for u in range(10):
        unit = Location.objects.create(
            facility=facility, code=f"U{u}", name=f"Unit {u}", kind="unit"
        )
        cells += Location.objects.bulk_create(
            Location(
                facility=facility,
                code=f"U{u}-C{c:02d}",
                name=f"Cell {c}",
                kind=LocationKind.CELL,
                capacity=8,
                parent=unit,
            )
            for c in range(25)
        )
    Location.objects.create(facility=facility, code="REC", name="Reception", kind="reception")
    Location.objects.create(facility=facility, code="YARD", name="Yard", kind="yard")
    rows = [
        {
            "booking_number": f"RB-{n:06d}",
            "first_name": "Bench",
            "last_name": f"Person {n}",
            "security_level": "medium",
            "cell": cells[n // 8 % len(cells)],
        }
        for n in range(people)
    ]
    services.inmates_admit_bulk(facility=facility, rows=rows, admitted_at=now - timedelta(days=90))
    officers = [
        services.user_create(
            username=f"roll-seed-{n}",
            password="roll-bench-2026!",
            role="supervisor",
            facilities=[facility],
        )
        for n in (1, 2)
    ]
    params = {
        "a": officers[0].pk,
        "b": officers[1].pk,
        "f": facility.pk,
        "now": now,
        "history": history,
        "outings": outings,
        "day": now - timedelta(hours=2),
    }
    with connection.cursor() as cursor:
        for statement in SEED_SQL:
            cursor.execute(statement, params)
    return facility


# Past cell moves: each person's first assignment is cut into ``history``
# closed stays in other cells of the facility (ended by completed cell-move
# movements) before the current one, which starts after them. Past outings:
# completed court trips of six hours. Today: court, yard, reception, releases.
SEED_SQL = [
    """
    CREATE TEMP TABLE bench_people AS
    SELECT i.id AS inmate_id, a.id AS assignment_id, a.cell_id, row_number() OVER () AS n
    FROM custody_inmate i JOIN custody_cellassignment a ON a.inmate_id = i.id
    WHERE i.facility_id = %(f)s AND a.ended_at IS NULL
    """,
    """
    WITH moves AS (
        INSERT INTO custody_movement (requested_by_id, approved_by_id, inmate_id, facility_id,
            kind, status, from_location_id,
            to_location_id, destination, reason, requested_at, approved_at, completed_at,
            emergency, emergency_reason, cancel_reason)
        SELECT %(a)s, %(b)s, p.inmate_id, %(f)s, 'cell_move', 'completed', p.cell_id,
               p.cell_id, '', '',
               %(now)s - make_interval(days => (80 - h * 10)::int),
               %(now)s - make_interval(days => (80 - h * 10)::int),
               %(now)s - make_interval(days => (80 - h * 10)::int), false, '', ''
        FROM bench_people p CROSS JOIN generate_series(0, %(history)s - 1) h
        RETURNING id, inmate_id, completed_at
    )
    INSERT INTO custody_cellassignment (inmate_id, cell_id, started_at, ended_at, ended_by_id)
    SELECT m.inmate_id,
           (SELECT id FROM custody_location WHERE facility_id = %(f)s AND kind = 'cell'
            ORDER BY id OFFSET mod(m.id, 250) LIMIT 1),
           m.completed_at - interval '10 days', m.completed_at, m.id
    FROM moves m
    """,
    """
    UPDATE custody_cellassignment a SET started_at = %(now)s - interval '20 days'
    FROM bench_people p WHERE a.id = p.assignment_id
    """,
    """
    INSERT INTO custody_movement (requested_by_id, approved_by_id, inmate_id, facility_id,
        kind, status, from_location_id,
        destination, reason, requested_at, approved_at, departed_at, completed_at,
        expected_back_at, emergency, emergency_reason, cancel_reason)
    SELECT %(a)s, %(b)s, p.inmate_id, %(f)s, 'court', 'completed', p.cell_id, 'Juzgado', '',
           t - interval '1 hour', t - interval '1 hour', t, t + interval '6 hours',
           t + interval '8 hours', false, '', ''
    FROM bench_people p CROSS JOIN generate_series(0, %(outings)s - 1) o
    CROSS JOIN LATERAL (
        SELECT %(now)s - make_interval(days => (5 + o * 17 + mod(p.n, 7))::int) AS t
    ) x
    """,
    """
    INSERT INTO custody_movement (requested_by_id, approved_by_id, inmate_id, facility_id,
        kind, status, from_location_id,
        destination, reason, requested_at, approved_at, departed_at, expected_back_at,
        emergency, emergency_reason, cancel_reason)
    SELECT %(a)s, %(b)s, p.inmate_id, %(f)s, 'court', 'departed', p.cell_id, 'Juzgado', '',
           %(day)s, %(day)s, %(day)s, %(now)s + interval '6 hours', false, '', ''
    FROM bench_people p WHERE p.n <= 60
    """,
    """
    UPDATE custody_inmate SET status = 'out_authorized', next_due_at = NULL
    WHERE id IN (SELECT inmate_id FROM bench_people WHERE n <= 60)
    """,
    """
    INSERT INTO custody_movement (requested_by_id, approved_by_id, inmate_id, facility_id,
        kind, status, from_location_id,
        to_location_id, destination, reason, requested_at, approved_at, departed_at,
        expected_back_at, emergency, emergency_reason, cancel_reason)
    SELECT %(a)s, %(b)s, p.inmate_id, %(f)s, 'internal', 'departed', p.cell_id,
           (SELECT id FROM custody_location WHERE facility_id = %(f)s AND code = 'YARD'),
           '', '', %(day)s, %(day)s, %(day)s, %(now)s + interval '1 hour', false, '', ''
    FROM bench_people p WHERE p.n > 60 AND p.n <= 100
    """,
    """
    WITH gone AS (
        INSERT INTO custody_movement (requested_by_id, approved_by_id, inmate_id, facility_id,
            kind, status, from_location_id,
            destination, reason, requested_at, approved_at, departed_at, completed_at,
            emergency, emergency_reason, cancel_reason)
        SELECT %(a)s, %(b)s, p.inmate_id, %(f)s, 'release', 'completed', p.cell_id, '', '',
               %(day)s, %(day)s, %(day)s, %(day)s, false, '', ''
        FROM bench_people p WHERE p.n > 100 AND p.n <= 130
        RETURNING id, inmate_id
    )
    UPDATE custody_cellassignment a SET ended_at = %(day)s, ended_by_id = g.id
    FROM gone g WHERE a.inmate_id = g.inmate_id AND a.ended_at IS NULL
    """,
    """
    UPDATE custody_inmate SET status = 'released', cell_id = NULL, next_due_at = NULL
    WHERE id IN (SELECT inmate_id FROM bench_people WHERE n > 100 AND n <= 130)
    """,
    """
    UPDATE custody_cellassignment a
    SET cell_id = (SELECT id FROM custody_location WHERE facility_id = %(f)s AND code = 'REC'),
        started_at = %(day)s
    FROM bench_people p WHERE a.id = p.assignment_id AND p.n > 130 AND p.n <= 150
    """,
    """
    UPDATE custody_inmate
    SET cell_id = (SELECT id FROM custody_location WHERE facility_id = %(f)s AND code = 'REC')
    WHERE id IN (SELECT inmate_id FROM bench_people WHERE n > 130 AND n <= 150)
    """,
    "DROP TABLE bench_people",
]
