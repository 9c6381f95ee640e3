#!/usr/bin/env python3
"""Re-verify a custody ledger chain exported as CSV, with nothing but Python.

    python3 verify_ledger_chain.py chain.csv
    python3 verify_ledger_chain.py chain.csv --witness witness.jsonl --public-key HEX

Each row's hash must equal sha256(previous hash + canonical event), where the
canonical event is the JSON object {facility, seq, at, actor, action, subject,
data} with sorted keys, no spaces, UTF-8, and the time in UTC exactly as the
``at`` column gives it. The first row's previous hash is 64 zeros, and the
sequence runs 1, 2, 3... without gaps. Prints the head hash when the chain is
whole, else the first broken link; exits 0 or 1.

With ``--witness``, every line of the witness file (chain heads signed outside
the service's database) must carry a valid Ed25519 signature by a trusted
public key, and each witnessed (seq, hash) must be the hash at that seq in the
file: a chain rewritten with every hash recomputed is named broken at the first
witnessed seq it changed. Trusted keys are those given with ``--public-key``
(the key published to you, best), else those in ``public_keys.txt`` next to the
witness file (as the export ships them). The signed text is the canonical JSON
of {"kind": "custody.ledger_head", "facility", "seq", "hash", "at"}.
Signatures are checked by the pure-Python RFC 8032 code below, or by the
``cryptography`` package when it is installed (the same answer, faster).
"""

import argparse
import csv
import hashlib
import json
import sys
from pathlib import Path

GENESIS = "0" * 64
HEAD_KIND = "custody.ledger_head"

# --- Ed25519 verification (RFC 8032, section 5.1.7), pure Python ---------------
_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)


def _add(p1, p2):
    # Points in extended coordinates (X, Y, Z, T), x = X/Z, y = Y/Z, xy = T/Z.
    x1, y1, z1, t1 = p1
    x2, y2, z2, t2 = p2
    a = (y1 - x1) * (y2 - x2) % _P
    b = (y1 + x1) * (y2 + x2) % _P
    c = 2 * t1 * t2 * _D % _P
    d = 2 * z1 * z2 % _P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _multiply(scalar, point):
    result = (0, 1, 1, 0)
    while scalar > 0:
        if scalar & 1:
            result = _add(result, point)
        point = _add(point, point)
        scalar >>= 1
    return result


def _same(p1, p2):
    x1, y1, z1, _ = p1
    x2, y2, z2, _ = p2
    return (x1 * z2 - x2 * z1) % _P == 0 and (y1 * z2 - y2 * z1) % _P == 0


def _recover_x(y, sign):
    if y >= _P:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P:
        return None
    if (x & 1) != sign:
        x = _P - x
    return x


def _decompress(data: bytes):
    if len(data) != 32:
        return None
    y = int.from_bytes(data, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % _P)


_GY = 4 * pow(5, _P - 2, _P) % _P
_GX = _recover_x(_GY, 0)
_G = (_GX, _GY, 1, _GX * _GY % _P)


def ed25519_verify_pure(public: bytes, message: bytes, signature: bytes) -> bool:
    if len(public) != 32 or len(signature) != 64:
        return False
    a = _decompress(public)
    r = _decompress(signature[:32])
    if a is None or r is None:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= _L:
        return False
    k = int.from_bytes(hashlib.sha512(signature[:32] + public + message).digest(), "little")
    return _same(_multiply(s, _G), _add(r, _multiply(k % _L, a)))


def _ed25519_verify_fast():
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    except ImportError:
        return None

    def verify(public: bytes, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True

    return verify


ed25519_verify = _ed25519_verify_fast() or ed25519_verify_pure
SIGNATURES_BY = "cryptography" if ed25519_verify is not ed25519_verify_pure else "pure Python"


# --- The chain ---------------------------------------------------------------------


def canonical_json(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical(row: dict) -> str:
    event = {
        "facility": row["facility"],
        "seq": int(row["seq"]),
        "at": row["at"],
        "actor": row["actor"],
        "action": row["action"],
        "subject": row["subject"],
        "data": json.loads(row["data"]),
    }
    return canonical_json(event)


def verify(rows, witnessed=None) -> tuple[bool, int, str, str]:
    """(ok, events checked, last good hash, what is wrong). ``witnessed`` maps
    seq -> set of signed hashes; each must be the hash at its seq."""
    witnessed = witnessed or {}
    prev_hash, expected_seq, count = GENESIS, 1, 0
    for row in rows:
        seq = int(row["seq"])
        if seq != expected_seq:
            return False, count, prev_hash, f"seq {expected_seq}: missing event"
        if row["prev_hash"] != prev_hash:
            return False, count, prev_hash, f"seq {seq}: previous hash does not match"
        digest = hashlib.sha256((prev_hash + canonical(row)).encode()).hexdigest()
        if digest != row["hash"]:
            return False, count, prev_hash, f"seq {seq}: event content was changed"
        if seq in witnessed and witnessed[seq] != {digest}:
            return False, count, prev_hash, f"seq {seq}: not the witnessed hash"
        prev_hash, expected_seq, count = digest, seq + 1, count + 1
    return True, count, prev_hash, ""


def head_message(line: dict) -> bytes:
    return canonical_json(
        {
            "kind": HEAD_KIND,
            "facility": line["facility"],
            "seq": line["seq"],
            "hash": line["hash"],
            "at": line["at"],
        }
    ).encode()


def read_witness(path: str, facility: str, trusted: set[str]):
    """(seq -> trusted hashes, trusted line count, refused line numbers)."""
    heads, good, refused = {}, 0, []
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                line = json.loads(raw)
                if line.get("facility") != facility:
                    continue
                public_key = str(line["public_key"]).lower()
                ok = (
                    type(line["seq"]) is int
                    and public_key in trusted
                    and ed25519_verify(
                        bytes.fromhex(public_key),
                        head_message(line),
                        bytes.fromhex(line["signature"]),
                    )
                )
            except (ValueError, KeyError, TypeError, AttributeError):
                ok = False
            if not ok:
                refused.append(number)
                continue
            heads.setdefault(line["seq"], set()).add(line["hash"])
            good += 1
    return heads, good, refused


def trusted_keys(given: list[str], witness: str) -> tuple[set[str], str]:
    if given:
        return {key.strip().lower() for key in given}, "given"
    shipped = Path(witness).with_name("public_keys.txt")
    if shipped.exists():
        keys = {
            line.strip().lower()
            for line in shipped.read_text().splitlines()
            if line.strip() and not line.startswith("#")
        }
        return keys, shipped.name
    return set(), "none"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Re-verify an exported custody ledger chain.")
    parser.add_argument("chain", help="The chain exported as CSV.")
    parser.add_argument("--witness", help="Signed chain heads (JSON lines) to check against.")
    parser.add_argument(
        "--public-key", action="append", default=[], help="Trusted public key (hex); repeatable."
    )
    args = parser.parse_args(argv)
    with open(args.chain, newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    witnessed, good, refused, beyond = {}, 0, [], []
    if args.witness:
        keys, source = trusted_keys(args.public_key, args.witness)
        facility = rows[0]["facility"] if rows else ""
        witnessed, good, refused = read_witness(args.witness, facility, keys)
        last = int(rows[-1]["seq"]) if rows else 0
        beyond = [seq for seq in witnessed if seq > last]
        witnessed = {seq: hashes for seq, hashes in witnessed.items() if seq <= last}
        print(f"Witness: trusting {len(keys)} key(s) ({source}); signatures by {SIGNATURES_BY}")
    ok, count, head, problem = verify(rows, witnessed)
    if ok:
        print(f"OK: {count} events, head {head}")
    else:
        print(f"BROKEN after {count} good events: {problem}")
    if args.witness:
        print(f"Witness: {good} signed heads checked, {len(beyond)} after the end of this file")
        if refused:
            lines = ", ".join(map(str, refused[:10])) + (" ..." if len(refused) > 10 else "")
            print(f"REFUSED witness lines (bad signature or untrusted key): {lines}")
    return 0 if ok and not refused else 1


if __name__ == "__main__":
    sys.exit(main())
