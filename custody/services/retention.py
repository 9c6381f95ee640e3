"""Retention: how long each kind of record stays online, and archiving a month.

Two registries, so that an app adds to them without custody importing it:

- ``RetentionKind``: one entry per kind of record that may leave the live
  database (check-ins, quarantine; alerts adds its notifications). A kind
  not registered (the ledger, alerts) is kept for ever. Its days come from
  ``settings.RETENTION_DAYS`` ("kind=days,..."), else its default.
- Archive blockers: functions answering why a facility's month must stay
  online (an active legal hold here; an open or recent alert, registered by
  the alerts app from its ``AppConfig.ready``).

``archive_month`` (run as the owner role: only it may switch a guard off or
detach a partition) does, for each kind, in this order, and stops at the
first refusal or failure with the database as it was:

1. refuses a month younger than the kind's retention, a month any blocker
   names (every blocker's reasons are given), a role that does not own the
   table, and a partitioned kind whose month has no partition left;
2. exports the month's rows (of one facility, or all) with ``COPY ... TO
   STDOUT`` into ``<table>_<YYYY_MM>[_<FACILITY>]_<stamp>.csv.gz``, streamed
   through gzip and SHA-256 in bounded memory, written as ``.part`` and
   renamed once fsync'd (a file is never overwritten);
3. verifies it: reads the file back, hashes it again, counts its CSV rows,
   and both must equal the export's (and the database's count);
4. in one transaction: counts the rows again under a lock (equal to the
   export, or nothing happens), appends ``archive.exported`` (file, SHA-256,
   size, rows) to the ledger of each facility concerned, and for a whole
   month of a partitioned kind detaches and drops the partition;
5. otherwise (one facility's rows, or a kind without partitions) deletes the
   rows in batches, each batch its own transaction with the guard trigger
   switched off and on again inside it (others never see it off), then
   appends ``archive.removed``.

A whole month of a partitioned kind with some facilities archived before
just exports what is left: its partition is dropped once the whole month
has been exported, facility by facility or at once.
"""

import gzip
import hashlib
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from psycopg import sql

from custody.models import Facility, LegalHold
from custody.services.holds import hold_label
from custody.services.ledger import ledger_append

DELETE_BATCH = 10_000
# About how many check-ins fill an 8 kB page (a batch of rows in blocks).
ROWS_PER_BLOCK = 50
LOCK_TIMEOUT = "5s"
GZIP_LEVEL = 3  # level 6 costs twice the time for about 10% smaller files
READ_CHUNK = 1 << 20
MONTH = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True)
class RetentionKind:
    """One kind of record that may be archived by month.

    ``facility_sql`` is an SQL expression of a row's facility id (a column,
    or a subquery for a kind whose rows reach their facility through another
    table); ``guards`` the row triggers refusing deletes, which the owner
    switches off while removing archived rows; ``partitioned``: the table
    has monthly partitions named ``<table>_YYYY_MM``."""

    name: str
    table: str
    time_column: str
    default_days: int
    facility_sql: str = "facility_id"
    guards: tuple[str, ...] = ()
    partitioned: bool = False


_KINDS: dict[str, RetentionKind] = {}
# fn(*, facility_ids, start, end, now) -> list of reasons (each names its cause).
_BLOCKERS: list[Callable[..., list[str]]] = []


def retention_kind_register(kind: RetentionKind) -> None:
    """Adds a kind (apps call this from ``AppConfig.ready``; again is harmless)."""
    _KINDS[kind.name] = kind


def retention_kinds() -> list[RetentionKind]:
    return [_KINDS[name] for name in sorted(_KINDS)]


def archive_blocker_register(blocker: Callable[..., list[str]]) -> None:
    if blocker not in _BLOCKERS:
        _BLOCKERS.append(blocker)


def retention_days() -> dict[str, int]:
    """Each registered kind's days online after its month ends."""
    days = {kind.name: kind.default_days for kind in _KINDS.values()}
    for item in filter(None, (part.strip() for part in settings.RETENTION_DAYS.split(","))):
        name, _, value = item.partition("=")
        name = name.strip()
        if name not in _KINDS:
            raise ImproperlyConfigured(
                f"RETENTION_DAYS names {name!r}, which is no kind of record that may be "
                f"archived ({', '.join(sorted(_KINDS))}); the ledger and alerts are kept for ever."
            )
        if not value.strip().isdigit() or not 30 <= int(value) <= 36500:
            raise ImproperlyConfigured(
                f"RETENTION_DAYS: {item!r} needs a whole number of days from 30 to 36500."
            )
        days[name] = int(value)
    return days


# --- Errors -------------------------------------------------------------------


class ArchiveRefused(Exception):
    """The month may not be archived (too young, held, wrong role...): nothing changed."""

    def __init__(self, message: str, reasons: list[str] | None = None):
        super().__init__(message)
        self.reasons = reasons or []

    def __str__(self):
        lines = [self.args[0], *(f"  - {reason}" for reason in self.reasons)]
        return "\n".join(lines)


class ArchiveFailed(Exception):
    """The export or its verification failed: the records are still all online."""


# --- Months ---------------------------------------------------------------------


def month_parse(text: str) -> date:
    match = MONTH.match(text or "")
    if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 2000:
        raise ValueError(f"{text!r} is not a month: write YYYY-MM (e.g. 2025-01).")
    return date(int(match.group(1)), int(match.group(2)), 1)


def month_bounds(month: date) -> tuple[datetime, datetime]:
    start = datetime(month.year, month.month, 1, tzinfo=UTC)
    following = datetime(month.year + month.month // 12, month.month % 12 + 1, 1, tzinfo=UTC)
    return start, following


def archivable_from(kind: RetentionKind, month: date) -> datetime:
    return month_bounds(month)[1] + timedelta(days=retention_days()[kind.name])


# --- Blockers -------------------------------------------------------------------


def holds_blocking(*, facility_ids, start, end, now) -> list[str]:
    """Active legal holds whose period touches [start, end)."""
    holds = (
        LegalHold.objects.filter(
            facility_id__in=facility_ids, lifted_at__isnull=True, period_start__lt=end
        )
        .filter(Q(period_end__isnull=True) | Q(period_end__gt=start))
        .select_related("facility")
        .order_by("pk")
    )
    return [f"{hold.facility.code}: {hold_label(hold)}" for hold in holds]


archive_blocker_register(holds_blocking)


def month_blockers(*, facilities: list[Facility], month: date, now) -> list[str]:
    start, end = month_bounds(month)
    ids = [facility.pk for facility in facilities]
    return [
        reason
        for blocker in _BLOCKERS
        for reason in blocker(facility_ids=ids, start=start, end=end, now=now)
    ]


# --- Archiving --------------------------------------------------------------------


@dataclass
class ArchivedKind:
    kind: str
    file: Path
    sha256: str
    bytes: int
    rows: int
    facility_rows: dict[str, int] = field(default_factory=dict)
    dropped_partition: str | None = None
    removed: int = 0
    seconds: dict[str, float] = field(default_factory=dict)  # per step, for the log and bench


@dataclass
class _Source:
    kind: RetentionKind
    relation: str  # the table or partition read
    where: sql.Composable
    whole_partition: bool

    def select(self, what: sql.Composable) -> sql.Composed:
        return sql.SQL("SELECT {} FROM {} WHERE {}").format(
            what, sql.Identifier(self.relation), self.where
        )


def archive_month(
    *,
    month: date,
    facility: Facility | None = None,
    kinds: list[str] | None = None,
    directory: Path | None = None,
    now=None,
    batch: int = DELETE_BATCH,
    after_export: Callable[[Path], None] | None = None,
) -> list[ArchivedKind]:
    """Archives ``month`` of each of ``kinds`` (all registered by default),
    for ``facility`` or every facility; see the module's steps.
    ``after_export(path)`` runs between the export and its verification (the
    tests inject failures there)."""
    now = now or timezone.now()
    names = kinds or sorted(_KINDS)
    unknown = [name for name in names if name not in _KINDS]
    if unknown:
        raise ArchiveRefused(
            f"No such kind of record: {', '.join(unknown)}. Known: {', '.join(sorted(_KINDS))}."
        )
    chosen = [_KINDS[name] for name in names]
    too_young = [
        f"{kind.name}: kept {retention_days()[kind.name]} days after the month ends, "
        f"so archivable from {archivable_from(kind, month):%Y-%m-%d %H:%M} UTC"
        for kind in chosen
        if archivable_from(kind, month) > now
    ]
    if too_young:
        raise ArchiveRefused(f"{month:%Y-%m} is younger than its retention:", too_young)
    facilities = [facility] if facility else list(Facility.objects.order_by("code"))
    blocked = month_blockers(facilities=facilities, month=month, now=now)
    if blocked:
        raise ArchiveRefused(f"{month:%Y-%m} is held; nothing was archived:", blocked)
    sources = [_source(kind, month, facility) for kind in chosen]
    directory = Path(directory or settings.ARCHIVE_DIR)
    done = []
    for source in sources:
        started = time.monotonic()
        exported = _export(source, month, facility, directory, now)
        exported.seconds["export"] = time.monotonic() - started
        if after_export is not None:
            after_export(exported.file)
        started = time.monotonic()
        try:
            _verify(source, exported)
        except ArchiveFailed:
            # Kept for whoever investigates, under a name no restore mistakes for an archive.
            exported.file.rename(exported.file.with_name(exported.file.name + ".failed"))
            raise
        exported.seconds["verify"] = time.monotonic() - started
        started = time.monotonic()
        _commit(source, exported, month, facilities, facility, now)
        exported.seconds["commit"] = time.monotonic() - started
        if not source.whole_partition:
            started = time.monotonic()
            exported.removed = _remove(source, exported, facilities, facility, month, now, batch)
            exported.seconds["remove"] = time.monotonic() - started
        done.append(exported)
    return done


def _source(kind: RetentionKind, month: date, facility: Facility | None) -> _Source:
    start, end = month_bounds(month)
    relation = kind.table
    if kind.partitioned:
        relation = f"{kind.table}_{month:%Y_%m}"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_catalog.pg_has_role(current_user, c.relowner, 'USAGE') "
            "FROM pg_catalog.pg_class c WHERE c.oid = pg_catalog.to_regclass(%s)",
            [f"public.{relation}"],
        )
        row = cursor.fetchone()
    if row is None:
        raise ArchiveRefused(
            f"{kind.name}: there is no {relation} (was {month:%Y-%m} archived already?)."
        )
    if not row[0]:
        raise ArchiveRefused(
            f"{kind.name}: only the owner role may archive {relation}; run archive_month "
            "with the owner's DATABASE_URL (docs/operations.md)."
        )
    where = sql.SQL("{col} >= {start} AND {col} < {end}").format(
        col=sql.Identifier(kind.time_column), start=sql.Literal(start), end=sql.Literal(end)
    )
    if facility is not None:
        where = sql.SQL("{} AND ({}) = {}").format(
            where, sql.SQL(kind.facility_sql), sql.Literal(facility.pk)
        )
    return _Source(kind, relation, where, whole_partition=kind.partitioned and facility is None)


class _Hashing:
    """A write-through file that hashes and counts what passes."""

    def __init__(self, raw):
        self.raw, self.sha, self.size = raw, hashlib.sha256(), 0

    def write(self, data) -> int:
        self.sha.update(data)
        self.size += len(data)
        return self.raw.write(data)

    def flush(self) -> None:
        self.raw.flush()


def _export(
    source: _Source, month: date, facility: Facility | None, directory: Path, now
) -> ArchivedKind:
    suffix = f"_{facility.code}" if facility else ""
    stamp = f"{now.astimezone(UTC):%Y%m%dT%H%M%SZ}"
    stem = f"{source.kind.table}_{month:%Y_%m}{suffix}_{stamp}"
    query = sql.SQL("COPY ({}) TO STDOUT (FORMAT csv, HEADER)").format(source.select(sql.SQL("*")))
    try:
        directory.mkdir(parents=True, exist_ok=True)
        # Never over an earlier file (a run in the same second, a failed run's part).
        path = directory / f"{stem}.csv.gz"
        for again in range(2, 100):
            if not path.exists() and not path.with_name(path.name + ".part").exists():
                break
            path = directory / f"{stem}-{again}.csv.gz"
        part = path.with_name(path.name + ".part")
        with open(part, "xb") as raw:
            hashing = _Hashing(raw)
            with (
                gzip.GzipFile(fileobj=hashing, mode="wb", compresslevel=GZIP_LEVEL, mtime=0) as gz,
                connection.cursor() as cursor,
            ):
                # COPY sends a message per row: gather them, one compress call a MiB.
                buffer = bytearray()
                with cursor.cursor.copy(query) as copy:
                    for block in copy:
                        buffer += block
                        if len(buffer) >= READ_CHUNK:
                            gz.write(buffer)
                            buffer.clear()
                gz.write(buffer)
                rows = cursor.cursor.rowcount
            raw.flush()
            os.fsync(raw.fileno())
        if path.exists():
            raise FileExistsError(f"{path} exists already")
        part.rename(path)
    except OSError as exc:
        raise ArchiveFailed(
            f"{source.kind.name}: the export to {directory} failed ({exc}); nothing was removed."
        ) from exc
    return ArchivedKind(
        kind=source.kind.name,
        file=path,
        sha256=hashing.sha.hexdigest(),
        bytes=hashing.size,
        rows=rows,
    )


def csv_rows(stream) -> int:
    """Rows of a CSV stream (header excluded) without parsing fields: a line
    ends a row unless it is inside quotes (a doubled quote toggles twice)."""
    newlines, quoted = 0, False
    while chunk := stream.read(READ_CHUNK):
        if not quoted and b'"' not in chunk:
            newlines += chunk.count(b"\n")
            continue
        for index, piece in enumerate(chunk.split(b'"')):
            if index:
                quoted = not quoted
            if not quoted:
                newlines += piece.count(b"\n")
    return max(newlines - 1, 0)


def _verify(source: _Source, exported: ArchivedKind) -> None:
    name = source.kind.name
    try:
        sha = hashlib.sha256()
        with open(exported.file, "rb") as raw:
            while chunk := raw.read(READ_CHUNK):
                sha.update(chunk)
        with gzip.open(exported.file, "rb") as stream:
            rows = csv_rows(stream)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise ArchiveFailed(f"{name}: {exported.file} cannot be read back ({exc}).") from exc
    if sha.hexdigest() != exported.sha256:
        raise ArchiveFailed(
            f"{name}: {exported.file} does not hash to what was written "
            f"({sha.hexdigest()} != {exported.sha256}); nothing was removed."
        )
    if rows != exported.rows:
        raise ArchiveFailed(
            f"{name}: {exported.file} holds {rows} rows, the export wrote {exported.rows}; "
            "nothing was removed."
        )
    with connection.cursor() as cursor:
        cursor.execute(
            source.select(
                sql.SQL("({})::bigint, count(*)").format(sql.SQL(source.kind.facility_sql))
            ).as_string(cursor.cursor.connection)
            + " GROUP BY 1"
        )
        per_facility = dict(cursor.fetchall())
    if sum(per_facility.values()) != rows:
        raise ArchiveFailed(
            f"{name}: the database holds {sum(per_facility.values())} rows of the month, "
            f"the file {rows}; nothing was removed."
        )
    codes = dict(Facility.chain_owners.values_list("pk", "code"))
    exported.facility_rows = {
        codes.get(pk, "-"): count for pk, count in per_facility.items() if pk is not None
    }


def _prepare_alter(cursor) -> None:
    # ALTER TABLE refuses a table with deferred checks pending in this
    # transaction (only a caller's transaction has any: tests, a shell).
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")


def _count_locked(source: _Source, cursor) -> int:
    _prepare_alter(cursor)
    cursor.execute(
        sql.SQL("LOCK TABLE {} IN SHARE MODE")
        .format(sql.Identifier(source.relation))
        .as_string(cursor.cursor.connection)
    )
    cursor.execute(source.select(sql.SQL("count(*)")).as_string(cursor.cursor.connection))
    return cursor.fetchone()[0]


def _record(exported: ArchivedKind, facilities, facility, month: date, now, action: str, **extra):
    scope = facility.code if facility else "all"
    for each in facilities:
        ledger_append(
            facility=each,
            actor=None,
            action=action,
            subject=f"archive:{exported.kind}:{month:%Y-%m}",
            data={
                "kind": exported.kind,
                "month": f"{month:%Y-%m}",
                "scope": scope,
                "file": exported.file.name,
                "sha256": exported.sha256,
                "bytes": exported.bytes,
                "rows": exported.rows,
                "facility_rows": exported.facility_rows.get(each.code, 0),
                **extra,
            },
            at=now,
        )


def _commit(source: _Source, exported, month, facilities, facility, now) -> None:
    """Records the verified export and, for a whole partition, detaches and
    drops it: one transaction, so a refusal or a lock timeout changes nothing."""
    with transaction.atomic(), connection.cursor() as cursor:
        counted = _count_locked(source, cursor)
        if counted != exported.rows:
            raise ArchiveFailed(
                f"{source.kind.name}: {counted} rows now, {exported.rows} exported: "
                "rows changed during the export; run it again."
            )
        # A hold placed (or an alert opened) during the export counts: holds
        # wait for this transaction, so none slips in between check and drop.
        cursor.execute("LOCK TABLE custody_legalhold IN SHARE MODE")
        blocked = month_blockers(facilities=facilities, month=month, now=timezone.now())
        if blocked:
            raise ArchiveRefused(
                f"{month:%Y-%m} was held during the export; nothing was removed:", blocked
            )
        _record(exported, facilities, facility, month, now, "archive.exported")
        if source.whole_partition:
            parent, partition = (sql.Identifier(source.kind.table), sql.Identifier(source.relation))
            raw = cursor.cursor.connection
            cursor.execute(
                sql.SQL("ALTER TABLE {} DETACH PARTITION {}")
                .format(parent, partition)
                .as_string(raw)
            )
            cursor.execute(sql.SQL("DROP TABLE {}").format(partition).as_string(raw))
            exported.dropped_partition = source.relation


def _remove(source: _Source, exported, facilities, facility, month, now, batch: int) -> int:
    """Deletes the archived rows in batches, each with the guards off only
    inside its own transaction. A month's partition is walked once by block
    ranges (a TID range scan: each batch reads only its blocks, however many
    rows went before); a table with indexes on time goes ``batch`` rows at a
    time."""
    table = sql.Identifier(source.relation)
    removed = 0
    if source.kind.partitioned:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_catalog.pg_relation_size(pg_catalog.to_regclass(%s)) "
                "/ current_setting('block_size')::bigint",
                [f"public.{source.relation}"],
            )
            blocks = cursor.fetchone()[0]
        step = max(1, batch // ROWS_PER_BLOCK)
        for first in range(0, blocks, step):
            tids = sql.SQL("ctid >= {}::tid AND ctid < {}::tid AND {}").format(
                sql.Literal(f"({first},0)"), sql.Literal(f"({first + step},0)"), source.where
            )
            removed += _delete_batch(
                source, table, sql.SQL("DELETE FROM {} WHERE {}").format(table, tids)
            )
    else:
        query = sql.SQL("DELETE FROM {t} WHERE ctid = ANY(ARRAY({rows} LIMIT {n}))").format(
            t=table, rows=source.select(sql.SQL("ctid")), n=sql.Literal(batch)
        )
        while (deleted := _delete_batch(source, table, query)) >= batch:
            removed += deleted
        removed += deleted
    with transaction.atomic():
        _record(exported, facilities, facility, month, now, "archive.removed", removed=removed)
    return removed


def _delete_batch(source: _Source, table, query) -> int:
    with transaction.atomic(), connection.cursor() as cursor:
        raw = cursor.cursor.connection
        _prepare_alter(cursor)
        for guard in source.kind.guards:
            cursor.execute(
                sql.SQL("ALTER TABLE {} DISABLE TRIGGER {}")
                .format(table, sql.Identifier(guard))
                .as_string(raw)
            )
        cursor.execute(query.as_string(raw))
        deleted = cursor.rowcount
        for guard in source.kind.guards:
            cursor.execute(
                sql.SQL("ALTER TABLE {} ENABLE TRIGGER {}")
                .format(table, sql.Identifier(guard))
                .as_string(raw)
            )
    return deleted


# --- The kinds of this app ---------------------------------------------------------

retention_kind_register(
    RetentionKind(
        name="checkins",
        table="custody_checkin",
        time_column="observed_at",
        default_days=730,
        guards=("custody_append_only",),
        partitioned=True,
    )
)
retention_kind_register(
    RetentionKind(
        name="quarantine",
        table="custody_quarantinedcheckin",
        time_column="received_at",
        default_days=730,
        guards=("custody_append_only",),
    )
)
