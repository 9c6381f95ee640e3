"""``archive_month [FACILITY] YYYY-MM``: export a month to gzip CSV, verify it,
record its SHA-256 in the ledger, and only then remove it from the database.

Run as the owner role (the one that migrates). Exit status 1, with nothing
changed, when the month is younger than its retention, held (a legal hold,
an open or recent alert: each is named), or the export or its verification
fails. See ``custody.services.retention`` and docs/operations.md.
"""

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from custody.models import Facility
from custody.services.retention import (
    ArchiveFailed,
    ArchiveRefused,
    archive_month,
    month_parse,
    retention_days,
)


class Command(BaseCommand):
    help = (
        "Archive one month (of one facility, or all) of every kind of record whose "
        "retention has passed: export, verify, record in the ledger, then remove."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "where",
            nargs="+",
            metavar="[FACILITY] YYYY-MM",
            help="Facility code (optional), month.",
        )
        parser.add_argument(
            "--kind",
            action="append",
            dest="kinds",
            metavar="KIND",
            help="A kind of record; repeat for several. Every kind by default.",
        )
        parser.add_argument(
            "--dir", dest="directory", type=Path, help="Where to write the files (ARCHIVE_DIR)."
        )
        parser.add_argument(
            "--batch", type=int, default=10_000, help="Rows deleted per transaction (10000)."
        )

    def handle(self, *args, where, kinds=None, directory=None, batch=10_000, **options):
        if len(where) > 2:
            raise CommandError("Give at most a facility code and a month: [FACILITY] YYYY-MM.")
        if not 100 <= batch <= 1_000_000:
            raise CommandError("--batch must be between 100 and 1000000.")
        try:
            month = month_parse(where[-1])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        facility = None
        if len(where) == 2:
            facility = Facility.objects.filter(code=where[0]).first()
            if facility is None:
                raise CommandError(f"No facility with code {where[0]!r}.")
        try:
            retention_days()
            done = archive_month(
                month=month, facility=facility, kinds=kinds, directory=directory, batch=batch
            )
        except (ArchiveRefused, ArchiveFailed, ImproperlyConfigured) as exc:
            raise CommandError(str(exc)) from None
        for item in done:
            line = (
                f"{item.kind} {month:%Y-%m}: {item.rows} rows -> {item.file} "
                f"({item.bytes} bytes, sha256 {item.sha256})"
            )
            if item.dropped_partition:
                line += f"; partition {item.dropped_partition} detached and dropped"
            elif item.removed or item.rows:
                line += f"; {item.removed} rows removed"
            steps = ", ".join(f"{step} {seconds:.2f} s" for step, seconds in item.seconds.items())
            self.stdout.write(f"{line} ({steps})")
