"""A facility's chain as a bundle anyone can re-verify without this service.

The zip holds ``chain.csv`` (exactly what was hashed: the time in UTC as the
chain writes it, ``data`` as canonical JSON), ``witness.jsonl`` (the heads
signed outside the database, up to the exported seq), ``public_keys.txt`` (the
keys those lines are trusted under) and ``verify_ledger_chain.py``, the
stdlib-only verifier that checks all of it.
"""

import csv
import io
import json
import os
import zipfile
from pathlib import Path

from django.conf import settings
from django.contrib.staticfiles import finders

from custody.selectors import ledger_chain
from custody.services.ledger import canonical_json, canonical_time
from custody.services.witness import trusted_keys, witness_path

CHAIN_COLUMNS = ("facility", "seq", "at", "actor", "action", "subject", "data", "prev_hash", "hash")
VERIFIER = "audit/verify_ledger_chain.py"

README = """Custody ledger chain of {code}, events 1 to {seq}.

Verify it with Python 3 alone (nothing to install):

    python3 verify_ledger_chain.py chain.csv --witness witness.jsonl --public-key KEY

KEY is the witness public key published to you by the service's operators
(the ledger page shows it too). Without --public-key the verifier trusts the
keys in public_keys.txt, which came with this file: compare them with the
published key first. The head hash printed must match the one you were given.
"""


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


def _witness_lines(code: str, up_to_seq: int):
    path = witness_path(code)
    if not path.exists():
        return
    with path.open("rb") as handle:
        for raw in handle:
            try:
                seq = json.loads(raw).get("seq")
            except (ValueError, AttributeError):
                seq = None  # kept: the verifier names what it refuses
            if not isinstance(seq, int) or seq <= up_to_seq:
                yield raw


def ledger_export_write(*, facility, up_to_seq: int, name: str) -> Path:
    """Writes the bundle under ``LEDGER_EXPORT_DIR`` (whole, or not at all:
    it appears under its name only once complete) and returns its path."""
    folder = Path(settings.LEDGER_EXPORT_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    final, partial = folder / name, folder / f"{name}.part"
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        with bundle.open("chain.csv", "w") as out:
            for text in chain_csv_lines(facility=facility, up_to_seq=up_to_seq):
                out.write(text.encode())
        with bundle.open("witness.jsonl", "w") as out:
            for raw in _witness_lines(facility.code, up_to_seq):
                out.write(raw if raw.endswith(b"\n") else raw + b"\n")
        keys = sorted(trusted_keys())
        bundle.writestr("public_keys.txt", "".join(f"{key}\n" for key in keys))
        verifier = finders.find(VERIFIER)
        if verifier:
            bundle.write(verifier, "verify_ledger_chain.py")
        bundle.writestr("README.txt", README.format(code=facility.code, seq=up_to_seq))
    os.replace(partial, final)
    return final
