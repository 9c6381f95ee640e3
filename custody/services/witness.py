"""The ledger's witness: chain heads signed outside the database (invariant 11).

The hash chain alone proves nothing against someone who can rewrite the
events *and* recompute every hash and the head. So every few minutes each
chain head (facility, seq, hash, time) is signed with an Ed25519 key that lives
in a file, never in the database, and appended to an append-only JSON-lines
file per facility. A chain rewritten consistently inside the database then no
longer matches the head witnessed before: verification names the first
witnessed seq whose hash changed, or a chain now shorter than a witnessed seq.

The signed text is canonical JSON (as the chain hashes it) of
``{"kind": "custody.ledger_head", "facility", "seq", "hash", "at"}``; a line
adds ``public_key`` and ``signature`` (both hex). A line is trusted only if its
signature verifies *and* its key is the configured one or a retired key listed
in ``LEDGER_WITNESS_TRUSTED_KEYS``: anyone can sign with a key of their own.
"""

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from custody.models import GENESIS_HASH, Facility, LedgerEvent, LedgerHead
from custody.models.records import CODE_VALIDATOR
from custody.services.ledger import (
    LedgerVerification,
    canonical_json,
    canonical_time,
    ledger_verify,
)

logger = logging.getLogger(__name__)

HEAD_KIND = "custody.ledger_head"
# A head that has not moved is signed again at least this often, so a rollback
# to it and a silent witness cannot be told apart for long.
REWITNESS_UNMOVED = timedelta(hours=1)
# The last witness line is looked for in this much of the file's end.
TAIL_BYTES = 64 * 1024


class WitnessKeyError(Exception):
    """The signing key file is missing, unreadable or not an Ed25519 key."""


# --- The key -------------------------------------------------------------------


def signing_key_load() -> Ed25519PrivateKey | None:
    """The key named by ``LEDGER_SIGNING_KEY_FILE``, read now (a rotated key is
    picked up without a restart); None when witnessing is off."""
    path = settings.LEDGER_SIGNING_KEY_FILE
    if not path:
        return None
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise WitnessKeyError(f"{path}: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise WitnessKeyError(f"{path}: not an Ed25519 private key")
    return key


def public_key_hex(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(
        encoding=serialization.Encoding.Raw, format=serialization.PublicFormat.Raw
    ).hex()


def signing_key_create(path: str | Path) -> str:
    """Writes a new key readable by its owner only; never overwrites a file
    (a lost key would orphan every line it signed). Returns its public key."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, pem)
        os.fsync(fd)
    finally:
        os.close(fd)
    return public_key_hex(key)


def witness_public_key() -> str | None:
    """The configured key's public half (hex), None when witnessing is off;
    a broken key file raises ``WitnessKeyError``."""
    key = signing_key_load()
    return public_key_hex(key) if key else None


def trusted_keys(key: Ed25519PrivateKey | None = None) -> frozenset[str]:
    """Public keys (hex) whose witness lines are believed: the signing key's
    own, and ``LEDGER_WITNESS_TRUSTED_KEYS`` (retired keys; or the current one
    for a web process that should not hold the private key)."""
    keys = {k.strip().lower() for k in settings.LEDGER_WITNESS_TRUSTED_KEYS if k.strip()}
    try:
        key = key or signing_key_load()
    except WitnessKeyError as exc:
        logger.error("ledger signing key unusable: %s", exc)
    if key is not None:
        keys.add(public_key_hex(key))
    return frozenset(keys)


# --- Lines -----------------------------------------------------------------------


def head_message(*, facility: str, seq: int, hash: str, at: str) -> bytes:
    """The exact bytes signed: canonical JSON, UTF-8."""
    return canonical_json(
        {"kind": HEAD_KIND, "facility": facility, "seq": seq, "hash": hash, "at": at}
    ).encode()


def witness_line_sign(key: Ed25519PrivateKey, *, facility: str, seq: int, hash: str, at) -> dict:
    at_text = canonical_time(at)
    message = head_message(facility=facility, seq=seq, hash=hash, at=at_text)
    return {
        "facility": facility,
        "seq": seq,
        "hash": hash,
        "at": at_text,
        "public_key": public_key_hex(key),
        "signature": key.sign(message).hex(),
    }


@dataclass(frozen=True)
class WitnessLine:
    facility: str
    seq: int
    hash: str
    at: str
    public_key: str


def witness_line_check(record, trusted: frozenset[str]) -> WitnessLine | None:
    """The line if its signature holds under a trusted key, else None."""
    try:
        line = WitnessLine(
            facility=str(record["facility"]),
            seq=int(record["seq"]),
            hash=str(record["hash"]),
            at=str(record["at"]),
            public_key=str(record["public_key"]).lower(),
        )
        if type(record["seq"]) is not int or line.public_key not in trusted:
            return None
        public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(line.public_key))
        message = head_message(facility=line.facility, seq=line.seq, hash=line.hash, at=line.at)
        public.verify(bytes.fromhex(str(record["signature"])), message)
    except (KeyError, TypeError, ValueError, InvalidSignature):
        return None
    return line


def witness_path(facility_code: str) -> Path:
    """``<code>.jsonl`` in ``LEDGER_WITNESS_DIR``; a code that is no safe file
    name (a reserved chain's, say) is named by its hash instead, never "../"."""
    try:
        CODE_VALIDATOR(facility_code)
        name = facility_code
    except ValidationError:
        name = "_" + hashlib.sha256(facility_code.encode()).hexdigest()[:32]
    return Path(settings.LEDGER_WITNESS_DIR) / f"{name}.jsonl"


def witness_append(path: Path, line: dict) -> None:
    """Appends one line and makes it durable; the file is never rewritten."""
    created = not path.exists()
    path.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
    data = (json.dumps(line, sort_keys=True, separators=(",", ":")) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:  # the new name must survive a crash too
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


@dataclass
class WitnessRead:
    # seq -> every trusted hash witnessed at it (two mean the chain forked)
    heads: dict[int, set[str]] = field(default_factory=dict)
    trusted: int = 0
    untrusted: list[str] = field(default_factory=list)  # "file:line" of each refused line


def witness_read(paths, *, facility_code: str, trusted: frozenset[str]) -> WitnessRead:
    """Every line about ``facility_code`` in ``paths``: trusted ones collected
    by seq, the others (bad signature, unknown key, garbage) named."""
    read = WitnessRead()
    for path in paths:
        path = Path(path)
        if not path.exists():
            continue
        with path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                if not raw.strip():
                    continue
                try:
                    record = json.loads(raw)
                except ValueError:
                    record = None
                if isinstance(record, dict) and record.get("facility") != facility_code:
                    continue  # another chain's line in a shared file
                line = witness_line_check(record, trusted) if isinstance(record, dict) else None
                if line is None:
                    read.untrusted.append(f"{path.name}:{number}")
                    continue
                read.heads.setdefault(line.seq, set()).add(line.hash)
                read.trusted += 1
    return read


def witness_last(path: Path, *, facility_code: str, trusted: frozenset[str]) -> WitnessLine | None:
    """The newest trusted line, read from the file's end."""
    if not path.exists():
        return None
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(size - TAIL_BYTES, 0))
        lines = handle.read().splitlines()
    if size > TAIL_BYTES:
        lines = lines[1:]  # the first may be cut in half
    for raw in reversed(lines):
        try:
            record = json.loads(raw)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("facility") == facility_code:
            line = witness_line_check(record, trusted)
            if line is not None:
                return line
    return None


# --- Verification against the witness ------------------------------------------


def ledger_verify_witnessed(*, facility: Facility, witness_files=None) -> LedgerVerification:
    """``ledger_verify`` and every trusted head in the witness files (the
    facility's file under ``LEDGER_WITNESS_DIR`` by default): a rewrite that
    recomputed every hash is named at the first witnessed seq it changed."""
    paths = witness_files if witness_files is not None else [witness_path(facility.code)]
    read = witness_read(paths, facility_code=facility.code, trusted=trusted_keys())
    result = ledger_verify(facility=facility, witnessed=read.heads)
    return replace(result, witness_lines=read.trusted, untrusted_lines=len(read.untrusted))


# --- The periodic witness ----------------------------------------------------------


@dataclass(frozen=True)
class WitnessOutcome:
    facility: Facility
    line: dict | None  # what was signed this time (None: skipped)
    broken: LedgerVerification | None  # the chain no longer holds its last witness


def ledger_heads_witness(*, now: datetime | None = None) -> list[WitnessOutcome] | None:
    """Signs every chain head (one per ``LedgerHead``, so every chain there is)
    and appends it to its witness file; None when no key is configured.

    Before signing, the chain must still hold the last witnessed head (the
    event at that seq has that hash, and the head has not gone back): two
    indexed reads that catch any rewrite up to that point, recomputed or not.
    A failure is verified in full for the outcome, and signed all the same:
    the old lines keep the break on the record, and new ones keep watching."""
    key = signing_key_load()
    if key is None:
        logger.warning("LEDGER_SIGNING_KEY_FILE is not set: ledger heads are not witnessed")
        return None
    now = now or timezone.now()
    trusted = trusted_keys(key)
    outcomes = []
    for head in LedgerHead.objects.select_related("facility").order_by("facility__code"):
        try:
            outcomes.append(_witness_one(head, key, trusted, now))
        except Exception:  # one chain's trouble (a full disk?) must not silence the others
            logger.exception("could not witness the ledger head of %s", head.facility.code)
    return outcomes


def _witness_one(head: LedgerHead, key, trusted, now) -> WitnessOutcome:
    facility = head.facility
    path = witness_path(facility.code)
    last = witness_last(path, facility_code=facility.code, trusted=trusted)
    broken = None
    if last is not None and not _still_holds(head, last):
        result = ledger_verify_witnessed(facility=facility)
        broken = result if not result.ok else None
    unmoved = last is not None and (last.seq, last.hash) == (head.seq, head.hash)
    if unmoved and now - datetime.fromisoformat(last.at) < REWITNESS_UNMOVED:
        return WitnessOutcome(facility, None, broken)
    line = witness_line_sign(key, facility=facility.code, seq=head.seq, hash=head.hash, at=now)
    witness_append(path, line)
    return WitnessOutcome(facility, line, broken)


def _still_holds(head: LedgerHead, last: WitnessLine) -> bool:
    if head.seq < last.seq:
        return False
    hashes = {0: GENESIS_HASH}
    hashes.update(
        LedgerEvent.objects.filter(
            facility_id=head.facility_id, seq__in={last.seq, head.seq}
        ).values_list("seq", "hash")
    )
    return hashes.get(last.seq) == last.hash and hashes.get(head.seq) == head.hash
