"""What every benchmark needs: its own database, the service under gunicorn,
percentiles, the target check and the report.

The benchmarks run the service as production does (gunicorn, ``DEBUG=0``,
PostgreSQL and Redis on this machine) against a database of their own,
``custody_bench`` by default, which each run drops and creates again. The
tests' database and the demo's are never touched.
"""

import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
REPORT_DIR = REPO / "var" / "bench"

DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/custody_bench"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")

# Settings of the server processes, as in production except the host and TLS
# (loopback, plain HTTP).
SERVICE_ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings",
    "DEBUG": "0",
    "SECRET_KEY": "bench-only-" + "x" * 50,
    "ALLOWED_HOSTS": "127.0.0.1",
    "SECURE_SSL_REDIRECT": "0",
    "LOG_LEVEL": "WARNING",
    "PYTHONUNBUFFERED": "1",
}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def service_env(database_url: str = DATABASE_URL, extra_env: dict | None = None) -> dict:
    """The server processes' environment; ``extra_env`` overrides (e.g. another
    ``REDIS_URL``, ``RECONCILE_EVERY_SECONDS``)."""
    env = dict(os.environ)
    env.update(SERVICE_ENV, DATABASE_URL=database_url, REDIS_URL=REDIS_URL)
    env.update(extra_env or {})
    return env


def pg_connect(database_url: str = DATABASE_URL, **kwargs) -> psycopg.Connection:
    return psycopg.connect(make_conninfo(database_url), **kwargs)


# --- The benchmark database -------------------------------------------------


def recreate_database(database_url: str = DATABASE_URL, settings: dict | None = None) -> None:
    """Drops and creates the benchmark database, then migrates it. ``settings``
    (``ALTER DATABASE ... SET``) apply to its sessions only, so one run can try
    e.g. ``synchronous_commit=off`` without touching the server's config."""
    name = conninfo_to_dict(make_conninfo(database_url))["dbname"]
    if name in ("postgres", "template0", "template1"):
        raise SystemExit(f"refusing to drop {name!r}: point BENCH_DATABASE_URL at a scratch one")
    admin = make_conninfo(database_url, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        ident = sql.Identifier(name)
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(ident))
        for setting, value in (settings or {}).items():
            conn.execute(
                sql.SQL("ALTER DATABASE {} SET {} = {}").format(
                    ident, sql.Identifier(setting), sql.Literal(value)
                )
            )
    manage(database_url, "migrate", "--noinput", "-v0")


def manage(database_url: str, *args: str) -> str:
    return _run([str(BIN / "python"), "manage.py", *args], service_env(database_url))


def django_call(database_url: str, target: str, *, extra_env: dict | None = None, **kwargs):
    """Runs ``module:function(**kwargs)`` under Django's settings in a
    subprocess and returns what it returns (JSON-serialisable). The benchmark
    process itself never imports Django: it only plays the clients."""
    module, function = target.split(":")
    code = (
        "import django, json, sys\n"
        "django.setup()\n"
        f"from {module} import {function} as f\n"
        "result = f(**json.loads(sys.argv[1]))\n"
        "print('\\n' + json.dumps(result))\n"
    )
    out = _run(
        [str(BIN / "python"), "-c", code, json.dumps(kwargs)], service_env(database_url, extra_env)
    )
    return json.loads(out.strip().splitlines()[-1])


def _run(cmd: list[str], env: dict) -> str:
    result = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(
            f"{' '.join(cmd[:3])} exited {result.returncode}\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result.stdout


def pg_settings(conn: psycopg.Connection, names: list[str]) -> dict[str, str]:
    """The settings in effect, in their display units (``SHOW``)."""
    return {name: conn.execute(f"SHOW {name}").fetchone()[0] for name in names}


def wal_lsn(conn: psycopg.Connection) -> int:
    """Bytes of WAL written so far on the server, to measure a phase's WAL."""
    return int(conn.execute("SELECT pg_current_wal_insert_lsn() - '0/0'::pg_lsn").fetchone()[0])


# --- gunicorn ---------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    workers: int
    worker_class: str
    log_path: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # graceful: workers finish
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_gunicorn(
    *,
    database_url: str = DATABASE_URL,
    workers: int,
    worker_class: str = "sync",
    name: str,
    extra_env: dict | None = None,
) -> Server:
    """gunicorn on a free loopback port, as in the Procfile; waits for /healthz."""
    port = free_port()
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    log_path = REPORT_DIR / f"{name}-gunicorn.log"
    cmd = [
        str(BIN / "gunicorn"),
        "config.wsgi",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        worker_class,
        "--timeout",
        "120",
    ]
    if _gunicorn_has("--no-control-socket"):
        cmd.append("--no-control-socket")
    with open(log_path, "wb") as out:
        process = subprocess.Popen(
            cmd,
            cwd=REPO,
            env=service_env(database_url, extra_env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(process, port, workers, worker_class, log_path)
    try:
        _wait_healthy(server)
    except BaseException:
        server.stop()
        raise
    return server


def _gunicorn_has(option: str) -> bool:
    result = subprocess.run([str(BIN / "gunicorn"), "--help"], capture_output=True, text=True)
    return option in result.stdout


# Proxy-free: an http_proxy in the environment must not swallow 127.0.0.1.
_http = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _wait_healthy(server: Server, timeout: float = 60) -> None:
    """Until /healthz says the database is up (503 for a stale reconciler is
    fine here: nothing reconciles during a benchmark)."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            break
        try:
            with _http.open(f"http://127.0.0.1:{server.port}/healthz", timeout=5) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            body = exc.read()
        except OSError as exc:
            last = str(exc)
            time.sleep(0.2)
            continue
        if json.loads(body).get("db") == "ok":
            return
        last = body.decode()
        time.sleep(0.2)
    tail = server.log_path.read_text(errors="replace")[-2000:]
    raise SystemExit(f"gunicorn did not become healthy ({last})\n{tail}")


# --- Where the CPU went (Linux /proc) ----------------------------------------

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass
class CpuSample:
    busy: float  # whole machine, seconds of all cores
    total: float
    client: float  # this process
    server: float  # gunicorn master and workers
    postgres: float  # every postgres process (other sessions' work included)


def cpu_sample(server_pid: int | None) -> CpuSample:
    """CPU seconds so far; subtract two samples to split a phase's CPU between
    the client threads, gunicorn and PostgreSQL on this machine."""
    with open("/proc/stat") as f:
        ticks = [int(v) for v in f.readline().split()[1:]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    server = postgres = 0.0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.find("(") + 1 : stat.rfind(")")]
        fields = stat[stat.rfind(")") + 2 :].split()
        # Its own time and that of its children that have exited (a backend
        # whose connection closed, a recycled worker): the sum never drops.
        seconds = sum(int(v) for v in fields[11:15]) / _TICK
        pid, ppid = int(entry.name), int(fields[1])
        if server_pid is not None and server_pid in (pid, ppid):
            server += seconds
        elif comm == "postgres":
            postgres += seconds
    usage = os.times()
    return CpuSample(
        busy=(sum(ticks) - idle) / _TICK,
        total=sum(ticks) / _TICK,
        client=usage.user + usage.system,
        server=server,
        postgres=postgres,
    )


def cpu_split(before: CpuSample, after: CpuSample) -> dict[str, float]:
    """Shares of the machine's CPU time during a phase (1.0 = every core busy)."""
    total = after.total - before.total or 1.0
    shares = {
        "machine_busy": (after.busy - before.busy) / total,
        "client": (after.client - before.client) / total,
        "gunicorn": (after.server - before.server) / total,
        "postgres": (after.postgres - before.postgres) / total,
    }
    # Whatever else ran: the kernel, and processes this one cannot see (a
    # shared machine's other containers). High here makes the figures noisy.
    shares["other"] = max(0.0, shares["machine_busy"] - sum(list(shares.values())[1:]))
    return {name: round(share, 3) for name, share in shares.items()}


def wait_quiet(max_wait: float, threshold: float = 0.15, window: float = 2.0) -> float:
    """Waits (up to ``max_wait`` seconds) until the machine's CPU has been less
    than ``threshold`` busy for ``window`` seconds, so that a timed phase does
    not share two cores with someone's test run; returns the last share seen."""
    deadline = time.monotonic() + max_wait
    while True:
        before = cpu_sample(None)
        time.sleep(window)
        busy = cpu_split(before, cpu_sample(None))["machine_busy"]
        if busy < threshold or time.monotonic() >= deadline:
            return busy


# --- Figures ----------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Target:
    label: str
    met: bool
    detail: str


def print_table(title: str, rows: list[tuple[str, str]]) -> None:
    width = max(len(label) for label, _ in rows)
    print(f"\n{title}\n{'-' * len(title)}")
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")


def print_targets(targets: list[Target]) -> None:
    print_table(
        "Targets",
        [(t.label, f"{'MET   ' if t.met else 'MISSED'}  {t.detail}") for t in targets],
    )


def write_report(name: str, report: dict) -> Path:
    """The one JSON line (printed, for notes) and ``var/bench/<name>.json``."""
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    path = REPORT_DIR / f"{name}.json"
    line = json.dumps(report, sort_keys=True)
    path.write_text(line + "\n")
    print(f"\n{line}")
    return path
