"""Observation rounds: 50 tablets checking 40 cells each, and the due query
at national scale.

What is measured
    A facility (``RND``) with ``--tablets`` units of ``--cells`` tagged cells,
    one person per cell, a guard and an enrolled tablet per unit (built
    through the services, tags and cells in one statement each). All the
    tablets, released by one barrier, each on its own thread and database
    connection, post ``--rounds`` rounds, paced so that batches arrive evenly
    as from ``--worth`` facilities of 6,000 cell checks an hour each (100:
    ~4.2 batches of 40 a second; 0: all at once, as fast as they go): one
    batch per round with a check of
    each of their 40 cells (tag scan, the person ``seen_alive``; one in 50
    ``needs_attention``, which opens its alert on commit), as a tablet back
    in signal sends its round; plus one replay per tablet (a retry after a
    lost answer, all ``duplicate``). In-process through
    ``config.wsgi.application`` (every middleware, token and tablet cookie,
    ``DEBUG=0``), timed from the call to the last byte, as in the roll-call
    benchmark; the threads share one interpreter like one server process
    with that many threads.

    Then 200,000 people in 100 facilities (``tests/bench/population.py``,
    in SQL) with every cell under the rounds watch (1% past its deadline)
    and 1% of the people on close watch of their own (1% of those past it):
    ``missed_round``'s two due queries (``custody.selectors.rounds``) for
    every facility: the round trip from Django, and the server's execution
    time (EXPLAIN ANALYZE of each), whose plan must use the partial index.

Targets
    p99 per batch of 40 checks < 300 ms; each due query < 5 ms (p99 over the
    100 facilities of the server's execution time; the round trip from
    Django is printed beside it) on an index scan of ``location_round_due`` /
    ``inmate_round_due`` in every facility.

Checks (exit 1 whatever ``--strict`` says)
    every check stored once, every replay ``duplicate``, one
    ``round_attention`` alert per ``needs_attention``, the ledger verifies.

Run ``python -m tests.bench rounds`` (``--help``). Its own databases, dropped
and recreated: ``BENCH_DATABASE_URL``, default ``custody_bench_rounds``, and
the same name + ``_due`` for the national population. Prints tables and one
JSON line, also written to ``var/bench/rounds.json``.
"""

import argparse
import json
import os
import random
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

from tests.bench import common, population

NAME = "rounds"
DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/custody_bench_rounds"
)
ROUNDS = "/api/v1/rounds/"
BATCH_TARGET_MS = 300
DUE_TARGET_MS = 5.0
ATTENTION_EVERY = 50
CHECKS_PER_FACILITY_HOUR = 6000


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench rounds",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--tablets", type=int, default=50, help="tablets at once, one unit each (50)")
    add("--cells", type=int, default=40, help="cells per tablet's unit (40)")
    add("--rounds", type=int, default=5, help="rounds each tablet posts (5)")
    add(
        "--worth",
        type=float,
        default=100,
        help="pace: batches arrive as from this many facilities of 6,000 cell checks an "
        "hour each (100: ~4 batches of 40 a second); 0: all at once, as fast as they go",
    )
    add("--facilities", type=int, default=100, help="facilities for the due query (100)")
    add("--inmates", type=int, default=200_000, help="people for the due query (200,000)")
    add("--seed", type=int, default=1)
    add("--database-url", default=DATABASE_URL)
    add("--settle", type=float, default=5)
    add("--strict", action="store_true", help="exit 1 when a target is missed too")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    url = args.database_url
    common.log(f"recreating and migrating {url}")
    common.recreate_database(url)
    common.log(f"seeding {args.tablets} units of {args.cells} tagged cells, a tablet each")
    tablets = common.django_call(url, f"{__name__}:seed", tablets=args.tablets, cells=args.cells)
    idle = common.wait_quiet(args.settle)
    common.log(f"{args.tablets} tablets x {args.rounds} rounds (machine {idle:.0%} busy)")
    storm = common.django_call(
        url,
        f"{__name__}:run_storm",
        tablets=tablets,
        rounds=args.rounds,
        seed=args.seed,
        rate=args.worth * CHECKS_PER_FACILITY_HOUR / 3600 / args.cells,
    )
    checks = storm.pop("checks")

    # The national population in a database of its own (its SQL owns every facility).
    due_url = url + "_due"
    common.log(f"recreating and migrating {due_url}")
    common.recreate_database(due_url)
    per = args.inmates // args.facilities
    pop = population.Population(facilities=args.facilities, per_facility=per, checkins=False)
    common.log(f"seeding {args.facilities} facilities x {per:,} people in SQL")
    now = datetime.now(UTC)
    with common.pg_connect(due_url, autocommit=True) as conn:
        population.seed(conn, pop, now=now, secret="rounds")
        watched = _watch_everyone(conn, now)
    common.wait_quiet(args.settle)
    due = common.django_call(due_url, f"{__name__}:run_due")
    report = build_report(args, storm, checks, due, watched)
    print_report(report, due)
    common.write_report(NAME, report)
    if report["failures"]:
        print("\nFAILED: " + "; ".join(report["failures"]), file=sys.stderr)
        return 1
    return 1 if args.strict and not all(report["targets"].values()) else 0


# --- The facility and its tablets (under Django) ------------------------------------


def seed(*, tablets: int, cells: int) -> list[dict]:
    from django.db import transaction
    from django.test.utils import override_settings
    from django.utils import timezone
    from knox.models import AuthToken

    from custody import services
    from custody.models import Location, LocationKind, LocationTag

    with (
        transaction.atomic(),
        override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]),
    ):
        facility = services.facility_create(code="RND", name="Rounds bench")
        admin = services.user_create(
            username="rnd-admin", password="bench-only-pw", role="admin", facilities=[facility]
        )
        registered = timezone.now() - timedelta(days=1)
        out, rows, tags = [], [], []
        for n in range(tablets):
            code = f"U{n:02d}"
            unit = services.location_create(
                facility=facility, code=code, name=code, kind=LocationKind.UNIT
            )
            made = Location.objects.bulk_create(
                Location(
                    facility=facility,
                    code=f"{code}-C{c:02d}",
                    name=f"{code} {c}",
                    kind=LocationKind.CELL,
                    parent=unit,
                    capacity=2,
                    next_round_due_at=registered + timedelta(minutes=40),
                    round_deadline_at=registered + timedelta(hours=1),
                )
                for c in range(cells)
            )
            for cell in made:
                uid = f"{n:02X}{cell.pk:08X}"
                tags.append(
                    LocationTag(
                        facility=facility,
                        location=cell,
                        uid=uid,
                        kind="rfid",
                        registered_at=registered,
                        registered_by=admin,
                    )
                )
                rows.append(
                    {
                        "booking_number": f"R{cell.pk}",
                        "first_name": "Bench",
                        "last_name": cell.code,
                        "security_level": "medium",
                        "cell": cell,
                    }
                )
            guard = services.user_create(
                username=f"rnd-{code}",
                password="bench-only-pw",
                role="guard",
                facilities=[facility],
            )
            _device, key = services.device_create(
                facility=facility, name=f"tab-{code}", kind="tablet"
            )
            out.append(
                {
                    "token": AuthToken.objects.create(user=guard)[1],
                    "tablet": key,
                    "cells": [[f"{n:02X}{c.pk:08X}", f"R{c.pk}"] for c in made],
                }
            )
        LocationTag.objects.bulk_create(tags)
        services.inmates_admit_bulk(facility=facility, rows=rows)
    return out


class TabletClient:
    """One officer on one tablet: token and tablet cookie, in-process WSGI."""

    def __init__(self, token: str, tablet_key: str):
        from config.wsgi import application

        self.app = application
        self.headers = {
            "HTTP_AUTHORIZATION": f"Token {token}",
            "HTTP_COOKIE": f"custody_tablet={tablet_key}",
        }

    def post(self, path: str, body: bytes) -> tuple[float, int, bytes]:
        import io

        environ = {
            "REQUEST_METHOD": "POST",
            "SCRIPT_NAME": "",
            "PATH_INFO": path,
            "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": "127.0.0.1",
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.url_scheme": "http",
            "wsgi.version": (1, 0),
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            **self.headers,
        }
        answer = {}

        def start_response(status, headers, exc_info=None):
            answer["status"] = int(status.split()[0])

        started = time.perf_counter()
        result = self.app(environ, start_response)
        try:
            content = b"".join(result)
        finally:
            result.close()
        return (time.perf_counter() - started) * 1000, answer["status"], content


def _plan(tablet: dict, rounds: int, rng: random.Random, start: datetime) -> list[dict]:
    """``rounds`` batches of one check per cell, a few minutes of scan times
    apart, walking at ~20 s a cell; then one earlier batch again."""
    posts, counter = [], 0
    for r in range(rounds):
        items = []
        at = start + timedelta(minutes=8 * r)
        for uid, booking in tablet["cells"]:
            counter += 1
            state = "needs_attention" if counter % ATTENTION_EVERY == 0 else "seen_alive"
            at += timedelta(seconds=rng.randint(15, 25))
            items.append(
                {
                    "id": str(uuid.uuid4()),
                    "tag": uid,
                    "scanned_at": at.isoformat(),
                    "observations": [{"inmate": booking, "state": state}],
                }
            )
        posts.append({"items": items, "replay": False})
    posts.append({**posts[rng.randrange(len(posts))], "replay": True})
    for post in posts:
        post["body"] = json.dumps(post["items"]).encode()
    return posts


def run_storm(*, tablets: list[dict], rounds: int, seed: int, rate: float) -> dict:
    from django.db import connection

    rng = random.Random(seed)
    # Scan times end before now: every round is "just sent" within the clock rules.
    start = datetime.now(UTC) - timedelta(minutes=8 * rounds + 20)
    plans = [_plan(t, rounds, rng, start) for t in tablets]
    clients = [TabletClient(t["token"], t["tablet"]) for t in tablets]
    clients[0].post(ROUNDS, b"[]")  # warm-up: imports and caches
    barrier = threading.Barrier(len(tablets) + 1)
    answers: list[list[dict]] = [[] for _ in tablets]

    # Paced: batch k of tablet i is due at (k * tablets + i) / rate seconds
    # after the barrier, so batches arrive evenly at ``rate`` a second.
    every = len(tablets) / rate if rate else 0.0
    offset = 1 / rate if rate else 0.0

    def run(i: int) -> None:
        try:
            connection.ensure_connection()
            barrier.wait(timeout=60)
            began = time.perf_counter()
            for k, post in enumerate(plans[i]):
                wait = began + k * every + i * offset - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                ms, status, content = clients[i].post(ROUNDS, post["body"])
                body = json.loads(content) if status == 200 else {}
                wanted = "duplicate" if post["replay"] else "accepted"
                answers[i].append(
                    {
                        "ms": ms,
                        "status": status,
                        "replay": post["replay"],
                        "ok": body.get(wanted) == len(post["items"]),
                        "detail": "" if status == 200 else content[:200].decode(errors="replace"),
                    }
                )
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(tablets))]
    for thread in threads:
        thread.start()
    cpu_before = common.cpu_sample(None)
    barrier.wait(timeout=60)
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    cpu = common.cpu_split(cpu_before, common.cpu_sample(None))
    flat = [a for per in answers for a in per]
    sent = [i["id"] for plan in plans for post in plan if not post["replay"] for i in post["items"]]
    attention = sum(
        1
        for plan in plans
        for post in plan
        if not post["replay"]
        for i in post["items"]
        if i["observations"][0]["state"] != "seen_alive"
    )
    return {
        "answers": flat,
        "seconds": seconds,
        "cpu": cpu,
        "checks": check_stored(sent={"ids": sent, "attention": attention}),
    }


def check_stored(*, sent: dict) -> dict:
    from alerts.models import Alert, AlertKind
    from custody.models import Facility, RoundCheck, RoundObservation
    from custody.services import ledger_verify

    ids = sent["ids"]
    stored = RoundCheck.objects.filter(id__in=ids).count()
    ledger = ledger_verify(facility=Facility.objects.get(code="RND"))
    return {
        "sent": len(ids),
        "stored": stored,
        "all_checks": RoundCheck.objects.count(),
        "observations": RoundObservation.objects.count(),
        "attention_sent": sent["attention"],
        "attention_alerts": Alert.objects.filter(kind=AlertKind.ROUND_ATTENTION).count(),
        "ledger_ok": ledger.ok,
        "ledger_events": ledger.events,
    }


# --- The due queries at national scale -----------------------------------------------

WATCH_SQL = """
UPDATE custody_location SET
    last_round_at = %(now)s - interval '20 minutes',
    next_round_due_at = %(now)s + make_interval(secs => 600 + mod(id, 1800)),
    round_deadline_at = CASE WHEN mod(id, 100) = 7
        THEN %(now)s - make_interval(secs => 1 + mod(id, 300))
        ELSE %(now)s + make_interval(secs => 600 + mod(id, 2400)) END
WHERE kind = 'cell';
UPDATE custody_inmate SET
    watch_level = 'close',
    last_round_at = %(now)s - interval '5 minutes',
    next_round_due_at = %(now)s + interval '5 minutes',
    round_deadline_at = CASE WHEN mod(id, 10000) = 13
        THEN %(now)s - interval '1 minute' ELSE %(now)s + interval '10 minutes' END
WHERE mod(id, 100) = 13 AND status = 'in_custody';
"""


def _watch_everyone(conn, now: datetime) -> dict:
    for statement in WATCH_SQL.strip().split(";\n"):
        if statement.strip():
            conn.execute(statement, {"now": now})
    conn.execute("VACUUM (ANALYZE) custody_location")
    conn.execute("VACUUM (ANALYZE) custody_inmate")
    row = conn.execute(
        "SELECT (SELECT count(*) FROM custody_inmate), "
        "(SELECT count(*) FROM custody_location WHERE round_deadline_at IS NOT NULL), "
        "(SELECT count(*) FROM custody_inmate WHERE round_deadline_at IS NOT NULL)"
    ).fetchone()
    return {"people": row[0], "cells_watched": row[1], "people_on_own_level": row[2]}


def run_due() -> dict:
    from django.db import connection
    from django.utils import timezone

    from custody.models import Facility
    from custody.selectors.rounds import (
        inmates_round_overdue_query,
        locations_round_overdue_query,
    )

    facilities = list(Facility.objects.filter(code__startswith="F").order_by("code"))
    now = timezone.now()
    timings = {"locations": [], "inmates": []}
    found = Counter()
    for _ in range(2):  # the second sweep is what a warm worker sees
        for kind in timings:
            timings[kind].clear()
        for facility in facilities:
            for kind, query in (
                ("locations", locations_round_overdue_query),
                ("inmates", inmates_round_overdue_query),
            ):
                started = time.perf_counter()
                rows = list(query(facility=facility, deadline_before=now))
                timings[kind].append((time.perf_counter() - started) * 1000)
                found[kind] += len(rows)
    plans, server_ms, on_index = {}, {"locations": [], "inmates": []}, Counter()
    index = {"locations": "location_round_due", "inmates": "inmate_round_due"}
    for facility in facilities:
        for kind, query in (
            ("locations", locations_round_overdue_query),
            ("inmates", inmates_round_overdue_query),
        ):
            plan = query(facility=facility, deadline_before=now).explain(analyze=True)
            plans.setdefault(kind, plan.splitlines())
            on_index[kind] += index[kind] in plan
            line = next(ln for ln in plan.splitlines() if ln.startswith("Execution Time"))
            server_ms[kind].append(float(line.split(":")[1].split()[0]))
    connection.close()
    return {
        "server_ms": server_ms,
        "on_index": dict(on_index),
        "ms": timings,
        "found": {k: v // 2 for k, v in found.items()},
        "plans": plans,
        "facilities": len(facilities),
    }


# --- The report -----------------------------------------------------------------------


def _dist(values: list[float]) -> dict:
    return {
        "n": len(values),
        "p50": round(common.percentile(values, 50), 2),
        "p95": round(common.percentile(values, 95), 2),
        "p99": round(common.percentile(values, 99), 2),
        "max": round(max(values), 2),
    }


def build_report(args, storm, checks, due, watched) -> dict:
    answers = storm["answers"]
    batches = [a["ms"] for a in answers if not a["replay"]]
    uses = {kind: due["on_index"].get(kind, 0) == due["facilities"] for kind in due["ms"]}
    ms = {kind: _dist(values) for kind, values in due["ms"].items()}
    server = {kind: _dist(values) for kind, values in due["server_ms"].items()}
    checks_per_hour = checks["sent"] / storm["seconds"] * 3600
    report = {
        "benchmark": NAME,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": {
            "tablets": args.tablets,
            "cells": args.cells,
            "rounds": args.rounds,
            "people": watched["people"],
            "facilities": due["facilities"],
            "cpus": len(os.sched_getaffinity(0)),
        },
        "batch_ms": _dist(batches),
        "replay_ms": _dist([a["ms"] for a in answers if a["replay"]] or [0.0]),
        "seconds": round(storm["seconds"], 2),
        "checks_per_hour": round(checks_per_hour),
        "cpu": storm["cpu"],
        "stored": checks,
        "watched": watched,
        "due_ms": ms,
        "due_server_ms": server,
        "due_found": due["found"],
        "due_index": uses,
        "targets": {
            "batch_p99": common.percentile(batches, 99) < BATCH_TARGET_MS,
            "due_locations": server["locations"]["p99"] < DUE_TARGET_MS and uses["locations"],
            "due_inmates": server["inmates"]["p99"] < DUE_TARGET_MS and uses["inmates"],
        },
    }
    failures = []
    bad = [a["detail"] or "unexpected counts" for a in answers if not a["ok"]]
    if bad:
        failures.append(f"{len(bad)} answers not as expected: {bad[0]}")
    if checks["stored"] != checks["sent"] or checks["all_checks"] != checks["sent"]:
        failures.append(f"{checks['stored']} stored for {checks['sent']} sent")
    if checks["attention_alerts"] != checks["attention_sent"]:
        failures.append(
            f"{checks['attention_alerts']} round_attention alerts for "
            f"{checks['attention_sent']} reports"
        )
    if not checks["ledger_ok"]:
        failures.append("the ledger does not verify")
    report["failures"] = failures
    return report


def print_report(r: dict, due: dict) -> None:
    b, cfg = r["batch_ms"], r["config"]
    common.print_table(
        f"{cfg['tablets']} tablets x {cfg['rounds']} rounds of {cfg['cells']} cells "
        "(server time, in-process WSGI)",
        [
            (
                "batch of 40 checks",
                f"p50 {b['p50']} ms, p95 {b['p95']} ms, p99 {b['p99']} ms, "
                f"max {b['max']} ms (n={b['n']})",
            ),
            ("replayed batch", f"p50 {r['replay_ms']['p50']} ms, max {r['replay_ms']['max']} ms"),
            ("throughput", f"{r['checks_per_hour']:,} cell checks/hour ({r['seconds']} s)"),
            ("stored", json.dumps(r["stored"])),
            ("CPU", json.dumps({k: round(v, 2) for k, v in r["cpu"].items()})),
        ],
    )
    rows = []
    for kind in ("locations", "inmates"):
        d, e = r["due_ms"][kind], r["due_server_ms"][kind]
        rows.append(
            (
                f"{kind} overdue",
                f"round trip p50 {d['p50']} ms, p99 {d['p99']} ms; server p50 {e['p50']} ms, "
                f"p99 {e['p99']} ms, over {cfg['facilities']} facilities; "
                f"{r['due_found'][kind]} found; index "
                f"{'used in every one' if r['due_index'][kind] else 'NOT always used'}",
            )
        )
    rows.append(("watched", json.dumps(r["watched"])))
    common.print_table(f"missed_round's due queries, {cfg['people']:,} people", rows)
    for kind, plan in due["plans"].items():
        print(f"\nEXPLAIN ANALYZE ({kind}, first facility)")
        for line in plan:
            print("    " + line)
    t = r["targets"]
    common.print_targets(
        [
            common.Target(f"batch p99 < {BATCH_TARGET_MS} ms", t["batch_p99"], f"{b['p99']} ms"),
            common.Target(
                f"places due query < {DUE_TARGET_MS} ms (server), on its index",
                t["due_locations"],
                f"{r['due_server_ms']['locations']['p99']} ms",
            ),
            common.Target(
                f"people due query < {DUE_TARGET_MS} ms (server), on its index",
                t["due_inmates"],
                f"{r['due_server_ms']['inmates']['p99']} ms",
            ),
        ]
    )
    verdict = "FAILED: " + "; ".join(r["failures"]) if r["failures"] else "every check passed"
    print(f"\nChecks: {verdict}")


if __name__ == "__main__":
    sys.exit(main())
