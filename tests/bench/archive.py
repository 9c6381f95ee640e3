"""Archiving a month of check-ins: ``archive_month`` against a bare ``COPY … TO``.

What is measured
    One month partition (``custody_checkin_2023_01``) filled in SQL with
    ``--rows`` check-ins (1,000,000 by default; ``--ten-million`` for
    10,000,000) of 500 people in one facility, as ingestion stores them.

    ``copy``: the floor. ``COPY custody_checkin_2023_01 TO STDOUT (FORMAT
    csv, HEADER)`` read by psycopg in this process and thrown away: what the
    server and the wire cost, with no compression, hashing or file.

    ``archive``: ``manage.py archive_month 2023-01 --kind checkins`` in a
    process of its own, as an operator runs it: export (COPY through gzip and
    SHA-256 to a file), verification (read back, hash again, count the CSV
    rows, count the rows per facility in the database), then one transaction
    that counts again under lock, appends the ledger event and detaches and
    drops the partition. Wall time per step (from the command's own output)
    and the process's peak RSS (``wait4``), which must not grow with the
    month: everything is streamed.

Checks (exit 1 whatever ``--strict`` says)
    the command succeeds, the partition is gone, the ledger event's SHA-256
    is the file's, the file holds ``--rows`` rows.

Target
    peak RSS of ``archive_month`` < 200 MB (bounded memory, whatever the rows).

Run ``python -m tests.bench.archive`` (``--help``). Its own database,
dropped and recreated: ``BENCH_DATABASE_URL``, default
``custody_bench_archive``. Writes the files under ``var/bench/archive``.
Prints a table and one JSON line, also written to ``var/bench/archive.json``.
"""

import argparse
import gzip
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time

from tests.bench.common import (
    BIN,
    REPO,
    REPORT_DIR,
    Target,
    django_call,
    log,
    pg_connect,
    print_table,
    print_targets,
    recreate_database,
    service_env,
    wait_quiet,
    write_report,
)

DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/custody_bench_archive"
)
MONTH = "2023-01"
PARTITION = "custody_checkin_2023_01"
PEOPLE = 500
RSS_TARGET_MB = 200


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m tests.bench.archive", description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000, help="check-ins in the month")
    parser.add_argument(
        "--ten-million", action="store_true", help="10,000,000 check-ins (overrides --rows)"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when the target is missed")
    args = parser.parse_args(argv)
    if args.ten_million:
        args.rows = 10_000_000
    if not 1 <= args.rows <= 50_000_000:
        parser.error("--rows must be between 1 and 50,000,000")
    return args


def seed_structure() -> dict:
    """One facility, one cell, ``PEOPLE`` people (run under Django)."""
    from tests import factories

    facility = factories.FacilityFactory(code="ARCH")
    cell = factories.CellFactory(facility=facility)
    people = [factories.InmateFactory(facility=facility, cell=cell) for _ in range(PEOPLE)]
    return {"facility": facility.pk, "cell": cell.pk, "people": [p.pk for p in people]}


def seed_rows(conn, world: dict, rows: int) -> float:
    started = time.monotonic()
    conn.execute("SELECT custody_checkin_ensure_partitions('2023-01-15', 0, 0)")
    # Spread over the month: 30 days in seconds / rows.
    step = 30 * 86400 / rows
    conn.execute(
        f"""
        INSERT INTO {PARTITION} (id, observed_at, received_at, facility_id, inmate_id,
            location_id, method, is_biometric, score, device_id, recorded_by_id, out_of_place)
        SELECT gen_random_uuid(), t, t + interval '5 seconds', %(facility)s,
               (%(people)s::bigint[])[1 + i %% %(n)s], %(cell)s, 'fingerprint', true, 0.93,
               NULL, NULL, false
        FROM generate_series(0, %(rows)s - 1) AS i,
             LATERAL (SELECT '2023-01-01T00:00:00Z'::timestamptz
                             + make_interval(secs => i * %(step)s)) AS at(t)
        """,
        {
            "facility": world["facility"],
            "people": world["people"],
            "n": len(world["people"]),
            "cell": world["cell"],
            "rows": rows,
            "step": step,
        },
    )
    conn.execute(f"VACUUM ANALYZE {PARTITION}")
    return time.monotonic() - started


def bare_copy(conn) -> dict:
    started = time.monotonic()
    size = 0
    with conn.cursor() as cursor:
        with cursor.copy(f"COPY {PARTITION} TO STDOUT (FORMAT csv, HEADER)") as copy:
            for block in copy:
                size += len(block)
        rows = cursor.rowcount
    seconds = time.monotonic() - started
    return {"seconds": seconds, "rows": rows, "csv_bytes": size}


def run_archive(directory) -> dict:
    """``archive_month`` in a process of its own; its own peak RSS from ``wait4``."""
    cmd = [str(BIN / "python"), "manage.py", "archive_month", MONTH, "--kind", "checkins"]
    cmd += ["--dir", str(directory)]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.monotonic()
        process = subprocess.Popen(
            cmd, cwd=REPO, env=service_env(DATABASE_URL), stdout=out, stderr=err
        )
        _pid, status, usage = os.wait4(process.pid, 0)
        seconds = time.monotonic() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return {
            "seconds": seconds,
            "returncode": process.returncode,
            "stdout": out.read(),
            "stderr": err.read(),
            "rss_mb": usage.ru_maxrss / 1024,  # kilobytes on Linux
        }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv or [])
    log(f"archive bench: {args.rows:,} check-ins in {MONTH}, database {DATABASE_URL}")
    recreate_database(DATABASE_URL)
    world = django_call(DATABASE_URL, "tests.bench.archive:seed_structure")
    with pg_connect(DATABASE_URL, autocommit=True) as conn:
        seeded = seed_rows(conn, world, args.rows)
        log(f"seeded in {seeded:.1f} s")
        size = conn.execute(f"SELECT pg_total_relation_size('{PARTITION}')").fetchone()[0]
        busy_copy = wait_quiet(60)
        copy = bare_copy(conn)
        log(f"bare COPY: {copy['seconds']:.1f} s")
    directory = REPORT_DIR / "archive"
    shutil.rmtree(directory, ignore_errors=True)
    busy_archive = wait_quiet(60)
    result = run_archive(directory)
    rss = result["rss_mb"]
    if result["returncode"] != 0:
        print(result["stdout"], result["stderr"], file=sys.stderr)
        return 1
    log(f"archive_month: {result['seconds']:.1f} s, peak RSS {rss:.0f} MB")
    files = list(directory.glob("*.csv.gz"))
    checks = []
    with pg_connect(DATABASE_URL, autocommit=True) as conn:
        gone = conn.execute(f"SELECT to_regclass('{PARTITION}') IS NULL").fetchone()[0]
        event = conn.execute(
            "SELECT data FROM custody_ledgerevent WHERE action = 'archive.exported'"
        ).fetchone()
    sha = hashlib.sha256(files[0].read_bytes()).hexdigest() if len(files) == 1 else None
    with gzip.open(files[0], "rb") as stream:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: stream.read(1 << 20), b""))
    checks = [
        Target("partition detached and dropped", gone, PARTITION),
        Target("ledger SHA-256 = the file's", event is not None and event[0]["sha256"] == sha, ""),
        Target("rows in the file", lines - 1 == args.rows, f"{lines - 1:,}"),
    ]
    steps = {}
    for part in result["stdout"].split("(")[-1].rstrip(")\n").split(", "):
        name, _, value = part.partition(" ")
        steps[name] = float(value.split()[0])
    gz_bytes = files[0].stat().st_size
    rate = args.rows / result["seconds"]
    report = {
        "rows": args.rows,
        "partition_mb": round(size / 2**20),
        "csv_mb": round(copy["csv_bytes"] / 2**20),
        "gzip_mb": round(gz_bytes / 2**20, 1),
        "copy_seconds": round(copy["seconds"], 2),
        "copy_rows_per_s": round(args.rows / copy["seconds"]),
        "archive_seconds": round(result["seconds"], 2),
        "archive_rows_per_s": round(rate),
        "archive_steps_seconds": steps,
        "archive_vs_copy": round(result["seconds"] / copy["seconds"], 2),
        # Without the process's start (Django's boot): the steps themselves.
        "archive_work_seconds": round(sum(steps.values()), 2),
        "archive_work_vs_copy": round(sum(steps.values()) / copy["seconds"], 2),
        "archive_peak_rss_mb": round(rss),
        # The machine's CPU share busy before each timed phase (over 0.15: NOISY).
        "busy_before": {"copy": busy_copy, "archive": busy_archive},
    }
    print_table(
        "Archiving one month of check-ins",
        [
            ("rows", f"{args.rows:,}"),
            ("partition on disk", f"{report['partition_mb']} MB"),
            ("CSV / gzip", f"{report['csv_mb']} MB / {report['gzip_mb']} MB"),
            ("bare COPY TO", f"{copy['seconds']:.1f} s ({report['copy_rows_per_s']:,} rows/s)"),
            (
                "archive_month",
                f"{result['seconds']:.1f} s ({report['archive_rows_per_s']:,} rows/s, "
                f"{report['archive_vs_copy']}x COPY)",
            ),
            ("  steps", ", ".join(f"{k} {v:.1f} s" for k, v in steps.items())),
            (
                "  steps alone",
                f"{report['archive_work_seconds']:.1f} s "
                f"({round(args.rows / max(report['archive_work_seconds'], 0.001)):,} rows/s, "
                f"{report['archive_work_vs_copy']}x COPY)",
            ),
            ("archive_month peak RSS", f"{rss:.0f} MB"),
            (
                "machine busy before",
                f"COPY {busy_copy:.0%}, archive {busy_archive:.0%}"
                + (" NOISY" if max(busy_copy, busy_archive) > 0.15 else ""),
            ),
        ],
    )
    rss_target = Target("peak RSS < 200 MB", rss < RSS_TARGET_MB, f"{rss:.0f} MB")
    print_targets([*checks, rss_target])
    write_report("archive", report)
    if not all(check.met for check in checks):
        return 1
    return 1 if args.strict and not rss_target.met else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
