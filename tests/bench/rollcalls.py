"""Roll calls: starting and submitting a count, and 50 tablets marking at once.

How requests are timed
    In-process, through ``config.wsgi.application`` (what gunicorn serves:
    every middleware, DRF, token authentication, ``DEBUG=0``), called with a
    WSGI environ as gunicorn builds it. A request is timed from the call to
    the last byte of its answer, closed (``request_finished`` included): no
    socket, and no client-side JSON (bodies are bytes built before the clock
    starts; answers are parsed after it stops).

single
    A facility (``RC``) with ``--units`` units of 500 people and as many of
    50, in 8-person cells, built through the services (but the cells, in one
    statement). Each unit is counted twice: everyone marked present, then 20
    left unmarked (unaccounted). Timed in each cycle: the start
    (``POST /rollcalls/``, which freezes the roster) and the submit
    (``POST /rollcalls/{id}/submit/``, which settles the count); the marks
    are posted in between, untimed. Sizes are interleaved so that drift on a
    noisy machine hits both alike. Then one untimed census cycle per size
    counts the SQL statements of each step (``CaptureQueriesContext``): 50 or
    500 people, they must be the same.

storm
    A second facility (``TAB``) with ``--tablets`` units of ``--people``.
    Each tablet is its own guard with its own token, thread and database
    connection; it starts its count (untimed), then all of them, released by
    one barrier, post their marks as a guard taps them: batches of 1 to
    ``--batch-max`` marks (one in 20 absent, the rest present), plus
    ``--replays`` batches sent again (a retry after a lost answer). The
    threads share one process and its interpreter lock, like one server
    process with that many threads: latency includes waiting for it. With
    ``--gunicorn N`` the same requests go over loopback HTTP to gunicorn
    with N sync workers instead, as deployed (Procfile: 2).
    Afterwards: every mark stored exactly once in its own count, every replay
    answered ``duplicate``, a check-in for each present mark, both facilities'
    ledgers verify.

Baselines, in the same run
    ``--solo`` more tablets post the same kind of plan first, one after
    another, nobody else writing: what one tablet alone gets, and the
    throughput of one writer. Then the storm's rows again, fresh ids,
    COPYed into ``custody_rollcallentry`` in one transaction (the append-only
    triggers refuse UPDATE and DELETE only): what the table itself takes on
    this machine. The API also writes check-ins and ledger events and checks
    every mark; the ratio says what all that costs.

Targets
    start and submit of a 500-person count, p95 under 300 ms each (submit
    with everyone marked and with 20 unaccounted); statements per start and
    per submit the same at 50 as at 500 people.

Checks (exit 1 whatever ``--strict`` says)
    every answer as expected, every mark stored once, ledgers verify.

Run ``python -m tests.bench rollcalls`` (``--help``). Its own database,
dropped and recreated: ``BENCH_DATABASE_URL``, default
``custody_bench_rollcalls``. Prints a table and one JSON line, also written
to ``var/bench/rollcalls.json``.
"""

import argparse
import http.client
import io
import json
import os
import random
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone

from tests.bench import common

NAME = "rollcalls"
DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/custody_bench_rollcalls"
)
ROLLCALLS = "/api/v1/rollcalls/"
OFFSET = timezone(timedelta(hours=-6))  # America/Guatemala, as the tablets send
CELL_CAPACITY = 8
BIG, SMALL = 500, 50
UNACCOUNTED = 20

TARGET_MS = 300  # p95 of start and of submit, 500 people, server time
# Above this share of the CPU going to other processes during a timed phase,
# the figures are flagged as noisy (as in the other benchmarks).
NOISE = 0.10

ENTRY_COLUMNS = (
    "id, rollcall_id, inmate_id, status, method, observed_at, received_at, recorded_by_id"
)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench rollcalls",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--units", type=int, default=10, help="units of each size, counted twice each (10)")
    add("--tablets", type=int, default=50, help="tablets marking at once, one unit each (50)")
    add("--people", type=int, default=100, help="people in each tablet's unit (100)")
    add("--batch-max", type=int, default=10, help="marks per request, 1 to this (10)")
    add("--replays", type=int, default=3, help="batches each tablet sends twice (3)")
    add("--solo", type=int, default=3, help="tablets marking one after another, baseline (3)")
    add("--seed", type=int, default=1, help="random seed of the tablets' plans (1)")
    add(
        "--gunicorn",
        type=int,
        default=0,
        metavar="WORKERS",
        help="post the tablets' marks over HTTP to gunicorn with this many sync workers "
        "(as deployed) instead of in-process (0)",
    )
    add("--database-url", default=DATABASE_URL, help="benchmark database, recreated")
    add("--settle", type=float, default=5, help="seconds to wait for a quiet machine (5)")
    add("--strict", action="store_true", help="exit 1 when a target is missed too")
    args = parser.parse_args(argv)
    if args.units < 2:
        parser.error("--units: at least 2 (the census counts two units of each size)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    url = args.database_url
    common.log(f"recreating and migrating {url}")
    common.recreate_database(url)
    common.log(
        f"seeding {args.units} units of {BIG} and of {SMALL}, "
        f"{args.tablets} + {args.solo} units of {args.people} with a guard each"
    )
    seeded = common.django_call(
        url,
        f"{__name__}:seed",
        units=args.units,
        tablets=args.tablets + args.solo,
        people=args.people,
    )

    idle = common.wait_quiet(args.settle)
    common.log(f"single counts (machine {idle:.0%} busy just before)")
    single = common.django_call(url, f"{__name__}:run_single", **seeded["single"])

    idle_storm = common.wait_quiet(args.settle)
    common.log(
        f"{args.solo} tablets alone, then {args.tablets} at once "
        f"(machine {idle_storm:.0%} busy just before)"
    )
    storm = run_storm_phase(args, seeded["tablets"])
    stored = check_stored(url, storm.pop("sent"))
    ledgers = common.django_call(url, f"{__name__}:verify_ledgers", codes=["RC", "TAB"])
    common.log(f"COPY of {stored['marks']} entry rows")
    copy = run_copy(url, stored["copy_rows"])

    report = build_report(args, single, storm, stored, ledgers, copy)
    report["machine_busy_before"] = {"single": round(idle, 3), "storm": round(idle_storm, 3)}
    print_report(report)
    common.write_report(NAME, report)
    if report["failures"]:
        print("\nFAILED: " + "; ".join(report["failures"]), file=sys.stderr)
        return 1
    return 1 if args.strict and not all(report["targets"].values()) else 0


def run_storm_phase(args, tablets: list[dict]) -> dict:
    """The tablets' phase, in-process or against gunicorn (``--gunicorn``)."""
    server = None
    if args.gunicorn:
        server = common.start_gunicorn(
            database_url=args.database_url, workers=args.gunicorn, name=NAME
        )
    try:
        return common.django_call(
            args.database_url,
            f"{__name__}:run_storm",
            tablets=tablets[args.solo :],
            solo=tablets[: args.solo],
            batch_max=args.batch_max,
            replays=args.replays,
            seed=args.seed,
            port=server.port if server else None,
            server_pid=server.process.pid if server else None,
        )
    finally:
        if server:
            server.stop()


# --- The facilities (under Django, in a subprocess) ----------------------------


def seed(*, units: int, tablets: int, people: int) -> dict:
    """``RC``: units of 500 and of 50 people and one guard; ``TAB``: a unit of
    ``people`` and a guard per tablet. Through the services (ledger events
    included) but the cells; answers unit codes and the guards' clear tokens."""
    from django.db import transaction

    with transaction.atomic():  # one commit, not one per cell
        return _seed(units=units, tablets=tablets, people=people)


def _seed(*, units: int, tablets: int, people: int) -> dict:
    from django.test.utils import override_settings

    from custody import services

    rc = services.facility_create(code="RC", name="Roll-call bench", timezone="America/Guatemala")
    tab = services.facility_create(code="TAB", name="Tablet bench", timezone="America/Guatemala")
    rows, sizes = [], {BIG: [], SMALL: []}
    for size in (BIG, SMALL):
        for n in range(units):
            code = f"S{size}-{n}"
            rows += _unit(rc, code, size)
            sizes[size].append(code)
    services.inmates_admit_bulk(facility=rc, rows=rows)
    rows = []
    for n in range(tablets):
        rows += _unit(tab, f"T{n:02d}", people)
    services.inmates_admit_bulk(facility=tab, rows=rows)
    # The password hasher is not what is measured (requests carry tokens):
    # a fast one keeps the sign-ups from taking most of the seed.
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        single_token = _guard_token(rc, "rc-guard")
        tablet_tokens = [_guard_token(tab, f"tablet-{n:02d}") for n in range(tablets)]
    return {
        "single": {
            "facility": "RC",
            "token": single_token,
            "username": "rc-guard",
            "units": sizes,
        },
        "tablets": [
            {"facility": "TAB", "unit": f"T{n:02d}", "token": token}
            for n, token in enumerate(tablet_tokens)
        ],
    }


def _unit(facility, code: str, size: int) -> list[dict]:
    """A unit of ``size`` people in 8-person cells; answers their admission rows."""
    from custody import services
    from custody.models import Location, LocationKind

    unit = services.location_create(facility=facility, code=code, name=code, kind=LocationKind.UNIT)
    # Cells in one statement: a ledger event each (location_create) would
    # make the seed most of the run. The chain still verifies without them.
    cells = Location.objects.bulk_create(
        [
            Location(
                facility=facility,
                code=f"{code}-C{c:02d}",
                name=f"{code} cell {c}",
                kind=LocationKind.CELL,
                parent=unit,
                capacity=CELL_CAPACITY,
            )
            for c in range(-(-size // CELL_CAPACITY))
        ]
    )
    return [
        {
            "booking_number": f"{code}-{n:04d}",
            "first_name": "Bench",
            "last_name": f"Person {n}",
            "security_level": "medium",
            "cell": cells[n // CELL_CAPACITY],
        }
        for n in range(size)
    ]


def _guard_token(facility, username: str) -> str:
    from knox.models import AuthToken

    from custody import services

    user = services.user_create(
        username=username, password="bench-only-password", role="guard", facilities=[facility]
    )
    return AuthToken.objects.create(user=user)[1]


# --- Requests, in-process -----------------------------------------------------


class Wsgi:
    """One officer's requests to the WSGI application gunicorn serves."""

    def __init__(self, token: str):
        from config.wsgi import application

        self.app = application
        self.auth = f"Token {token}"

    def post(self, path: str, body: bytes = b"") -> tuple[float, int, bytes]:
        """(milliseconds, status, body): the call until the answer is read and closed."""
        environ = self._environ(path, body)
        answer = {}

        def start_response(status, headers, exc_info=None):
            answer["status"] = int(status.split()[0])

        started = time.perf_counter()
        result = self.app(environ, start_response)
        try:
            content = b"".join(result)
        finally:
            result.close()  # request_finished, as a server sends it
        return (time.perf_counter() - started) * 1000, answer["status"], content

    def open(self) -> None:
        """This thread's database connection, before the clock starts."""
        from django.db import connection

        connection.ensure_connection()

    def close(self) -> None:
        from django.db import connection

        connection.close()

    def _environ(self, path: str, body: bytes) -> dict:
        return {
            "REQUEST_METHOD": "POST",
            "SCRIPT_NAME": "",
            "PATH_INFO": path,
            "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": "127.0.0.1",
            "HTTP_AUTHORIZATION": self.auth,
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.url_scheme": "http",
            "wsgi.version": (1, 0),
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }


class Http:
    """The same requests over loopback HTTP to gunicorn (``--gunicorn``); a
    connection each, as sync workers close theirs after every answer."""

    def __init__(self, token: str, port: int):
        self.port = port
        self.headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}

    def post(self, path: str, body: bytes = b"") -> tuple[float, int, bytes]:
        started = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            conn.request("POST", path, body=body, headers=self.headers)
            response = conn.getresponse()
            status, content = response.status, response.read()
        except (OSError, http.client.HTTPException) as exc:
            status, content = 0, repr(exc).encode()
        finally:
            conn.close()
        return (time.perf_counter() - started) * 1000, status, content

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass


def _json(value) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _mark(booking: str, status: str, at: str) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "inmate": booking,
        "status": status,
        "method": "visual",
        "observed_at": at,
    }


def _now_iso() -> str:
    return datetime.now(OFFSET).isoformat(timespec="milliseconds")


class Unexpected(Exception):
    pass


def _expect(status: int, body: bytes, wanted: int, what: str) -> dict:
    if status != wanted:
        raise Unexpected(f"{what}: HTTP {status} {body[:300].decode(errors='replace')}")
    return json.loads(body)


# --- single: start and submit --------------------------------------------------


def run_single(*, facility: str, token: str, username: str, units: dict) -> dict:
    """Timed cycles over every unit (both sizes interleaved, all marked then
    20 unaccounted), then one census cycle per size counting statements."""
    client = Wsgi(token)
    sizes = {int(size): codes for size, codes in units.items()}
    # Warm-up, untimed: the first request pays for imports and caches.
    for size, codes in sizes.items():
        _cycle(client, facility, codes[0], missing=0, send=_timed)
    timed = {size: {"start": [], "submit_all": [], "submit_missing": []} for size in sizes}
    cpu_before = common.cpu_sample(None)
    for missing, key in ((0, "submit_all"), (UNACCOUNTED, "submit_missing")):
        for index in range(len(sizes[BIG])):
            for size, codes in sizes.items():
                cycle = _cycle(client, facility, codes[index], missing=missing, send=_timed)
                timed[size]["start"].append(cycle["start"])
                timed[size][key].append(cycle["submit"])
    cpu = common.cpu_split(cpu_before, common.cpu_sample(None))
    queries = {}
    client = _fresh_client(username)
    for size, codes in sizes.items():
        all_marked = _cycle(client, facility, codes[0], missing=0, send=_counted, probes=(1, 10))
        missing = _cycle(client, facility, codes[1], missing=UNACCOUNTED, send=_counted)
        queries[size] = {
            "start": all_marked["start"],
            "submit_all": all_marked["submit"],
            "submit_missing": missing["submit"],
            "entries_1": all_marked["probes"][0],
            "entries_10": all_marked["probes"][1],
        }
    return {"ms": timed, "queries": queries, "cpu": cpu}


def _fresh_client(username: str) -> "Wsgi":
    """An officer's client with a new token: knox moves a token's expiry at
    most once a minute, an UPDATE that would fall in one census request and
    not in its twin."""
    from knox.models import AuthToken

    from custody.models import User

    return Wsgi(AuthToken.objects.create(user=User.objects.get(username=username))[1])


def _timed(client: Wsgi, path: str, body: bytes) -> tuple[float, int, bytes]:
    return client.post(path, body)


def _counted(client: Wsgi, path: str, body: bytes) -> tuple[int, int, bytes]:
    """Like ``_timed`` but answers the SQL statements the request sent."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        _, status, content = client.post(path, body)
    return len(captured.captured_queries), status, content


def _cycle(client: Wsgi, facility: str, unit: str, *, missing: int, send, probes=()) -> dict:
    """Start a count of ``unit``, mark all but ``missing`` present, submit.
    ``send`` measures the start, the submit and the first batches of marks,
    of the sizes ``probes`` (the rest goes in one untimed request)."""
    body = _json({"location": unit, "kind": "formal", "facility": facility})
    start, status, content = send(client, ROLLCALLS, body)
    count = _expect(status, content, 201, f"start {unit}")
    url = f"{ROLLCALLS}{count['id']}/"
    at = _now_iso()
    marks = [_mark(line["inmate"], "present", at) for line in count["expected"][missing:]]
    measured = []
    for size in probes:
        batch, marks = marks[:size], marks[size:]
        figure, status, content = send(client, url + "entries/", _json(batch))
        _accepted(status, content, len(batch), unit)
        measured.append(figure)
    _, status, content = client.post(url + "entries/", _json(marks))
    _accepted(status, content, len(marks), unit)
    submit, status, content = send(client, url + "submit/", b"")
    result = _expect(status, content, 200, f"submit {unit}")
    if result["unaccounted_count"] != missing:
        raise Unexpected(f"{unit}: {result['unaccounted_count']} unaccounted, not {missing}")
    return {"start": start, "submit": submit, "probes": measured}


def _accepted(status: int, content: bytes, wanted: int, unit: str) -> None:
    answer = _expect(status, content, 200, f"marks of {unit}")
    if answer["accepted"] != wanted:
        raise Unexpected(f"marks of {unit}: {answer['accepted']} accepted of {wanted}")


# --- storm: every tablet at once -----------------------------------------------


def run_storm(
    *,
    tablets: list[dict],
    solo: list[dict],
    batch_max: int,
    replays: int,
    seed: int,
    port: int | None,
    server_pid: int | None,
) -> dict:
    """Every tablet starts its count; the ``solo`` ones then post their
    plans one tablet after another (the baseline: nobody else writing), and
    the others all at once. In-process, or to gunicorn on ``port``."""
    rng = random.Random(seed)
    alone = [_tablet(t, rng, batch_max, replays, port) for t in solo]
    crowd = [_tablet(t, rng, batch_max, replays, port) for t in tablets]
    started = time.perf_counter()
    alone_answers = [_post_plan(tablet) for tablet in alone]
    alone_seconds = time.perf_counter() - started
    cpu_before = common.cpu_sample(server_pid)
    answers, seconds = _race(crowd)
    # In-process, "client" is this process: the server and the tablets.
    cpu = common.cpu_split(cpu_before, common.cpu_sample(server_pid))
    return {
        "alone": {"seconds": alone_seconds, "answers": [a for t in alone_answers for a in t]},
        "crowd": {"seconds": seconds, "answers": answers, "cpu": cpu},
        "sent": {t["count"]: _sent(t["plan"]) for t in alone + crowd},
    }


def _tablet(tablet: dict, rng: random.Random, batch_max: int, replays: int, port) -> dict:
    """A tablet with its count started (untimed) and its requests built."""
    client = Wsgi(tablet["token"]) if port is None else Http(tablet["token"], port)
    body = _json({"location": tablet["unit"], "kind": "formal"})
    _, status, content = client.post(ROLLCALLS, body)
    count = _expect(status, content, 201, f"start {tablet['unit']}")
    plan = _plan(rng, count, _now_iso(), batch_max, replays)
    return {"client": client, "count": count["id"], "plan": plan}


def _sent(plan: list[dict]) -> dict:
    marks = [m for post in plan if not post["replay"] for m in post["marks"]]
    return {
        "ids": [m["id"] for m in marks],
        "present": [m["id"] for m in marks if m["status"] == "present"],
    }


def _plan(rng: random.Random, count: dict, at: str, batch_max: int, replays: int) -> list[dict]:
    """A tablet's requests: everyone on the roster once, in batches of 1 to
    ``batch_max``, one in 20 absent; then ``replays`` earlier batches sent
    again at random later points, as a retry after a lost answer would."""
    roster = [line["inmate"] for line in count["expected"]]
    marks = [
        _mark(booking, "absent" if n % 20 == 19 else "present", at)
        for n, booking in enumerate(roster)
    ]
    posts = []
    while marks:
        size = rng.randint(1, batch_max)
        batch, marks = marks[:size], marks[size:]
        posts.append({"marks": batch, "replay": False})
    for _ in range(min(replays, len(posts))):
        original = rng.randrange(len(posts))
        if posts[original]["replay"]:
            continue
        posts.insert(rng.randint(original + 1, len(posts)), {**posts[original], "replay": True})
    url = f"{ROLLCALLS}{count['id']}/entries/"
    for post in posts:
        post["url"], post["body"] = url, _json(post["marks"])
    return posts


def _race(tablets: list[dict]) -> tuple[list[dict], float]:
    """One thread per tablet, each on its own database connection in-process
    (opened before the barrier: tablets talk to a warm server); answers and
    wall time from the barrier to the last answer."""
    barrier = threading.Barrier(len(tablets) + 1)
    answers: list[list[dict]] = [[] for _ in tablets]

    def run(index: int) -> None:
        client = tablets[index]["client"]
        try:
            client.open()
            barrier.wait(timeout=60)
            answers[index] = _post_plan(tablets[index])
        finally:
            client.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(tablets))]
    for thread in threads:
        thread.start()
    barrier.wait(timeout=60)
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return [a for per_tablet in answers for a in per_tablet], time.perf_counter() - started


def _post_plan(tablet: dict) -> list[dict]:
    answers = []
    for post in tablet["plan"]:
        ms, status, content = tablet["client"].post(post["url"], post["body"])
        answers.append(_answer(post, ms, status, content))
    return answers


def _answer(post: dict, ms: float, status: int, content: bytes) -> dict:
    try:
        body = json.loads(content)
    except ValueError:
        body = {}
    counts = {k: body.get(k, 0) if isinstance(body, dict) else 0 for k in ("accepted", "duplicate")}
    wanted = "duplicate" if post["replay"] else "accepted"
    ok = status == 200 and counts[wanted] == len(post["marks"])
    return {
        "ms": ms,
        "status": status,
        "marks": len(post["marks"]),
        "replay": post["replay"],
        **counts,
        "ok": ok,
        "detail": "" if ok else content[:200].decode(errors="replace"),
    }


def verify_ledgers(*, codes: list[str]) -> dict:
    from custody.models import Facility
    from custody.services import ledger_verify

    result = {}
    for code in codes:
        check = ledger_verify(facility=Facility.objects.get(code=code))
        result[code] = {"ok": check.ok, "events": check.events, "problem": str(check.problem)}
    return result


# --- Afterwards, from this process ----------------------------------------------


def check_stored(url: str, sent: dict) -> dict:
    """Stored entries against the marks each tablet sent: the same ids, each
    once, in its own count; a check-in per present mark. Also reads what the
    COPY baseline needs (same counts, people and officers)."""
    ids = {i for per_count in sent.values() for i in per_count["ids"]}
    present = [i for per_count in sent.values() for i in per_count["present"]]
    with common.pg_connect(url) as conn:
        rows = conn.execute(
            "SELECT id::text, rollcall_id::text, inmate_id, recorded_by_id "
            "FROM custody_rollcallentry WHERE rollcall_id = ANY(%s::uuid[])",
            [list(sent)],
        ).fetchall()
        checkins = conn.execute(
            "SELECT count(*) FROM custody_checkin WHERE id = ANY(%s::uuid[])", [present]
        ).fetchone()[0]
    per_count = Counter(rollcall for _, rollcall, _, _ in rows)
    wrong_count = sum(1 for i, rollcall, _, _ in rows if i not in sent[rollcall]["ids"])
    counts_off = sum(1 for rc, marks in sent.items() if per_count[rc] != len(marks["ids"]))
    return {
        "marks": len(ids),
        "stored": len(rows),
        "distinct": len({row[0] for row in rows}),
        "missing": len(ids - {row[0] for row in rows}),
        "in_wrong_count": wrong_count,
        "counts_off": counts_off,
        "present_marks": len(present),
        "checkins": checkins,
        "copy_rows": [[rc, inmate, by] for _, rc, inmate, by in rows],
    }


def run_copy(url: str, shapes: list[list]) -> dict:
    """As many fresh rows as the storm stored, same counts and people, COPYed
    in one transaction, commit included."""
    now = datetime.now(UTC).isoformat()
    text = "".join(
        f"{uuid.uuid4()}\t{rc}\t{inmate}\tpresent\tvisual\t{now}\t{now}\t{by}\n"
        for rc, inmate, by in shapes
    ).encode()
    with common.pg_connect(url) as conn:
        started = time.perf_counter()
        with (
            conn.cursor() as cursor,
            cursor.copy(f"COPY custody_rollcallentry ({ENTRY_COLUMNS}) FROM STDIN") as copy,
        ):
            copy.write(text)
        conn.commit()
        seconds = time.perf_counter() - started
    return {"rows": len(shapes), "seconds": seconds, "rate": len(shapes) / seconds}


# --- The report -----------------------------------------------------------------


def _dist(values: list[float]) -> dict:
    return {
        "n": len(values),
        "p50": round(common.percentile(values, 50), 1),
        "p95": round(common.percentile(values, 95), 1),
        "p99": round(common.percentile(values, 99), 1),
        "max": round(max(values), 1),
    }


def build_report(args, single, storm, stored, ledgers, copy) -> dict:
    ms = {
        size: {step: _dist(values) for step, values in steps.items()}
        for size, steps in single["ms"].items()
    }
    queries = single["queries"]
    crowd, alone = _phase(storm["crowd"]), _phase(storm["alone"])
    crowd["cpu"] = storm["crowd"]["cpu"]
    big = ms[str(BIG)]
    constant = {
        step: queries[str(BIG)][step] == queries[str(SMALL)][step]
        for step in ("start", "submit_all", "submit_missing")
    }
    report = {
        "benchmark": NAME,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": {
            "units_per_size": args.units,
            "sizes": [BIG, SMALL],
            "unaccounted": UNACCOUNTED,
            "tablets": args.tablets,
            "people_per_tablet": args.people,
            "batch_max": args.batch_max,
            "replays_per_tablet": args.replays,
            "solo": args.solo,
            "server": f"gunicorn, {args.gunicorn} sync workers"
            if args.gunicorn
            else f"in-process, {args.tablets} threads",
            "cpus": len(os.sched_getaffinity(0)),
        },
        "single": {"ms": ms, "queries": queries, "cpu": single["cpu"]},
        "storm": crowd,
        "alone": alone,
        "stored": {k: v for k, v in stored.items() if k != "copy_rows"},
        "ledgers": ledgers,
        "copy": {
            "rows": copy["rows"],
            "seconds": round(copy["seconds"], 3),
            "rows_per_s": round(copy["rate"]),
        },
        "api_over_copy": round(crowd["entries_per_s"] / copy["rate"], 4),
        "targets": {
            "start_p95": big["start"]["p95"] < TARGET_MS,
            "submit_all_p95": big["submit_all"]["p95"] < TARGET_MS,
            "submit_missing_p95": big["submit_missing"]["p95"] < TARGET_MS,
            "start_queries_constant": constant["start"],
            "submit_queries_constant": constant["submit_all"] and constant["submit_missing"],
        },
    }
    report["noisy"] = max(single["cpu"]["other"], crowd["cpu"]["other"]) > NOISE
    report["failures"] = _failures(report)
    return report


def _phase(phase: dict) -> dict:
    """Figures of one way of posting (alone, or everyone at once)."""
    answers = phase["answers"]
    accepted = sum(a["accepted"] for a in answers if not a["replay"])
    return {
        "requests": len(answers),
        "replays": sum(1 for a in answers if a["replay"]),
        "entries": accepted,
        "seconds": round(phase["seconds"], 3),
        "entries_per_s": round(accepted / phase["seconds"]),
        "latency_ms": _dist([a["ms"] for a in answers]),
        "statuses": dict(Counter(str(a["status"]) for a in answers)),
        "bad_answers": [a["detail"] for a in answers if not a["ok"]][:10],
    }


def _failures(r: dict) -> list[str]:
    s, st, alone = r["stored"], r["storm"], r["alone"]
    failures = []
    bad = st["bad_answers"] + alone["bad_answers"]
    if bad:
        failures.append(f"{len(bad)}+ answers not as expected: {bad[0]}")
    if st["entries"] + alone["entries"] != s["marks"]:
        accepted = st["entries"] + alone["entries"]
        failures.append(f"{accepted} accepted for {s['marks']} marks sent")
    if not (s["stored"] == s["distinct"] == s["marks"]) or s["missing"] or s["in_wrong_count"]:
        failures.append(
            f"{s['stored']} stored ({s['distinct']} distinct) for {s['marks']} marks, "
            f"{s['missing']} missing, {s['in_wrong_count']} in another count"
        )
    if s["counts_off"]:
        failures.append(f"{s['counts_off']} counts hold other than the marks sent to them")
    if s["checkins"] != s["present_marks"]:
        failures.append(f"{s['checkins']} check-ins for {s['present_marks']} present marks")
    for code, check in r["ledgers"].items():
        if not check["ok"]:
            failures.append(f"ledger of {code} does not verify: {check['problem']}")
    return failures


def print_report(r: dict) -> None:
    ms, queries = r["single"]["ms"], r["single"]["queries"]
    rows = []
    for size in (BIG, SMALL):
        for step, label in (
            ("start", "start"),
            ("submit_all", "submit, all marked"),
            ("submit_missing", f"submit, {UNACCOUNTED} unaccounted"),
        ):
            d = ms[str(size)][step]
            rows.append(
                (
                    f"{size} people: {label}",
                    f"median {d['p50']:.1f} ms, p95 {d['p95']:.1f} ms, max {d['max']:.1f} ms "
                    f"(n={d['n']}), {queries[str(size)][step]} statements",
                )
            )
    for size in (BIG, SMALL):
        q = queries[str(size)]
        marks = f"{q['entries_1']} statements for 1, {q['entries_10']} for 10"
        rows.append((f"{size} people: marks", marks))
    rows.append(("CPU during the timed cycles", _cpu_text(r["single"]["cpu"])))
    common.print_table("Start and submit (server time, in-process WSGI)", rows)

    st, alone, s, cfg = r["storm"], r["alone"], r["stored"], r["config"]
    ledgers = ", ".join(
        f"{code} {'ok' if c['ok'] else 'BROKEN'} ({c['events']:,} events)"
        for code, c in r["ledgers"].items()
    )
    common.print_table(
        f"{cfg['tablets']} tablets at once ({cfg['people_per_tablet']} people each)",
        [
            ("entries stored/s", _rate(st, cfg)),
            ("request latency", _latency(st["latency_ms"])),
            ("answers", ", ".join(f"HTTP {k}: {v}" for k, v in sorted(st["statuses"].items()))),
            ("CPU", _cpu_text(st["cpu"])),
            (f"baseline: {cfg['solo']} alone, in turn", _rate(alone, cfg)),
            ("baseline latency", _latency(alone["latency_ms"])),
            (
                "stored",
                f"{s['stored']:,} entries, {s['distinct']:,} distinct, for {s['marks']:,} marks; "
                f"{s['missing']} missing, {s['counts_off']} counts off",
            ),
            ("check-ins", f"{s['checkins']:,} for {s['present_marks']:,} present marks"),
            ("ledgers", ledgers),
            (
                "COPY baseline",
                f"{r['copy']['rows_per_s']:,} rows/s ({r['copy']['rows']:,} in "
                f"{r['copy']['seconds']} s); API at {r['api_over_copy']:.1%} of it",
            ),
            ("config", f"{cfg['cpus']} CPUs, {cfg['server']}"),
        ],
    )
    big, t = ms[str(BIG)], r["targets"]
    q_big, q_small = queries[str(BIG)], queries[str(SMALL)]
    common.print_targets(
        [
            common.Target(
                f"start, {BIG} people, p95 < {TARGET_MS} ms",
                t["start_p95"],
                f"{big['start']['p95']:.1f} ms",
            ),
            common.Target(
                f"submit all marked, p95 < {TARGET_MS} ms",
                t["submit_all_p95"],
                f"{big['submit_all']['p95']:.1f} ms",
            ),
            common.Target(
                f"submit {UNACCOUNTED} unaccounted, p95 < {TARGET_MS} ms",
                t["submit_missing_p95"],
                f"{big['submit_missing']['p95']:.1f} ms",
            ),
            common.Target(
                "start statements, 50 = 500 people",
                t["start_queries_constant"],
                f"{q_small['start']} / {q_big['start']}",
            ),
            common.Target(
                "submit statements, 50 = 500 people",
                t["submit_queries_constant"],
                f"{q_small['submit_all']} / {q_big['submit_all']} all marked, "
                f"{q_small['submit_missing']} / {q_big['submit_missing']} with unaccounted",
            ),
        ]
    )
    verdict = "FAILED: " + "; ".join(r["failures"]) if r["failures"] else "every check passed"
    print(f"\nStorm checks: {verdict}")
    if r["noisy"]:
        print(
            f"\nNOISY: other processes took {r['single']['cpu']['other']:.0%} of the CPU during "
            f"the start/submit cycles, {st['cpu']['other']:.0%} during the storm; rerun on an "
            "idle machine."
        )


def _rate(phase: dict, cfg: dict) -> str:
    return (
        f"{phase['entries_per_s']:,} ({phase['entries']:,} in {phase['seconds']} s, "
        f"{phase['requests']} requests of 1-{cfg['batch_max']}, {phase['replays']} replays)"
    )


def _latency(d: dict) -> str:
    return f"p50 {d['p50']} ms, p95 {d['p95']} ms, p99 {d['p99']} ms, max {d['max']} ms"


def _cpu_text(cpu: dict) -> str:
    return (
        f"machine {cpu['machine_busy']:.0%} busy: this process {cpu['client']:.0%}, "
        f"gunicorn {cpu['gunicorn']:.0%}, postgres {cpu['postgres']:.0%}, other {cpu['other']:.0%}"
    )


if __name__ == "__main__":
    sys.exit(main())
