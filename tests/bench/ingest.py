"""Check-in ingestion: how many scans a second the API stores, against COPY.

What is measured
    A generated facility of 20,000 people in custody in cells, one biometric
    reader per housing unit. Each reader posts 500-item batches to
    ``POST /api/v1/checkins/`` (its device key, the person's own cell as the
    location, times over the last hour in the facility's -06:00) to the
    service under gunicorn on loopback (2 sync workers, one per core, were
    fastest on 2 cores: more only lengthen the queue), from 3 client threads
    (keep-alive where the server offers it; sync workers close after each
    answer). Every request body is built before the clock starts; answers
    are checked after it stops. Reported: stored check-ins
    per second (wall clock, first request to last answer) and p50/p99 request
    latency. Each accepted scan costs what it costs in production: parsing,
    resolving booking numbers and locations, the idempotency check, the
    insert, moving ``last_seen_at`` / ``next_due_at`` forward and the ledger
    summary, in one transaction per batch.

Why COPY as the baseline
    In the same run the same number of new rows (same people, same shape) go
    into the same partitioned table with psycopg's ``COPY ... FROM STDIN`` in
    one transaction: the fastest way PostgreSQL takes rows in, on this
    machine, with these settings, at this table size. Absolute figures move
    with the hardware and whatever else the machine is doing; the ratio
    API/COPY says how much of the database's own ingest speed the service
    keeps, and that travels.

Run ``python -m tests.bench.ingest`` (``--help`` for the knobs; ``make bench``
runs every benchmark). It drops and recreates its own database
(``BENCH_DATABASE_URL``, default ``custody_bench``), prints a table, whether
each target is met and one JSON line (also in ``var/bench/ingest.json``), and
exits 0 either way unless ``--strict``.
"""

import argparse
import http.client
import json
import math
import os
import queue
import random
import sys
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from tests.bench import common

NAME = "ingest"
PATH = "/api/v1/checkins/"
FACILITY_CODE = "BENCH"
CELL_CAPACITY = 8
OFFSET = timezone(timedelta(hours=-6))  # America/Guatemala, no daylight saving
WINDOW = timedelta(hours=1)  # observed_at spread over the last hour

# The targets, on the 2-core machine the service is sized for.
TARGET_RATE = 10_000  # check-ins per second
TARGET_P99_MS = 400
TARGET_RATIO = 0.25  # of COPY in the same run
# Above this share of the CPU going to other processes during a timed phase
# (someone's test run on the same two cores), the figures are flagged as noisy.
NOISE = 0.10

COPY_COLUMNS = (
    "id, observed_at, received_at, facility_id, inmate_id, location_id, method, "
    "is_biometric, score, device_id, recorded_by_id, out_of_place"
)
PG_SETTINGS = [
    "server_version",
    "synchronous_commit",
    "wal_compression",
    "max_wal_size",
    "checkpoint_timeout",
    "shared_buffers",
    "full_page_writes",
    "fsync",
]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench.ingest",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--checkins", type=int, default=200_000, help="check-ins to post, timed (200000)")
    add("--batch", type=int, default=500, help="items per request (500)")
    add("--threads", type=int, default=3, help="client threads (3)")
    add("--workers", type=int, default=2, help="gunicorn workers (2: one per core was fastest)")
    add("--worker-class", default="sync", help="gunicorn worker class (sync)")
    add("--inmates", type=int, default=20_000, help="people in custody (20000)")
    add("--readers", type=int, default=8, help="readers, one per housing unit (8)")
    add("--warmup", type=int, default=None, help="untimed requests first (2 per worker)")
    add("--database-url", default=common.DATABASE_URL, help="benchmark database, recreated")
    add(
        "--db-setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a PostgreSQL setting for the benchmark database only, e.g. synchronous_commit=off",
    )
    add("--settle", type=float, default=60, help="seconds to wait for a quiet machine (60)")
    add("--strict", action="store_true", help="exit 1 when a target is missed")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.warmup is None:
        args.warmup = 2 * args.workers
    url = args.database_url

    common.log(f"recreating and migrating {url}")
    common.recreate_database(url, dict(s.split("=", 1) for s in args.db_setting))
    common.log(f"seeding {args.inmates} people in custody, {args.readers} readers")
    seeded = common.django_call(
        url, "tests.bench.ingest:seed", inmates=args.inmates, readers=args.readers
    )
    roster = load_roster(url, seeded)

    requests_needed = math.ceil(args.checkins / args.batch)
    common.log(f"building {args.warmup} + {requests_needed} request bodies and the COPY rows")
    now = datetime.now(UTC)
    scans = make_scans(roster, requests_needed + args.warmup, args.batch, now=now, seed=1)
    requests = [to_request(i, reader, batch) for i, (reader, batch) in enumerate(scans)]
    warmup, timed = requests[: args.warmup], requests[args.warmup :]
    copy_scans = make_scans(roster, requests_needed, args.batch, now=now, seed=2)
    copy_data = to_copy_text(copy_scans, facility_id=roster.facility_id, received_at=now)

    with common.pg_connect(url, autocommit=True) as conn:
        settings = common.pg_settings(conn, PG_SETTINGS)
        api = run_api_phase(args, warmup, timed, conn)
        checks = check_after_api(conn, roster)
        copy = run_copy_phase(url, copy_data, conn, args.settle)
        counts = final_counts(conn)

    posted = sum(len(r.items) for r in warmup) + api["accepted"]
    report = build_report(args, settings, api, copy, checks, counts, posted)
    print_report(report)
    common.write_report(NAME, report)
    missed = [name for name, met in report["targets"].items() if not met]
    return 1 if args.strict and (missed or not report["db"]["exactly_once"]) else 0


# --- The facility (runs under Django, in a subprocess) ------------------------


def seed(*, inmates: int, readers: int) -> dict:
    """One facility: ``readers`` housing units of 8-person cells holding
    ``inmates`` people between them, a biometric reader in each unit. Built
    through the services, the people with the set-based bulk admission."""
    from django.utils import timezone as dj_timezone

    from custody import services
    from custody.models import DeviceKind, LocationKind, SecurityLevel

    facility = services.facility_create(
        code=FACILITY_CODE, name="Benchmark facility", timezone="America/Guatemala"
    )
    per_unit = math.ceil(inmates / readers)
    levels = SecurityLevel.values
    rows, devices = [], []
    for u in range(readers):
        unit = services.location_create(
            facility=facility, code=f"U{u}", name=f"Unit {u}", kind=LocationKind.UNIT
        )
        cells = [
            services.location_create(
                facility=facility,
                code=f"U{u}-C{c:03d}",
                name=f"Unit {u} cell {c}",
                kind=LocationKind.CELL,
                parent=unit,
                capacity=CELL_CAPACITY,
            )
            for c in range(math.ceil(per_unit / CELL_CAPACITY))
        ]
        for n in range(min(per_unit, inmates - u * per_unit)):
            rows.append(
                {
                    "booking_number": f"BN-{u}-{n:05d}",
                    "first_name": "Bench",
                    "last_name": f"Person {u}-{n}",
                    "security_level": levels[n % len(levels)],
                    "cell": cells[n // CELL_CAPACITY],
                }
            )
        device, key = services.device_create(
            facility=facility,
            name=f"Reader U{u}",
            kind=DeviceKind.BIOMETRIC,
            location=unit,
            # Declared, so the method and place rules of services.evidence run.
            methods=["fingerprint", "rfid"],
        )
        devices.append({"id": str(device.pk), "key": key, "unit": unit.code})
    admitted = services.inmates_admit_bulk(
        facility=facility, rows=rows, admitted_at=dj_timezone.now() - timedelta(hours=6)
    )
    return {"facility_id": facility.pk, "admitted": admitted, "readers": devices}


@dataclass(frozen=True)
class Person:
    id: int
    booking_number: str
    cell_id: int
    cell_code: str


@dataclass(frozen=True)
class Reader:
    id: str
    key: str
    unit: str


@dataclass
class Roster:
    facility_id: int
    readers: list[Reader]
    by_unit: dict[str, list[Person]]


def load_roster(url: str, seeded: dict) -> Roster:
    by_unit = defaultdict(list)
    with common.pg_connect(url) as conn:
        rows = conn.execute(
            "SELECT i.id, i.booking_number, c.id, c.code, u.code "
            "FROM custody_inmate i JOIN custody_location c ON c.id = i.cell_id "
            "JOIN custody_location u ON u.id = c.parent_id "
            "WHERE i.facility_id = %s ORDER BY i.id",
            [seeded["facility_id"]],
        ).fetchall()
    for inmate_id, number, cell_id, cell_code, unit in rows:
        by_unit[unit].append(Person(inmate_id, number, cell_id, cell_code))
    readers = [Reader(**r) for r in seeded["readers"]]
    return Roster(seeded["facility_id"], readers, dict(by_unit))


# --- The scans ----------------------------------------------------------------


@dataclass(frozen=True)
class Scan:
    id: uuid.UUID
    person: Person
    observed_at: datetime
    score: float


def make_scans(roster: Roster, batches: int, size: int, *, now: datetime, seed: int):
    """``batches`` of ``size`` scans, readers taking turns; each batch is the
    next ``size`` people of the reader's unit, so nobody is in a batch twice
    and everyone is seen about equally often. Batch times advance over the
    last hour with up to a minute of spread inside a batch."""
    rng = random.Random(seed)
    start = now - WINDOW
    step = (WINDOW - timedelta(minutes=2)) / max(batches, 1)
    result = []
    for k in range(batches):
        reader = roster.readers[k % len(roster.readers)]
        people = roster.by_unit[reader.unit]
        first = (k // len(roster.readers)) * size
        base = start + k * step
        batch = [
            Scan(
                uuid.uuid4(),
                people[(first + j) % len(people)],
                base + timedelta(seconds=rng.randrange(60)),
                round(rng.uniform(0.85, 0.995), 3),
            )
            for j in range(size)
        ]
        result.append((reader, batch))
    return result


@dataclass
class Request:
    index: int
    reader: Reader
    items: list[Scan]
    body: bytes


def to_request(index: int, reader: Reader, scans: list[Scan]) -> Request:
    items = [
        {
            "id": str(s.id),
            "inmate": s.person.booking_number,
            "location": s.person.cell_code,
            "method": "fingerprint",
            "score": s.score,
            "observed_at": s.observed_at.astimezone(OFFSET).isoformat(timespec="seconds"),
        }
        for s in scans
    ]
    return Request(index, reader, scans, json.dumps(items, separators=(",", ":")).encode())


def to_copy_text(scans, *, facility_id: int, received_at: datetime) -> list[bytes]:
    """The COPY rows in text format, one chunk per batch; built before timing,
    as the request bodies are."""
    received = received_at.isoformat()
    chunks = []
    for reader, batch in scans:
        lines = [
            f"{s.id}\t{s.observed_at.isoformat()}\t{received}\t{facility_id}\t{s.person.id}\t"
            f"{s.person.cell_id}\tfingerprint\tt\t{s.score}\t{reader.id}\t\\N\tf\n"
            for s in batch
        ]
        chunks.append("".join(lines).encode())
    return chunks


# --- The API phase --------------------------------------------------------------


@dataclass
class Answer:
    request: Request
    status: int
    body: bytes
    seconds: float
    error: str = ""


def post(conn: http.client.HTTPConnection, request: Request) -> Answer:
    headers = {
        "Authorization": f"Token {request.reader.key}",
        "Content-Type": "application/json",
    }
    started = time.perf_counter()
    try:
        conn.request("POST", PATH, body=request.body, headers=headers)
        response = conn.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException) as exc:
        conn.close()  # the next request reconnects
        return Answer(request, 0, b"", time.perf_counter() - started, repr(exc))
    return Answer(request, response.status, body, time.perf_counter() - started)


def post_all(port: int, requests: list[Request], threads: int) -> tuple[list[Answer], float]:
    """Posts every request from ``threads`` clients pulling from one queue;
    returns the answers and the wall time from the first send to the last answer."""
    work = queue.SimpleQueue()
    for request in requests:
        work.put(request)
    answers: list[Answer] = []
    ready = threading.Barrier(threads + 1)

    def client():
        # Keep-alive where the server offers it; sync workers close after
        # each answer and http.client reconnects by itself.
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        ready.wait()
        while True:
            try:
                request = work.get_nowait()
            except queue.Empty:
                break
            answers.append(post(conn, request))
        conn.close()

    pool = [threading.Thread(target=client, daemon=True) for _ in range(threads)]
    for thread in pool:
        thread.start()
    ready.wait()
    started = time.perf_counter()
    for thread in pool:
        thread.join()
    return answers, time.perf_counter() - started


def run_api_phase(args, warmup: list[Request], timed: list[Request], conn) -> dict:
    server = common.start_gunicorn(
        database_url=args.database_url,
        workers=args.workers,
        worker_class=args.worker_class,
        name=NAME,
    )
    try:
        common.log(
            f"gunicorn up on :{server.port} ({args.workers} {args.worker_class} workers); "
            f"{len(warmup)} warm-up requests"
        )
        warm_answers, _ = post_all(server.port, warmup, args.threads)
        warm_failures = failures(warm_answers)
        if warm_failures:
            print("\nwarm-up failed; first answers:", file=sys.stderr)
            for line in warm_failures[:5]:
                print("  " + line, file=sys.stderr)
            raise SystemExit(1)
        conn.execute("CHECKPOINT")  # both phases start from a fresh checkpoint
        idle = common.wait_quiet(args.settle)
        common.log(
            f"timed: {len(timed)} requests of {args.batch} from {args.threads} threads "
            f"(machine {idle:.0%} busy just before)"
        )
        wal_before, cpu_before = common.wal_lsn(conn), common.cpu_sample(server.process.pid)
        checkpoints_before = checkpoint_count(conn)
        answers, seconds = post_all(server.port, timed, args.threads)
        cpu_after, wal_after = common.cpu_sample(server.process.pid), common.wal_lsn(conn)
        checkpoints = checkpoint_count(conn) - checkpoints_before
        replay_conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
        replay = post(replay_conn, timed[0])
        replay_conn.close()
    finally:
        server.stop()
    accepted = sum(parsed(a).get("accepted", 0) for a in answers if a.status == 200)
    latencies = [a.seconds * 1000 for a in answers]
    return {
        "requests": len(answers),
        "accepted": accepted,
        "seconds": seconds,
        "rate": accepted / seconds,
        "p50_ms": common.percentile(latencies, 50),
        "p99_ms": common.percentile(latencies, 99),
        "max_ms": max(latencies),
        "failures": failures(answers),
        "replay": replay_outcome(replay),
        "wal_bytes": wal_after - wal_before,
        "checkpoints": checkpoints,
        "cpu": common.cpu_split(cpu_before, cpu_after),
        "busy_before": idle,
    }


def parsed(answer: Answer) -> dict:
    try:
        return json.loads(answer.body)
    except ValueError:
        return {}


def failures(answers: list[Answer]) -> list[str]:
    """One line per answer that is not a 200 with every item accepted."""
    lines = []
    for answer in sorted(answers, key=lambda a: a.request.index):
        body = parsed(answer)
        expected = len(answer.request.items)
        if answer.status == 200 and body.get("accepted") == expected:
            continue
        if answer.error:
            detail = answer.error
        elif answer.status == 200:
            detail = {k: body.get(k) for k in ("accepted", "duplicate", "rejected")}
        else:
            detail = answer.body[:300].decode(errors="replace")
        lines.append(f"request {answer.request.index}: HTTP {answer.status} {detail}")
    return lines


def replay_outcome(answer: Answer) -> str:
    """The first timed batch posted again: every item must come back duplicate."""
    body = parsed(answer)
    size = len(answer.request.items)
    ok = answer.status == 200 and body.get("duplicate") == size and body.get("accepted") == 0
    summary = {k: body.get(k) for k in ("accepted", "duplicate", "rejected")}
    return f"{'ok' if ok else 'WRONG'}: HTTP {answer.status} {summary}"


def checkpoint_count(conn) -> int:
    return conn.execute(
        "SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter"
    ).fetchone()[0]


def check_after_api(conn, roster: Roster) -> dict:
    """Before COPY adds rows: did each person's ``last_seen_at`` reach their
    latest stored scan, with a deadline after it?"""
    row = conn.execute(
        """
        SELECT count(*) FILTER (WHERE i.last_seen_at IS NOT NULL),
               count(*) FILTER (WHERE i.last_seen_at = c.latest),
               count(*) FILTER (WHERE i.next_due_at > i.last_seen_at),
               count(*)
        FROM custody_inmate i
        LEFT JOIN (SELECT inmate_id, max(observed_at) AS latest
                   FROM custody_checkin GROUP BY inmate_id) c ON c.inmate_id = i.id
        WHERE i.facility_id = %s
        """,
        [roster.facility_id],
    ).fetchone()
    return {
        "inmates": row[3],
        "last_seen_moved": row[0],
        "last_seen_is_latest_scan": row[1],
        "next_due_after_last_seen": row[2],
        "checkins_after_api": count(conn, "custody_checkin"),
    }


# --- The COPY phase -------------------------------------------------------------


def run_copy_phase(url: str, chunks: list[bytes], conn, settle: float) -> dict:
    """The same number of new rows with COPY, one transaction, commit included."""
    rows = sum(chunk.count(b"\n") for chunk in chunks)
    conn.execute("CHECKPOINT")
    idle = common.wait_quiet(settle)
    common.log(f"COPY of {rows} rows (machine {idle:.0%} busy just before)")
    with common.pg_connect(url) as copier:
        wal_before, cpu_before = common.wal_lsn(conn), common.cpu_sample(None)
        started = time.perf_counter()
        with (
            copier.cursor() as cursor,
            cursor.copy(f"COPY custody_checkin ({COPY_COLUMNS}) FROM STDIN") as copy,
        ):
            for chunk in chunks:
                copy.write(chunk)
        copier.commit()
        seconds = time.perf_counter() - started
        cpu_after, wal_after = common.cpu_sample(None), common.wal_lsn(conn)
    return {
        "rows": rows,
        "seconds": seconds,
        "rate": rows / seconds,
        "wal_bytes": wal_after - wal_before,
        "cpu": common.cpu_split(cpu_before, cpu_after),
        "busy_before": idle,
    }


def count(conn, table: str) -> int:
    return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def final_counts(conn) -> dict:
    total, distinct = conn.execute(
        "SELECT count(*), count(DISTINCT id) FROM custody_checkin"
    ).fetchone()
    return {
        "checkins": total,
        "distinct_ids": distinct,
        "ledger_events": count(conn, "custody_ledgerevent"),
        "quarantined": count(conn, "custody_quarantinedcheckin"),
    }


# --- The report -----------------------------------------------------------------


def build_report(args, settings, api, copy, checks, counts, posted) -> dict:
    ratio = api["rate"] / copy["rate"]
    copied = copy["rows"]
    return {
        "benchmark": NAME,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": {
            "inmates": args.inmates,
            "readers": args.readers,
            "batch": args.batch,
            "threads": args.threads,
            "gunicorn_workers": args.workers,
            "worker_class": args.worker_class,
            "warmup_requests": args.warmup,
            "cpus": _cpus(),
        },
        "api": {
            "checkins": api["accepted"],
            "requests": api["requests"],
            "seconds": round(api["seconds"], 3),
            "checkins_per_s": round(api["rate"]),
            "p50_ms": round(api["p50_ms"], 1),
            "p99_ms": round(api["p99_ms"], 1),
            "max_ms": round(api["max_ms"], 1),
            "failed_requests": len(api["failures"]),
            "replay": api["replay"],
            "wal_bytes_per_checkin": round(api["wal_bytes"] / max(api["accepted"], 1)),
            "checkpoints": api["checkpoints"],
            "cpu": api["cpu"],
            "machine_busy_before": round(api["busy_before"], 3),
        },
        "copy": {
            "rows": copied,
            "seconds": round(copy["seconds"], 3),
            "rows_per_s": round(copy["rate"]),
            "wal_bytes_per_row": round(copy["wal_bytes"] / max(copied, 1)),
            "cpu": copy["cpu"],
            "machine_busy_before": round(copy["busy_before"], 3),
        },
        "ratio": round(ratio, 3),
        "db": {
            **checks,
            **counts,
            "expected_checkins": posted + copied,
            "exactly_once": counts["checkins"] == counts["distinct_ids"] == posted + copied,
        },
        "postgres": {**settings, "database_settings": ", ".join(args.db_setting) or "none"},
        "targets": {
            "rate": api["rate"] >= TARGET_RATE,
            "p99": api["p99_ms"] < TARGET_P99_MS,
            "ratio": ratio >= TARGET_RATIO,
        },
        "failures": api["failures"][:20],
        "noisy": max(api["cpu"]["other"], copy["cpu"]["other"]) > NOISE,
    }


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def print_report(r: dict) -> None:
    api, copy, db, cfg = r["api"], r["copy"], r["db"], r["config"]
    config = (
        f"{cfg['gunicorn_workers']} gunicorn {cfg['worker_class']} workers, "
        f"{cfg['threads']} client threads, {cfg['readers']} readers, "
        f"{cfg['inmates']:,} inmates, {cfg['cpus']} CPUs"
    )
    common.print_table(
        "Check-in ingestion",
        [
            ("API check-ins/s", _rate(api["checkins_per_s"], api["checkins"], api["seconds"])),
            ("request latency", _latency(api)),
            (
                "requests",
                f"{api['requests']} x {cfg['batch']} items, {api['failed_requests']} failed",
            ),
            ("COPY rows/s", _rate(copy["rows_per_s"], copy["rows"], copy["seconds"])),
            ("API / COPY", f"{r['ratio']:.1%}"),
            (
                "WAL per row",
                f"API {api['wal_bytes_per_checkin']} B, COPY {copy['wal_bytes_per_row']} B",
            ),
            ("checkpoints in API phase", str(api["checkpoints"])),
            ("CPU during API phase", _cpu_text(api["cpu"])),
            ("CPU during COPY", _cpu_text(copy["cpu"])),
            ("machine busy just before", _noise(api, copy)),
            ("config", config),
        ],
    )
    stored = (
        f"{db['checkins']:,} (expected {db['expected_checkins']:,}, distinct ids "
        f"{db['distinct_ids']:,}): {'exactly once' if db['exactly_once'] else 'MISMATCH'}"
    )
    seen = (
        f"{db['last_seen_moved']:,} of {db['inmates']:,} inmates; "
        f"{db['last_seen_is_latest_scan']:,} at their latest scan, "
        f"{db['next_due_after_last_seen']:,} due after it"
    )
    common.print_table(
        "Database afterwards",
        [
            ("check-ins", stored),
            ("last_seen_at moved", seen),
            ("replayed batch", api["replay"]),
            ("ledger events", f"{db['ledger_events']:,}"),
            ("quarantined", f"{db['quarantined']:,}"),
        ],
    )
    common.print_table("PostgreSQL", list(r["postgres"].items()))
    met = r["targets"]
    common.print_targets(
        [
            common.Target(
                f">= {TARGET_RATE:,} check-ins/s", met["rate"], f"{api['checkins_per_s']:,}/s"
            ),
            common.Target(f"p99 < {TARGET_P99_MS} ms", met["p99"], f"{api['p99_ms']} ms"),
            common.Target(f">= {TARGET_RATIO:.0%} of COPY", met["ratio"], f"{r['ratio']:.1%}"),
        ]
    )
    for line in r["failures"]:
        print("  failed " + line)
    if r["noisy"]:
        print(
            f"\nNOISY: {max(api['cpu']['other'], copy['cpu']['other']):.0%} of the CPU went to "
            "processes outside this benchmark during a timed phase; rerun on an idle machine."
        )


def _rate(per_second: int, n: int, seconds: float) -> str:
    return f"{per_second:,} ({n:,} in {seconds} s)"


def _latency(api: dict) -> str:
    return f"p50 {api['p50_ms']} ms, p99 {api['p99_ms']} ms, max {api['max_ms']} ms"


def _noise(api: dict, copy: dict) -> str:
    before = (api["machine_busy_before"], copy["machine_busy_before"])
    text = f"API {before[0]:.0%}, COPY {before[1]:.0%}"
    return text + (" (not quiet within --settle)" if max(before) > NOISE else "")


def _cpu_text(cpu: dict) -> str:
    return (
        f"machine {cpu['machine_busy']:.0%} busy: client {cpu['client']:.0%}, "
        f"gunicorn {cpu['gunicorn']:.0%}, postgres {cpu['postgres']:.0%}, "
        f"other {cpu['other']:.0%}"
    )


if __name__ == "__main__":
    sys.exit(main())
