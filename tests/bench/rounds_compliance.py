"""The rounds compliance report on one facility-month of round checks.

The world (built in SQL, as ingestion stores the rows)
    A facility (``RCM``) of ``--units`` units of ``--cells`` cells, each with
    a printed tag and its own officer per unit; ``--close`` cells of each
    unit on close watch. For the last 30 days, every cell checked at random
    intervals: 20 to 60 minutes (standard), 5 to 15 minutes (close watch).
    With the defaults (6 x 60 cells, 2 on close watch per unit) about
    440,000 round checks. Then ``VACUUM (ANALYZE)``.

What is measured
    ``custody.selectors.round_compliance.round_compliance`` for the month
    (one statement: one window pass over the month, then totals by unit and
    officer, too-regular cell-shifts and gaps by hour), a warm-up then
    ``--runs`` runs, wall time;
    and the report as the workspace exports it (``rounds_report`` and the
    CSV), once.

Target
    report p50 < 5 s.

Run ``python -m tests.bench rounds_compliance`` (``--help``), about a
minute. Its own database, dropped and recreated: ``BENCH_DATABASE_URL``,
default ``custody_bench_rounds_compliance``. Prints a table and one JSON
line, also written to ``var/bench/rounds_compliance.json``.
"""

import argparse
import json
import os
import sys

from tests.bench import common

NAME = "rounds_compliance"
DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/custody_bench_rounds_compliance"
)
TARGET_SECONDS = 5.0


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench rounds_compliance",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--units", type=int, default=6, help="units (6)")
    add("--cells", type=int, default=60, help="cells per unit (60)")
    add("--close", type=int, default=2, help="cells on close watch per unit (2)")
    add("--days", type=int, default=30, help="days of checks (30)")
    add("--runs", type=int, default=5, help="timed runs of the report (5)")
    add("--database-url", default=DATABASE_URL)
    add("--strict", action="store_true", help="exit 1 when the target is missed")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv or [])
    url = args.database_url
    common.log(f"{NAME}: recreating {url}")
    common.recreate_database(url)
    common.log(f"{NAME}: seeding {args.units} x {args.cells} cells, {args.days} days")
    seeded = common.django_call(
        url,
        "tests.bench.rounds_compliance:seed",
        units=args.units,
        cells=args.cells,
        close=args.close,
        days=args.days,
    )
    common.log(f"{NAME}: {seeded['checks']:,} checks in {seeded['seconds']} s; timing the report")
    measured = common.django_call(url, "tests.bench.rounds_compliance:measure", runs=args.runs)
    p50 = measured["p50_seconds"]
    targets = [
        common.Target("report p50 < 5 s", p50 < TARGET_SECONDS, f"{p50:.2f} s"),
    ]
    common.print_table(
        "Rounds compliance report, one facility-month",
        [
            ("round checks", f"{seeded['checks']:,}"),
            ("cells", f"{seeded['cells']:,}"),
            ("report runs (s)", ", ".join(f"{s:.2f}" for s in measured["seconds"])),
            ("report p50 (s)", f"{measured['p50_seconds']:.2f}"),
            ("report fastest (s)", f"{measured['min_seconds']:.2f}"),
            ("SQL statements", str(measured["statements"])),
            ("report + CSV export (s)", f"{measured['export_seconds']:.2f}"),
            ("too-regular cell-shifts", str(measured["too_regular"])),
        ],
    )
    common.print_targets(targets)
    common.write_report(NAME, {"name": NAME, "seeded": seeded, "measured": measured})
    missed = not all(target.met for target in targets)
    return 1 if (missed and args.strict) else 0


# --- Run under Django (common.django_call) --------------------------------------------


def seed(*, units: int, cells: int, close: int, days: int) -> dict:
    import time
    from datetime import timedelta

    from django.db import connection
    from django.utils import timezone

    from custody import services
    from custody.models import Location, LocationKind, LocationTag
    from custody.services.round_tags import new_qr_uid

    started = time.perf_counter()
    facility = services.facility_create(
        code="RCM", name="Compliance bench", timezone="America/Guatemala"
    )
    admin = services.user_create(
        username="rcm-admin", password="bench-pass-2026!", role="admin", facilities=[facility]
    )
    device, _key = services.device_create(facility=facility, name="RCM tablet", kind="tablet")
    now = timezone.now().replace(microsecond=0)
    start = now - timedelta(days=days)
    officers = []
    cell_rows = []
    for u in range(units):
        unit = Location.objects.create(
            facility=facility, code=f"U{u}", name=f"Unit {u}", kind=LocationKind.UNIT
        )
        officers.append(
            services.user_create(
                username=f"rcm-guard-{u}",
                password="bench-pass-2026!",
                role="guard",
                facilities=[facility],
            )
        )
        cell_rows += [
            Location(
                facility=facility,
                code=f"U{u}-{n:03d}",
                name=f"Cell {n}",
                kind=LocationKind.CELL,
                parent=unit,
                capacity=4,
                watch_level="close" if n < close else "standard",
            )
            for n in range(cells)
        ]
    made = Location.objects.bulk_create(cell_rows)
    LocationTag.objects.bulk_create(
        LocationTag(
            facility=facility,
            location=cell,
            uid=new_qr_uid(),
            kind="qr",
            registered_at=start - timedelta(days=1),
            registered_by=admin,
        )
        for cell in made
    )
    unit_officers = {f"U{u}": officer.pk for u, officer in enumerate(officers)}
    with connection.cursor() as cursor:
        for level, low, high in (("standard", 1200, 3600), ("close", 300, 900)):
            cursor.execute(
                """
                WITH gaps AS (
                  SELECT l.id AS cell_id, u.code AS unit_code, g.n,
                         %(low)s + floor(random() * (%(high)s - %(low)s)) AS gap
                  FROM custody_location l JOIN custody_location u ON u.id = l.parent_id
                  CROSS JOIN generate_series(1, %(most)s) g(n)
                  WHERE l.facility_id = %(facility)s AND l.kind = 'cell'
                    AND l.watch_level = %(level)s
                ), timed AS (
                  SELECT cell_id, unit_code, gap,
                         %(start)s
                         + make_interval(secs => sum(gap) OVER (PARTITION BY cell_id ORDER BY n))
                           AS at
                  FROM gaps
                )
                INSERT INTO custody_roundcheck
                  (id, facility_id, location_id, tag_id, officer_id, device_id, scanned_at,
                   received_at, watch_level, next_due_at, interval_seconds)
                SELECT gen_random_uuid(), %(facility)s, t.cell_id, tag.id,
                       (%(officers)s::jsonb ->> t.unit_code)::bigint, %(device)s, t.at,
                       t.at + interval '3 seconds', %(level)s, t.at + interval '30 minutes', t.gap
                FROM timed t JOIN custody_locationtag tag ON tag.location_id = t.cell_id
                WHERE t.at < %(now)s
                ORDER BY t.at
                """,
                {
                    "low": low,
                    "high": high,
                    "most": days * 86400 // low + 1,
                    "facility": facility.pk,
                    "level": level,
                    "start": start,
                    "now": now,
                    "officers": json.dumps(unit_officers),
                    "device": device.pk,
                },
            )
        cursor.execute("SELECT count(*) FROM custody_roundcheck")
        (checks,) = cursor.fetchone()
    return {
        "checks": checks,
        "cells": len(made),
        "seconds": round(time.perf_counter() - started, 1),
        "since": start.isoformat(),
        "until": now.isoformat(),
    }


def measure(*, runs: int) -> dict:
    import statistics
    import time
    from datetime import timedelta

    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from alerts.audit.exports import render_csv
    from alerts.audit.period import Period
    from alerts.audit.rounds_report import export_report, rounds_report
    from custody.models import Facility
    from custody.selectors.round_compliance import round_compliance

    # As autovacuum keeps a production table.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) custody_roundcheck")
    facility = Facility.objects.get(code="RCM")
    until = timezone.now()
    since = until - timedelta(days=30)
    round_compliance(facility=facility, since=since, until=until, standard="ca_title15")
    seconds = []
    for _run in range(runs):
        started = time.perf_counter()
        with CaptureQueriesContext(connection) as queries:
            report = round_compliance(
                facility=facility, since=since, until=until, standard="ca_title15"
            )
        seconds.append(time.perf_counter() - started)
    started = time.perf_counter()
    full = rounds_report(
        facility=facility, period=Period(since, until, facility.tzinfo), standard="ncchc"
    )
    render_csv(export_report(full))
    export_seconds = time.perf_counter() - started
    return {
        "seconds": [round(s, 3) for s in seconds],
        "p50_seconds": round(statistics.median(seconds), 3),
        "min_seconds": round(min(seconds), 3),
        "statements": len(queries.captured_queries),
        "export_seconds": round(export_seconds, 3),
        "checks_graded": report.total.checks,
        "too_regular": report.total.too_regular,
    }


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
