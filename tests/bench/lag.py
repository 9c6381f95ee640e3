"""Detection lag, end to end: from a deadline passing to its alert in the database.

What is measured
    The whole service as the Procfile runs it: gunicorn (2 workers), a Celery
    worker (``--concurrency 2``) and Celery beat ticking ``alerts.reconcile_all``
    every ``RECONCILE_EVERY_SECONDS`` (15 s by default, ``--period``), against
    PostgreSQL and a Redis database of its own (``BENCH_LAG_REDIS_URL``,
    default ``redis://127.0.0.1:6379/11``, flushed at the start). 10
    facilities of 2,000 people (``tests/bench/population.py``), nobody due,
    each facility's state row saying it was reconciled just before the
    processes start (as after a restart; a facility never reconciled two
    periods after its creation rightly gets a ``reconciler_stale`` alert).

    Once every facility has had its first pass (start-up is not measured),
    the readers send a heartbeat through the API and 200 people in custody,
    spread over the facilities, get deadlines (``next_due_at + grace``) at
    even steps from ``--lead`` seconds ahead over the next ``--window``
    seconds, written straight into ``custody_inmate`` (a check-in batch
    writes the same columns). Everyone else stays due in 10 minutes or more.

    This process then reads ``alerts_alert`` every 200 ms and notes when each
    alert is first seen. For each of the 200 people:

    ``visible lag`` = first seen - deadline: what a supervisor's screen can
    show at best (the poll's 200 ms included). ``opened lag`` = ``opened_at``
    - deadline: ``opened_at`` is the ``now`` of the pass that found it, so
    this is the wait for the next tick; visible - opened is the pass itself
    and its commit.

    A deadline is caught by the first pass that starts after it, so the
    lag is about uniform over one period plus the time a pass takes to start
    and finish.

Checks (exit 1 whatever ``--strict`` says)
    exactly one ``missed_checkin`` per target, with ``due_at`` = the
    ``next_due_at`` written, none before its deadline, no other alert of any
    kind (no ``device_offline``, no ``reconciler_stale``), every heartbeat
    answered 200, ``/healthz`` 200 at the end.

Target
    p99 visible lag <= period + 2 s.

Run ``python -m tests.bench.lag`` (``--help``); about 5 minutes. Its own
database, dropped and recreated (``BENCH_DATABASE_URL``, default
``custody_bench_lag``). The processes' logs are in ``var/bench/lag-*.log``;
they are stopped at the end, on error and on Ctrl-C. Prints a table and one
JSON line, also written to ``var/bench/lag.json``.
"""

import argparse
import http.client
import json
import math
import os
import random
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

from tests.bench import common, population

NAME = "lag"
DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/custody_bench_lag"
)
REDIS_URL = os.environ.get("BENCH_LAG_REDIS_URL", "redis://127.0.0.1:6379/11")
POLL = 0.2  # seconds between reads of alerts_alert
HEARTBEAT_EVERY = 120  # seconds; a reader is offline after 600 s of silence
TARGET_SLACK = 2.0  # p99 visible lag <= period + this


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench.lag",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--facilities", type=int, default=10, help="facilities (10)")
    add("--inmates", type=int, default=20_000, help="people, spread evenly (20000)")
    add("--alerts", type=int, default=200, help="people whose deadline passes (200)")
    add("--period", type=int, default=15, help="RECONCILE_EVERY_SECONDS (15)")
    add("--lead", type=float, default=20, help="seconds from arming to the first deadline (20)")
    add("--window", type=float, default=150, help="seconds the deadlines spread over (150)")
    add("--concurrency", type=int, default=2, help="Celery worker processes (2)")
    add("--web-workers", type=int, default=2, help="gunicorn workers (2)")
    add("--timeout", type=float, default=None, help="give up after (lead + window + 4 periods)")
    add("--database-url", default=DATABASE_URL, help="benchmark database, recreated")
    add("--settle", type=float, default=30, help="seconds to wait for a quiet machine (30)")
    add("--strict", action="store_true", help="exit 1 when the target is missed too")
    args = parser.parse_args(argv)
    if args.timeout is None:
        args.timeout = args.lead + args.window + 4 * args.period + 30
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    url = args.database_url
    per = args.inmates // args.facilities
    pop = population.Population(
        facilities=args.facilities,
        per_facility=per,
        recent=max(1, per // 200),
        out=max(1, per // 400),
        transit=max(1, per // 400) if args.facilities > 1 else 0,
    )
    secret = secrets.token_hex(6)

    common.log(f"recreating and migrating {url}; flushing {REDIS_URL}")
    common.recreate_database(url)
    _redis().flushdb()
    with common.pg_connect(url, autocommit=True) as conn:
        seeded = population.seed(conn, pop, now=datetime.now(UTC), secret=secret)
        common.log(f"seeded: {seeded}")
        idle = common.wait_quiet(args.settle)
        # As after a restart: every facility was reconciled a moment ago.
        # Otherwise a facility created (seeded) more than two periods before
        # its first pass rightly opens reconciler_stale (invariant 8).
        conn.execute(
            "INSERT INTO alerts_reconcilerstate (facility_id, last_pass_at) "
            "SELECT id, now() FROM custody_facility"
        )
    common.log(f"machine {idle:.0%} busy; starting gunicorn, celery worker and beat")

    env = {
        "REDIS_URL": REDIS_URL,
        "RECONCILE_EVERY_SECONDS": str(args.period),
        # Alerts notify their facility's channel; delivered in memory.
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
    }
    processes: list[Process] = []
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        processes.append(start_celery("worker", url, env, args))
        processes.append(start_celery("beat", url, env, args))
        server = common.start_gunicorn(
            database_url=url, workers=args.web_workers, name=NAME, extra_env=env
        )
        processes.append(Process("gunicorn", server.process, server.log_path))
        with common.pg_connect(url, autocommit=True) as conn:
            first_pass = wait_first_passes(conn, processes, timeout=4 * args.period + 60)
            common.log(f"every facility reconciled {first_pass:.1f} s after start; arming")
            keys = device_keys(conn, secret)
            beats = heartbeat(server.port, keys)
            targets = arm(conn, args, pop)
            cpu_before = _cpu(processes)
            seen, passes = watch(conn, args, targets, processes, server.port, keys, beats)
            cpu = _cpu_split(cpu_before, _cpu(processes))
            health = healthz(server.port)
            alerts = dict(
                conn.execute("SELECT kind, count(*) FROM alerts_alert GROUP BY kind").fetchall()
            )
            delivered = conn.execute(
                "SELECT status, count(*) FROM alerts_notification GROUP BY status"
            ).fetchall()
    finally:
        for process in reversed(processes):
            process.stop()
        signal.signal(signal.SIGTERM, previous)
        _remove_schedule()

    report = build_report(
        args, seeded, targets, seen, passes, health, alerts, dict(delivered), beats, cpu, idle
    )
    print_report(report)
    common.write_report(NAME, report)
    if report["failures"]:
        print("\nFAILED: " + "; ".join(report["failures"]), file=sys.stderr)
        return 1
    return 1 if args.strict and not all(report["targets"].values()) else 0


def _terminate(signum, frame):
    raise SystemExit(128 + signum)  # runs the finally that stops the processes


def _redis():
    import redis

    return redis.Redis.from_url(REDIS_URL)


# --- The processes --------------------------------------------------------------


@dataclass
class Process:
    name: str
    process: subprocess.Popen
    log_path: Path
    group: bool = False  # leads its own process group (started in a new session)

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM (celery: warm shutdown, finishing running tasks), then
        SIGKILL to the process group it leads (its pool children) if needed."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                if self.group:
                    os.killpg(self.process.pid, signal.SIGKILL)
                else:
                    self.process.kill()
                self.process.wait()
        common.log(f"{self.name} stopped (exit {self.process.returncode})")

    def check(self) -> None:
        if self.process.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise SystemExit(f"{self.name} exited {self.process.returncode}\n{tail}")


SCHEDULE = common.REPORT_DIR / "lag-celerybeat-schedule"


def _remove_schedule() -> None:
    for path in common.REPORT_DIR.glob(SCHEDULE.name + "*"):
        path.unlink(missing_ok=True)


def start_celery(kind: str, url: str, env: dict, args) -> Process:
    """``celery -A config worker|beat`` as in the Procfile, in its own session
    (its own process group, so it can be stopped whole) and logging to
    ``var/bench/lag-<kind>.log``."""
    common.REPORT_DIR.mkdir(parents=True, exist_ok=True)
    cmd = [str(common.BIN / "celery"), "-A", "config", kind, "--loglevel", "INFO"]
    if kind == "worker":
        cmd += ["--concurrency", str(args.concurrency), "-n", f"lag-bench-{os.getpid()}@%h"]
    else:
        _remove_schedule()  # a fresh schedule, away from the one `make run` uses
        cmd += ["--schedule", str(SCHEDULE)]
    log_path = common.REPORT_DIR / f"{NAME}-{kind}.log"
    with open(log_path, "wb") as out:
        process = subprocess.Popen(
            cmd,
            cwd=common.REPO,
            env=common.service_env(url, env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Process(f"celery {kind}", process, log_path, group=True)


def wait_first_passes(conn, processes: list[Process], timeout: float) -> float:
    """Until every facility has a pass that started after now."""
    started = time.monotonic()
    since = datetime.now(UTC)
    while time.monotonic() - started < timeout:
        for process in processes:
            process.check()
        missing = conn.execute(
            "SELECT count(*) FROM custody_facility f LEFT JOIN alerts_reconcilerstate s "
            "ON s.facility_id = f.id WHERE s.last_pass_at IS NULL OR s.last_pass_at < %s",
            [since],
        ).fetchone()[0]
        if not missing:
            return time.monotonic() - started
        time.sleep(0.5)
    raise SystemExit(f"not every facility was reconciled within {timeout:.0f} s")


# --- Devices ------------------------------------------------------------------


def device_keys(conn, secret: str) -> list[str]:
    rows = conn.execute(
        "SELECT f.code, d.name FROM custody_device d JOIN custody_facility f "
        "ON f.id = d.facility_id ORDER BY f.code, d.name"
    ).fetchall()
    return [population.device_key(secret, code, name) for code, name in rows]


def heartbeat(port: int, keys: list[str]) -> dict:
    """Each reader says it is alive, through the API (a silent reader would
    open ``device_offline`` after 10 minutes)."""
    statuses: dict[int, int] = {}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for key in keys:
        try:
            conn.request(
                "POST",
                "/api/v1/devices/heartbeat/",
                body=b"{}",
                headers={"Authorization": f"Token {key}", "Content-Type": "application/json"},
            )
            response = conn.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            conn.close()
            status = 0
        statuses[status] = statuses.get(status, 0) + 1
    conn.close()
    return statuses


# --- The deadlines ------------------------------------------------------------


@dataclass
class Target:
    inmate_id: int
    facility_id: int
    next_due_at: datetime
    deadline: datetime


def arm(conn, args, pop) -> dict[int, Target]:
    """Gives ``args.alerts`` people, as evenly spread over the facilities as
    the numbers allow, deadlines at even steps over the window."""
    per_facility = math.ceil(args.alerts / pop.facilities)
    rows = conn.execute(
        """
        SELECT id, facility_id, security_level FROM (
            SELECT id, facility_id, security_level,
                   row_number() OVER (PARTITION BY facility_id ORDER BY random()) AS n
            FROM custody_inmate
            WHERE status = 'in_custody' AND next_due_at > now() + interval '10 minutes'
        ) chosen
        WHERE n <= %s
        ORDER BY n, facility_id
        LIMIT %s
        """,
        [per_facility, args.alerts],
    ).fetchall()
    if len(rows) < args.alerts:
        raise SystemExit(f"only {len(rows)} people to arm, {args.alerts} asked")
    random.Random(7).shuffle(rows)
    grace = timedelta(seconds=population.GRACE_SECONDS)
    armed_at = datetime.now(UTC)
    step = args.window / args.alerts
    targets = {}
    for k, (inmate_id, facility_id, level) in enumerate(rows):
        deadline = armed_at + timedelta(seconds=args.lead + (k + 0.5) * step)
        targets[inmate_id] = Target(inmate_id, facility_id, deadline - grace, deadline)
    conn.execute(
        """
        UPDATE custody_inmate i
        SET next_due_at = v.due,
            last_seen_at = v.due - make_interval(secs => (%s::jsonb ->> i.security_level)::int),
            updated_at = now()
        FROM unnest(%s::bigint[], %s::timestamptz[]) AS v (id, due)
        WHERE i.id = v.id
        """,
        [
            json.dumps(population.INTERVALS),
            [t.inmate_id for t in targets.values()],
            [t.next_due_at for t in targets.values()],
        ],
    )
    first = min(t.deadline for t in targets.values())
    last = max(t.deadline for t in targets.values())
    common.log(
        f"{len(targets)} deadlines from {first:%H:%M:%S} to {last:%H:%M:%S} "
        f"over {len({t.facility_id for t in targets.values()})} facilities"
    )
    return targets


# --- Watching -------------------------------------------------------------------


@dataclass
class Seen:
    alert_id: int
    kind: str
    inmate_id: int | None
    due_at: datetime | None
    opened_at: datetime
    first_seen: datetime


def watch(conn, args, targets, processes, port, keys, beats: dict):
    """Reads new alerts and the reconciler's state rows every ``POLL``
    seconds until every target has its alert, or the timeout; the readers'
    heartbeats go on (their answers counted in ``beats``)."""
    seen: dict[int, Seen] = {}
    passes: dict[tuple, float] = {}  # (facility, last_pass_at) -> last_pass_ms
    last_id, last_beat = 0, time.monotonic()
    deadline = time.monotonic() + args.timeout
    pending = set(targets)
    next_log = time.monotonic() + 30
    while pending and time.monotonic() < deadline:
        polled_at = datetime.now(UTC)  # the snapshot is taken as the query starts
        for alert_id, kind, inmate_id, due_at, opened_at in conn.execute(
            "SELECT id, kind, inmate_id, due_at, opened_at FROM alerts_alert "
            "WHERE id > %s ORDER BY id",
            [last_id],
        ):
            seen[alert_id] = Seen(alert_id, kind, inmate_id, due_at, opened_at, polled_at)
            last_id = max(last_id, alert_id)
            if kind == "missed_checkin":
                pending.discard(inmate_id)
        for facility_id, last_pass_at, last_pass_ms in conn.execute(
            "SELECT facility_id, last_pass_at, last_pass_ms FROM alerts_reconcilerstate"
        ):
            passes[(facility_id, last_pass_at)] = last_pass_ms
        if time.monotonic() - last_beat > HEARTBEAT_EVERY:
            for status, n in heartbeat(port, keys).items():
                beats[status] = beats.get(status, 0) + n
            last_beat = time.monotonic()
        if time.monotonic() > next_log:
            common.log(f"{len(targets) - len(pending)} of {len(targets)} alerts seen")
            next_log += 30
        for process in processes:
            process.check()
        time.sleep(max(0.0, POLL - (datetime.now(UTC) - polled_at).total_seconds()))
    common.log(f"{len(targets) - len(pending)} of {len(targets)} alerts seen; stopping")
    return seen, passes


def healthz(port: int) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/healthz")
        response = conn.getresponse()
        return {"status": response.status, **json.loads(response.read() or b"{}")}
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return {"status": 0, "error": repr(exc)}
    finally:
        conn.close()


def _cpu(processes: list[Process]) -> dict:
    """CPU seconds so far of the machine, the celery worker (and its pool),
    gunicorn and PostgreSQL."""
    by_name = {p.name: p.process.pid for p in processes}
    worker = common.cpu_sample(by_name["celery worker"])
    web = common.cpu_sample(by_name["gunicorn"])
    return {"worker": worker, "web": web}


def _cpu_split(before: dict, after: dict) -> dict:
    worker = common.cpu_split(before["worker"], after["worker"])
    web = common.cpu_split(before["web"], after["web"])
    total = after["worker"].total - before["worker"].total or 1.0
    shares = {
        "machine_busy": worker["machine_busy"],
        "celery_worker": worker["gunicorn"],  # cpu_split names its "server" gunicorn
        "gunicorn": web["gunicorn"],
        "postgres": worker["postgres"],
        "watcher": round((after["worker"].client - before["worker"].client) / total, 3),
    }
    shares["other"] = round(
        max(0.0, shares["machine_busy"] - sum(v for k, v in shares.items() if k != "machine_busy")),
        3,
    )
    return shares


# --- The report -----------------------------------------------------------------


def _dist(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "min": round(min(values), 3),
        "p50": round(common.percentile(values, 50), 3),
        "p95": round(common.percentile(values, 95), 3),
        "p99": round(common.percentile(values, 99), 3),
        "max": round(max(values), 3),
    }


def _pass_figures(passes: dict, since: datetime) -> dict:
    """Pass durations and the gaps between passes of one facility, from the
    state rows seen while watching."""
    by_facility: dict[int, list] = {}
    for (facility_id, at), ms in passes.items():
        if at is not None and at >= since:
            by_facility.setdefault(facility_id, []).append((at, ms))
    durations, gaps = [], []
    for rows in by_facility.values():
        rows.sort()
        durations += [ms for _, ms in rows if ms is not None]
        gaps += [(b[0] - a[0]).total_seconds() for a, b in pairwise(rows)]
    return {"pass_ms": _dist(durations), "seconds_between_passes": _dist(gaps)}


def build_report(args, seeded, targets, seen, passes, health, alerts, delivered, beats, cpu, idle):
    failures = []
    visible, opened, pass_share = [], [], []
    by_inmate = {}
    for s in seen.values():
        if s.kind == "missed_checkin" and s.inmate_id in targets:
            if s.inmate_id in by_inmate:
                failures.append(f"two missed_checkin alerts for inmate {s.inmate_id}")
            by_inmate[s.inmate_id] = s
    for inmate_id, target in targets.items():
        s = by_inmate.get(inmate_id)
        if s is None:
            continue
        if s.due_at != target.next_due_at:
            failures.append(f"inmate {inmate_id}: due_at {s.due_at} != {target.next_due_at}")
        visible.append((s.first_seen - target.deadline).total_seconds())
        opened.append((s.opened_at - target.deadline).total_seconds())
        pass_share.append((s.first_seen - s.opened_at).total_seconds())
    missing = len(targets) - len(by_inmate)
    if missing:
        failures.append(f"{missing} of {len(targets)} alerts not seen within {args.timeout:.0f} s")
    if opened and min(opened) <= 0:
        failures.append(f"an alert opened before its deadline ({min(opened):.3f} s)")
    others = len(seen) - len(by_inmate)
    if others:
        failures.append(f"{others} alerts besides the targets' ({alerts})")
    if set(beats) != {200}:
        failures.append(f"heartbeats answered {beats} (HTTP status: count)")
    if health.get("status") != 200:
        failures.append(f"/healthz at the end: {health}")
    visible_d = _dist(visible)
    limit = args.period + TARGET_SLACK
    since = min(t.deadline for t in targets.values()) - timedelta(seconds=args.lead)
    return {
        "benchmark": NAME,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": {
            "facilities": args.facilities,
            "inmates": args.inmates,
            "alerts": args.alerts,
            "period_s": args.period,
            "lead_s": args.lead,
            "window_s": args.window,
            "worker_concurrency": args.concurrency,
            "gunicorn_workers": args.web_workers,
            "poll_s": POLL,
            "cpus": len(os.sched_getaffinity(0)),
        },
        "seeded": seeded,
        "visible_lag_s": visible_d,
        "opened_lag_s": _dist(opened),
        "visible_minus_opened_s": _dist(pass_share),
        **_pass_figures(passes, since),
        "alerts": alerts,
        "notifications": delivered,
        "heartbeats": {str(k): v for k, v in beats.items()},
        "healthz": health,
        "cpu": cpu,
        "machine_busy_before": round(idle, 3),
        "targets": {"p99": bool(visible) and not missing and visible_d["p99"] <= limit},
        "failures": failures,
    }


def _line(d: dict) -> str:
    if not d.get("n"):
        return "none"
    return (
        f"p50 {d['p50']:.2f} s, p95 {d['p95']:.2f} s, p99 {d['p99']:.2f} s, "
        f"max {d['max']:.2f} s (min {d['min']:.2f} s, n={d['n']})"
    )


def print_report(r: dict) -> None:
    cfg, cpu = r["config"], r["cpu"]
    passes, gaps = r["pass_ms"], r["seconds_between_passes"]
    common.print_table(
        "Detection lag (deadline -> alert)",
        [
            ("visible lag (first seen)", _line(r["visible_lag_s"])),
            ("opened lag (opened_at)", _line(r["opened_lag_s"])),
            ("visible - opened_at", _line(r["visible_minus_opened_s"])),
            (
                "pass duration",
                f"p50 {passes.get('p50', 0):.0f} ms, p99 {passes.get('p99', 0):.0f} ms, "
                f"max {passes.get('max', 0):.0f} ms (n={passes.get('n', 0)})"
                if passes.get("n")
                else "none",
            ),
            (
                "between passes",
                f"p50 {gaps['p50']:.2f} s, max {gaps['max']:.2f} s" if gaps.get("n") else "none",
            ),
            ("alerts by kind", str(r["alerts"])),
            ("notifications", str(r["notifications"])),
            ("heartbeats (HTTP status: n)", str(r["heartbeats"])),
            ("/healthz at the end", f"{r['healthz'].get('status')} {r['healthz']}"),
            (
                "CPU while watching",
                f"machine {cpu['machine_busy']:.0%} busy: worker {cpu['celery_worker']:.0%}, "
                f"postgres {cpu['postgres']:.0%}, gunicorn {cpu['gunicorn']:.0%}, "
                f"watcher {cpu['watcher']:.0%}, other {cpu['other']:.0%}",
            ),
            (
                "config",
                f"{cfg['facilities']} facilities, {cfg['inmates']:,} people, "
                f"{cfg['alerts']} deadlines over {cfg['window_s']:g} s, period "
                f"{cfg['period_s']} s, {cfg['worker_concurrency']} worker processes, "
                f"{cfg['cpus']} CPUs",
            ),
        ],
    )
    limit = cfg["period_s"] + TARGET_SLACK
    p99 = r["visible_lag_s"].get("p99")
    common.print_targets(
        [
            common.Target(
                f"p99 visible lag <= period + {TARGET_SLACK:g} s ({limit:g} s)",
                r["targets"]["p99"],
                f"{p99:.2f} s" if p99 is not None else "no alerts",
            )
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
