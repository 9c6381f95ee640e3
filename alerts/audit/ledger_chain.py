"""A facility's ledger chain as CSV, so that anyone can re-verify it.

The columns hold exactly what was hashed (the time in UTC as the chain writes
it, ``data`` as canonical JSON); ``static/audit/verify_ledger_chain.py``
recomputes the chain from the file alone.
"""

import csv
import io

from custody.selectors import ledger_chain
from custody.services.ledger import canonical_json, canonical_time

CHAIN_COLUMNS = ("facility", "seq", "at", "actor", "action", "subject", "data", "prev_hash", "hash")


def chain_csv_lines(*, facility, up_to_seq: int):
    """The CSV a line at a time (a chain can have millions of events)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(values) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(values)
        return buffer.getvalue()

    yield "\ufeff" + line(CHAIN_COLUMNS)
    rows = ledger_chain(facility=facility, up_to_seq=up_to_seq)
    for seq, at, actor, action, subject, data, prev_hash, digest in rows.iterator(chunk_size=5000):
        yield line(
            (
                facility.code,
                seq,
                canonical_time(at),
                actor,
                action,
                subject,
                canonical_json(data),
                prev_hash,
                digest,
            )
        )
