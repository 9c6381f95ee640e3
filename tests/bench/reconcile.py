"""The reconciler at national scale: what one pass over every facility costs.

What is measured
    200,000 people in 100 facilities (``tests/bench/population.py``: built
    in SQL, every row as the services would write it, one or two check-ins
    each, a reader per housing unit with a fresh heartbeat, a few people at
    court or in transit, an e-mail channel per facility). 1% of the people in
    custody are past ``next_due_at + grace``, the same number in each
    facility; nobody else is due for ten minutes. A handful of check-ins per
    facility arrived since the previous pass (the state rows say so), as a
    15-second period brings at this scale.

    Then ``alerts.services.reconcile_facility(facility=f, now=now)`` runs for
    every facility in turn, in one process (as one worker would run the
    fan-out), with one ``now`` for the whole pass. For each facility: wall
    time, database time (every statement's ``execute``, timed by a
    ``connection.execute_wrapper``, plus the COMMIT: the round trip, the
    server's work and psycopg reading the rows) and statements issued; for
    the whole pass also the CPU the PostgreSQL backend itself spent (its
    ``/proc`` entry: parsing, planning, executing), and the statements that
    cost the most, grouped by shape.

    ``first`` pass: opens one ``missed_checkin`` per due person, with its
    notification rows and ledger events. ``steady`` pass right after: the
    same people are still due but already alerted, nothing new: what every
    tick costs on a quiet day.

    A warm-up pass of one facility runs first and is rolled back (a worker
    is a long-lived process; its first call pays for imports and caches).

    The rules kept in modules of their own (``identity_unverified``,
    ``unit_silent``: ``alerts.services.reconcile.EVIDENCE_RULES``) are timed
    apart as well: their database time and statements per pass. Everyone's
    last sighting is a fingerprint, so nobody is unproven; each unit's reader
    answers and its people are scanned, so no unit is silent; with 1% due,
    ``unit_silent`` looks at each unit's recent check-ins every pass (its
    costliest case short of a real silence).

Checks (exit 1 whatever ``--strict`` says)
    alerts opened by the first pass = people due, per facility and in total,
    all ``missed_checkin``; the steady pass opens none; the plans of the
    ``missed_checkin`` and ``identity_unverified`` queries (EXPLAIN ANALYZE of
    the very statements the pass sent) use the indexes
    ``inmate_due_per_facility`` and ``inmate_identity_due``.

Target
    the database time of a whole pass over 100 facilities < 1 s.

Run ``python -m tests.bench.reconcile`` (``--help``). Its own database,
dropped and recreated: ``BENCH_DATABASE_URL``, default
``custody_bench_reconcile``. Prints a table and one JSON line, also written to
``var/bench/reconcile.json``.
"""

import argparse
import os
import re
import sys
import time
from datetime import UTC, datetime, timedelta

from tests.bench import common, population

NAME = "reconcile"
DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/custody_bench_reconcile"
)
# Passes write notification rows and, on commit, wake the delivery task: a
# Redis database of the benchmarks' own, nobody consumes it (lag flushes it).
REDIS_URL = os.environ.get("BENCH_LAG_REDIS_URL", "redis://127.0.0.1:6379/11")
DUE_INDEX = "inmate_due_per_facility"
IDENTITY_INDEX = "inmate_identity_due"

TARGET_PASS_DB_S = 1.0  # database time of one pass over every facility
NOISE = 0.10


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench.reconcile",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--facilities", type=int, default=100, help="facilities (100)")
    add("--inmates", type=int, default=200_000, help="people, spread evenly (200000)")
    add("--due-share", type=float, default=0.01, help="share past their deadline (0.01)")
    add("--database-url", default=DATABASE_URL, help="benchmark database, recreated")
    add("--settle", type=float, default=30, help="seconds to wait for a quiet machine (30)")
    add("--strict", action="store_true", help="exit 1 when the target is missed too")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    url = args.database_url
    per = args.inmates // args.facilities
    due = round(per * args.due_share)
    pop = population.Population(
        facilities=args.facilities,
        per_facility=per,
        due=due,
        recent=max(1, per // 200),  # about what a 15 s period brings
        out=max(1, per // 400),
        transit=max(1, per // 400) if args.facilities > 1 else 0,
    )

    common.log(f"recreating and migrating {url}")
    common.recreate_database(url)
    now = datetime.now(UTC)
    common.log(
        f"seeding {pop.facilities} facilities x {pop.per_facility:,} people, {pop.due} due in each"
    )
    started = time.perf_counter()
    with common.pg_connect(url, autocommit=True) as conn:
        seeded = population.seed(conn, pop, now=now, secret="reconcile")
        seeded["seconds"] = round(time.perf_counter() - started, 1)
        expected = population.due_now(conn, datetime.now(UTC))
        # The previous pass ran a period ago; the recent check-ins came after it.
        conn.execute(
            "INSERT INTO alerts_reconcilerstate (facility_id, last_pass_at, checkins_read_until) "
            "SELECT id, %s, %s FROM custody_facility",
            [now - timedelta(seconds=15), now - timedelta(seconds=65)],
        )
        conn.execute("CHECKPOINT")
        common.log(f"seeded in {seeded['seconds']} s: {seeded}")
        idle = common.wait_quiet(args.settle)
        common.log(f"passes (machine {idle:.0%} busy just before)")
        passes = common.django_call(
            url, "tests.bench.reconcile:run_passes", extra_env={"REDIS_URL": REDIS_URL}
        )
        alerts = dict(
            conn.execute("SELECT kind, count(*) FROM alerts_alert GROUP BY kind").fetchall()
        )
        ledger = conn.execute(
            "SELECT count(*) FROM custody_ledgerevent WHERE action = 'alert.opened'"
        ).fetchone()[0]
        notifications = conn.execute("SELECT count(*) FROM alerts_notification").fetchone()[0]
    _flush_redis()

    report = build_report(args, pop, seeded, expected, passes, alerts, ledger, notifications)
    report["machine_busy_before"] = round(idle, 3)
    report["noisy"] = report["cpu"]["other"] > NOISE
    print_report(report, passes["explain"])
    print("\nEXPLAIN of the identity_unverified query (first facility, first pass)")
    for line in passes["explain_identity"]["plan"]:
        print("    " + line)
    common.write_report(NAME, report)
    if report["failures"]:
        print("\nFAILED: " + "; ".join(report["failures"]), file=sys.stderr)
        return 1
    return 1 if args.strict and not all(report["targets"].values()) else 0


def _flush_redis() -> None:
    try:
        import redis

        redis.Redis.from_url(REDIS_URL).flushdb()
    except Exception as exc:  # a leftover wake-up task expires by itself
        common.log(f"could not flush {REDIS_URL}: {exc}")


# --- The passes (under Django, in a subprocess) -------------------------------


class DbClock:
    """Sums the time spent in the database: each statement's execute (psycopg
    fetches the whole result there) and each COMMIT."""

    def __init__(self):
        self.seconds = 0.0
        self.statements = 0
        self.by_sql: dict[str, list] = {}
        self.keep: list | None = None  # (sql, params) of every statement, when set

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self._add(time.perf_counter() - started, sql)
            if self.keep is not None:
                self.keep.append((sql, params))

    def _add(self, seconds: float, sql: str) -> None:
        self.seconds += seconds
        self.statements += 1
        entry = self.by_sql.setdefault(_shape(sql), [0, 0.0])
        entry[0] += 1
        entry[1] += seconds

    def wrap_commit(self, connection) -> None:
        commit = connection._commit

        def timed_commit():
            started = time.perf_counter()
            try:
                return commit()
            finally:
                self._add(time.perf_counter() - started, "COMMIT")

        connection._commit = timed_commit


def _shape(sql: str) -> str:
    """The statement with its lists of placeholders folded, to group by."""
    sql = re.sub(r'SAVEPOINT "[^"]+"', "SAVEPOINT ...", sql)
    sql = re.sub(r"\(%s(?:, %s)*\)(?:, \(%s(?:, %s)*\))*", "(...)", sql)
    return re.sub(r"%s(?:, %s)+", "%s, ...", sql)


class RuleClock:
    """The database time and statements spent inside some rules (their
    ``find`` and ``cleared``), summed per pass."""

    def __init__(self, clock: DbClock, rules):
        self.totals: dict[str, list] = {}
        for rule in rules:
            for method in ("find", "cleared"):
                setattr(rule, method, self._timed(clock, str(rule.kind), getattr(rule, method)))

    def _timed(self, clock: DbClock, kind: str, call):
        def timed(*args, **kwargs):
            seconds, statements = clock.seconds, clock.statements
            try:
                return call(*args, **kwargs)
            finally:
                entry = self.totals.setdefault(kind, [0.0, 0])
                entry[0] += clock.seconds - seconds
                entry[1] += clock.statements - statements

        return timed

    def take(self) -> dict:
        totals, self.totals = self.totals, {}
        return {k: {"db_ms": round(s * 1000, 1), "statements": n} for k, (s, n) in totals.items()}


def run_passes() -> dict:
    from django.db import connection, transaction
    from django.utils import timezone

    from alerts.services import reconcile_facility
    from alerts.services.reconcile import EVIDENCE_RULES
    from custody.models import Facility

    facilities = list(Facility.objects.order_by("code"))
    connection.ensure_connection()
    with transaction.atomic():  # warm-up, undone
        reconcile_facility(facility=facilities[-1], now=timezone.now())
        transaction.set_rollback(True)

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    clock = DbClock()
    clock.wrap_commit(connection)
    rules = RuleClock(clock, EVIDENCE_RULES)
    result = {}
    cpu_before = common.cpu_sample(None)
    with connection.execute_wrapper(clock):
        for name in ("first", "steady"):
            backend_before = _process_cpu(backend)
            result[name] = _one_pass(facilities, clock, reconcile_facility, timezone.now())
            result[name]["new_rules"] = rules.take()
            backend_after = _process_cpu(backend)
            if backend_before is not None and backend_after is not None:
                result[name]["backend_cpu_ms"] = round((backend_after - backend_before) * 1000)
    # "client" is this process: the reconciler's Python.
    result["cpu"] = common.cpu_split(cpu_before, common.cpu_sample(None))
    kept = result["first"].pop("kept")
    result["explain"] = _explain(connection, kept)
    result["explain_identity"] = _explain(
        connection, kept, marker='COALESCE("custody_inmate"."identity_verified_at"'
    )
    result["steady"].pop("kept")
    return result


def _process_cpu(pid: int) -> float | None:
    """CPU seconds of a process on this machine (the pass's PostgreSQL
    backend: what the server itself spent, planning included); None when
    the server is elsewhere."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _one_pass(facilities, clock: DbClock, reconcile_facility, now) -> dict:
    rows, clock.by_sql = [], {}
    started = time.perf_counter()
    for index, facility in enumerate(facilities):
        clock.keep = [] if index == 0 else None
        db_before, statements_before = clock.seconds, clock.statements
        t0 = time.perf_counter()
        report = reconcile_facility(facility=facility, now=now)
        wall = time.perf_counter() - t0
        rows.append(
            {
                "facility": facility.code,
                "wall_ms": wall * 1000,
                "db_ms": (clock.seconds - db_before) * 1000,
                "statements": clock.statements - statements_before,
                "opened": len(report.opened),
                "resolved": len(report.resolved),
                "escalated": len(report.escalated),
                "skipped": report.skipped,
            }
        )
        if index == 0:
            kept = clock.keep
    clock.keep = None
    top = sorted(clock.by_sql.items(), key=lambda item: -item[1][1])
    return {
        "now": now.isoformat(),
        "seconds": time.perf_counter() - started,
        "facilities": rows,
        "top_statements": [
            {"sql": sql[:160], "count": n, "ms": round(s * 1000, 1)} for sql, (n, s) in top
        ],
        "kept": kept,
    }


def _explain(connection, statements: list, marker: str = '"next_due_at" <') -> dict:
    """EXPLAIN ANALYZE of the ``missed_checkin`` statement (or the one with
    ``marker``) the first pass sent for its first facility (the rule's
    query, as Django wrote it)."""
    for sql, params in statements:
        if sql.lstrip().startswith("SELECT") and 'FROM "custody_inmate"' in sql and marker in sql:
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
                plan = [row[0] for row in cursor.fetchall()]
            return {"sql": sql, "plan": plan}
    return {"sql": None, "plan": []}


# --- The report -----------------------------------------------------------------


def _summary(rows: list[dict], key: str) -> dict:
    values = [r[key] for r in rows]
    return {
        "total": round(sum(values), 1),
        "p50": round(common.percentile(values, 50), 2),
        "p99": round(common.percentile(values, 99), 2),
        "max": round(max(values), 2),
    }


def build_report(args, pop, seeded, expected, passes, alerts, ledger, notifications) -> dict:
    first, steady = passes["first"]["facilities"], passes["steady"]["facilities"]
    opened = sum(r["opened"] for r in first)
    plan = "\n".join(passes["explain"]["plan"])
    failures = []
    if expected != pop.due * pop.facilities:
        failures.append(f"{expected} people due after seeding, expected {pop.due * pop.facilities}")
    if opened != expected or alerts.get("missed_checkin", 0) != expected:
        failures.append(f"first pass opened {opened} ({alerts}), {expected} people were due")
    if any(r["opened"] != pop.due for r in first):
        failures.append("some facility opened other than its due count")
    if sum(alerts.values()) != alerts.get("missed_checkin", 0):
        failures.append(f"alerts other than missed_checkin: {alerts}")
    if any(r["opened"] or r["resolved"] for r in steady):
        failures.append("the steady pass opened or resolved alerts")
    if any(r["skipped"] for r in first + steady):
        failures.append("a pass was skipped (state row locked)")
    if DUE_INDEX not in plan:
        failures.append(f"the missed_checkin query does not use {DUE_INDEX}")
    identity_plan = "\n".join(passes["explain_identity"]["plan"])
    if IDENTITY_INDEX not in identity_plan:
        failures.append(f"the identity_unverified query does not use {IDENTITY_INDEX}")
    first_db, steady_db = _summary(first, "db_ms"), _summary(steady, "db_ms")
    return {
        "benchmark": NAME,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": {
            "facilities": pop.facilities,
            "inmates": pop.facilities * pop.per_facility,
            "due_per_facility": pop.due,
            "new_checkins_per_facility": pop.recent,
            "cpus": len(os.sched_getaffinity(0)),
        },
        "seeded": seeded,
        "first": {
            "db_ms": first_db,
            "wall_ms": _summary(first, "wall_ms"),
            "statements_per_facility": _summary(first, "statements"),
            "backend_cpu_ms": passes["first"].get("backend_cpu_ms"),
            "opened": opened,
            "due": expected,
            "new_rules": passes["first"]["new_rules"],
            "top_statements": passes["first"]["top_statements"],
        },
        "steady": {
            "db_ms": steady_db,
            "wall_ms": _summary(steady, "wall_ms"),
            "statements_per_facility": _summary(steady, "statements"),
            "backend_cpu_ms": passes["steady"].get("backend_cpu_ms"),
            "opened": sum(r["opened"] for r in steady),
            "new_rules": passes["steady"]["new_rules"],
            "top_statements": passes["steady"]["top_statements"],
        },
        "db": {
            "alerts": alerts,
            "ledger_alert_events": ledger,
            "notifications": notifications,
        },
        "explain_uses_index": DUE_INDEX in plan,
        "explain_identity_uses_index": IDENTITY_INDEX in identity_plan,
        "cpu": passes["cpu"],
        "targets": {
            "first_pass_db": first_db["total"] < TARGET_PASS_DB_S * 1000,
            "steady_pass_db": steady_db["total"] < TARGET_PASS_DB_S * 1000,
        },
        "failures": failures,
    }


def print_report(r: dict, explain: dict) -> None:
    print("\nEXPLAIN of the missed_checkin query (first facility, first pass)")
    print("  " + re.sub(r"\s+", " ", explain["sql"] or "(not found)"))
    for line in explain["plan"]:
        print("    " + line)
    cfg = r["config"]
    rows = []
    for name in ("first", "steady"):
        p = r[name]
        rows += [
            (
                f"{name}: DB time, whole pass",
                f"{p['db_ms']['total']:.1f} ms (the PostgreSQL backend's CPU: "
                f"{p['backend_cpu_ms'] if p['backend_cpu_ms'] is not None else '?'} ms)",
            ),
            (f"{name}: DB per facility", _dist(p["db_ms"])),
            (
                f"{name}: wall per facility",
                _dist(p["wall_ms"]) + f", total {p['wall_ms']['total']:.0f} ms",
            ),
            (
                f"{name}: statements per facility",
                f"p50 {p['statements_per_facility']['p50']:.0f}, "
                f"max {p['statements_per_facility']['max']:.0f}",
            ),
            (
                f"{name}: new rules, whole pass",
                ", ".join(
                    f"{kind} {v['db_ms']:.1f} ms DB / {v['statements']} statements"
                    for kind, v in sorted(p["new_rules"].items())
                ),
            ),
        ]
    rows += [
        ("alerts opened (first)", f"{r['first']['opened']:,} of {r['first']['due']:,} due"),
        ("alerts opened (steady)", str(r["steady"]["opened"])),
        ("alerts by kind", str(r["db"]["alerts"])),
        (
            "ledger / notification rows",
            f"{r['db']['ledger_alert_events']:,} / {r['db']['notifications']:,}",
        ),
        ("due query uses index", f"{DUE_INDEX}: {'yes' if r['explain_uses_index'] else 'NO'}"),
        (
            "identity query uses index",
            f"{IDENTITY_INDEX}: {'yes' if r['explain_identity_uses_index'] else 'NO'}",
        ),
        ("CPU during passes", _cpu_text(r["cpu"])),
        (
            "config",
            f"{cfg['facilities']} facilities, {cfg['inmates']:,} people, "
            f"{cfg['due_per_facility']} due and {cfg['new_checkins_per_facility']} new check-ins "
            f"per facility, {cfg['cpus']} CPUs",
        ),
    ]
    common.print_table("Reconciliation pass", rows)
    for name in ("first", "steady"):
        print(f"\nCostliest statements, {name} pass (count, total ms)")
        for s in r[name]["top_statements"][:5]:
            print(f"  {s['count']:>5} {s['ms']:>8.1f}  {s['sql'][:110]}")
    t = r["targets"]
    common.print_targets(
        [
            common.Target(
                f"first pass DB < {TARGET_PASS_DB_S:g} s",
                t["first_pass_db"],
                f"{r['first']['db_ms']['total']:.0f} ms",
            ),
            common.Target(
                f"steady pass DB < {TARGET_PASS_DB_S:g} s",
                t["steady_pass_db"],
                f"{r['steady']['db_ms']['total']:.0f} ms",
            ),
        ]
    )
    if r["noisy"]:
        print(f"\nNOISY: {r['cpu']['other']:.0%} of the CPU went to other processes.")


def _dist(d: dict) -> str:
    return f"p50 {d['p50']:.2f} ms, p99 {d['p99']:.2f} ms, max {d['max']:.2f} ms"


def _cpu_text(cpu: dict) -> str:
    return (
        f"machine {cpu['machine_busy']:.0%} busy: reconciler {cpu['client']:.0%}, "
        f"postgres {cpu['postgres']:.0%}, other {cpu['other']:.0%}"
    )


if __name__ == "__main__":
    sys.exit(main())
