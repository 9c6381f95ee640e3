#!/usr/bin/env python3
"""Re-verify a custody ledger chain exported as CSV, with nothing but Python.

    python3 verify_ledger_chain.py chain.csv

Each row's hash must equal sha256(previous hash + canonical event), where the
canonical event is the JSON object {facility, seq, at, actor, action, subject,
data} with sorted keys, no spaces, UTF-8, and the time in UTC exactly as the
``at`` column gives it. The first row's previous hash is 64 zeros, and the
sequence runs 1, 2, 3... without gaps. Prints the head hash when the chain is
whole, else the first broken link; exits 0 or 1.
"""

import csv
import hashlib
import json
import sys

GENESIS = "0" * 64


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
    return json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def verify(rows) -> tuple[bool, int, str, str]:
    """(ok, events checked, last good hash, what is wrong)."""
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
        prev_hash, expected_seq, count = digest, seq + 1, count + 1
    return True, count, prev_hash, ""


def main(path: str) -> int:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        ok, count, head, problem = verify(csv.DictReader(handle))
    if ok:
        print(f"OK: {count} events, head {head}")
        return 0
    print(f"BROKEN after {count} good events: {problem}")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
