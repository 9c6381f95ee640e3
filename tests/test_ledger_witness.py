"""The chain witnessed outside the database (invariant 11): heads signed with a
key the database never holds, kept in an append-only file, and a chain
rewritten consistently inside the database named broken at the first
witnessed seq it changed, by the service, the command, the API and an
outside script; a forged witness line is refused, never trusted."""

import importlib.util
import json
import os
import stat
import subprocess
import sys
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
import time_machine
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import CommandError, call_command
from django.utils import timezone, translation

from alerts.services.ledger_broken import ledgers_witness_run
from custody.models import GENESIS_HASH, LedgerEvent, LedgerHead
from custody.services.ledger import canonical_event, chain_hash, ledger_verify
from custody.services.witness import (
    head_message,
    ledger_heads_witness,
    ledger_verify_witnessed,
    public_key_hex,
    signing_key_create,
    witness_line_sign,
    witness_path,
)
from tests.test_ledger import append, triggers_off

pytestmark = pytest.mark.django_db

VERIFIER = Path(__file__).resolve().parents[1] / "alerts/static/audit/verify_ledger_chain.py"


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def witness_lines(facility) -> list[dict]:
    path = witness_path(facility.code)
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def rewrite_consistently(facility, seq: int, data: dict) -> None:
    """What the database's owner can do unseen by the chain alone: rewrite one
    event, recompute every hash after it, and move the head to match."""
    prev = GENESIS_HASH
    with triggers_off() as cursor:
        for event in LedgerEvent.objects.filter(facility=facility).order_by("seq"):
            if event.seq >= seq:
                new_data = data if event.seq == seq else event.data
                digest = chain_hash(
                    prev,
                    canonical_event(
                        facility_code=facility.code,
                        seq=event.seq,
                        at=event.at,
                        actor=event.actor,
                        action=event.action,
                        subject=event.subject,
                        data=new_data,
                    ),
                )
                cursor.execute(
                    "UPDATE custody_ledgerevent SET data = %s, prev_hash = %s, hash = %s "
                    "WHERE facility_id = %s AND seq = %s",
                    [json.dumps(new_data), prev, digest, facility.pk, event.seq],
                )
                prev = digest
            else:
                prev = event.hash
        cursor.execute(
            "UPDATE custody_ledgerhead SET hash = %s WHERE facility_id = %s", [prev, facility.pk]
        )


def cut_back_consistently(facility, keep: int) -> None:
    """Events after ``keep`` deleted and the head moved back with them."""
    kept = LedgerEvent.objects.get(facility=facility, seq=keep).hash
    with triggers_off() as cursor:
        cursor.execute(
            "DELETE FROM custody_ledgerevent WHERE facility_id = %s AND seq > %s",
            [facility.pk, keep],
        )
        cursor.execute(
            "UPDATE custody_ledgerhead SET seq = %s, hash = %s WHERE facility_id = %s",
            [keep, kept, facility.pk],
        )


# --- The key ----------------------------------------------------------------------


def test_the_key_command_writes_a_private_key_only_its_owner_reads_and_never_overwrites(
    tmp_path,
):
    path = tmp_path / "key.pem"
    out = StringIO()
    call_command("create_ledger_signing_key", str(path), stdout=out, stderr=StringIO())
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert b"PRIVATE KEY" in path.read_bytes()
    public_key = out.getvalue().strip()
    assert len(public_key) == 64 and int(public_key, 16) >= 0
    before = path.read_bytes()
    with pytest.raises(CommandError, match="never overwritten"):
        call_command("create_ledger_signing_key", str(path), stdout=StringIO())
    assert path.read_bytes() == before


def test_the_deployment_check_wants_a_key_or_at_least_the_public_keys(settings, tmp_path):
    from custody.checks import ledger_witness_key

    settings.LEDGER_SIGNING_KEY_FILE, settings.LEDGER_WITNESS_TRUSTED_KEYS = "", []
    assert [m.id for m in ledger_witness_key()] == ["custody.W001"]
    # A web process that only verifies holds the public key, not the private one.
    settings.LEDGER_WITNESS_TRUSTED_KEYS = ["ab" * 32]
    assert ledger_witness_key() == []
    settings.LEDGER_SIGNING_KEY_FILE = str(tmp_path / "missing.pem")
    assert [m.id for m in ledger_witness_key()] == ["custody.E001"]
    settings.LEDGER_SIGNING_KEY_FILE = str(tmp_path / "key.pem")
    signing_key_create(settings.LEDGER_SIGNING_KEY_FILE)
    assert ledger_witness_key() == []


def test_a_code_that_is_no_safe_file_name_stays_inside_the_witness_folder(settings, tmp_path):
    settings.LEDGER_WITNESS_DIR = tmp_path / "witness"
    for code in ("../../etc/passwd", "NACIONAL/*", ".hidden"):
        path = witness_path(code)
        assert path.parent == tmp_path / "witness"
        assert path.name.startswith("_") and path.name.endswith(".jsonl")
    assert witness_path("F-01.a").name == "F-01.a.jsonl"


# --- The witness run ----------------------------------------------------------------


def test_every_chain_head_is_signed_and_appended_to_its_own_file(
    facility, other_facility, witness_key
):
    append(facility, 3)
    append(other_facility, 1)
    report = ledgers_witness_run()
    assert report == {"witnessing": "on", "signed": 2, "chains": 2, "broken": []}

    [line] = witness_lines(facility)
    head = LedgerHead.objects.get(facility=facility)
    assert (line["facility"], line["seq"], line["hash"]) == (facility.code, 3, head.hash)
    assert line["public_key"] == witness_key
    assert "PRIVATE" not in json.dumps(line)
    assert [w["seq"] for w in witness_lines(other_facility)] == [1]

    # Appended, never rewritten: the first line stays byte for byte.
    first = witness_path(facility.code).read_bytes()
    append(facility, 2)
    ledgers_witness_run()
    grown = witness_path(facility.code).read_bytes()
    assert grown.startswith(first)
    assert [w["seq"] for w in witness_lines(facility)] == [3, 5]


def test_a_head_that_did_not_move_is_signed_again_within_the_hour(facility, witness_key):
    append(facility, 2)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        ledgers_witness_run()
    with time_machine.travel(start + timedelta(minutes=5), tick=False):
        ledgers_witness_run()
    assert len(witness_lines(facility)) == 1  # nothing new to say yet
    with time_machine.travel(start + timedelta(minutes=61), tick=False):
        ledgers_witness_run()
    assert [w["seq"] for w in witness_lines(facility)] == [2, 2]


def test_without_a_key_nothing_is_signed_and_the_logs_say_so(facility, settings, caplog):
    settings.LEDGER_SIGNING_KEY_FILE = ""
    append(facility, 1)
    assert ledgers_witness_run() == {"witnessing": "off"}
    assert ledger_heads_witness() is None
    assert "LEDGER_SIGNING_KEY_FILE is not set" in caplog.text
    assert not witness_path(facility.code).exists()


# --- A chain rewritten consistently inside the database ------------------------------


def test_a_consistent_rewrite_is_caught_at_the_first_witnessed_seq_it_changed(
    facility, other_facility, witness_key, make_user, api_as
):
    client = api_as(make_user("auditor", facility))  # seq 1 of the chain
    append(facility, 3)
    ledgers_witness_run()  # witnesses seq 4
    append(facility, 3)
    ledgers_witness_run()  # witnesses seq 7
    append(other_facility, 2)

    rewrite_consistently(facility, 3, {"i": "rewritten"})

    # The chain alone recomputes: only the witness remembers.
    assert ledger_verify(facility=facility).ok
    result = ledger_verify_witnessed(facility=facility)
    assert (result.ok, result.first_bad_seq, result.witnessed_seq) == (False, 4, 4)
    assert result.problem == "not the witnessed hash"
    assert result.events == 3

    out = StringIO()
    with pytest.raises(CommandError):
        call_command("verify_ledger", "--witness", str(witness_path(facility.code)), stdout=out)
    assert (
        f"{facility.code}: BROKEN at seq 4: not the witnessed hash (witnessed head at seq 4)"
        in out.getvalue().splitlines()
    )

    body = client.get(
        f"/api/v1/ledger/verify/?facility={facility.code}", HTTP_ACCEPT_LANGUAGE="en"
    ).json()
    assert (body["ok"], body["first_bad_seq"], body["witnessed_seq"]) == (False, 4, 4)
    assert body["witness_lines"] == 2


def test_a_chain_cut_back_with_its_head_is_shorter_than_its_witness(facility, witness_key):
    append(facility, 6)
    ledgers_witness_run()
    cut_back_consistently(facility, 4)

    assert ledger_verify(facility=facility).ok
    result = ledger_verify_witnessed(facility=facility)
    assert (result.ok, result.first_bad_seq, result.witnessed_seq) == (False, 5, 6)
    assert result.problem == "events missing up to a witnessed head"


def test_the_witness_run_opens_the_alert_when_the_chain_lost_its_last_witnessed_head(
    facility, witness_key
):
    from alerts.models import Alert

    append(facility, 4)
    ledgers_witness_run()
    rewrite_consistently(facility, 2, {"i": "forged"})

    report = ledgers_witness_run()
    assert report["broken"] == [facility.code]
    alert = Alert.objects.get(facility=facility, kind="ledger_broken")
    assert alert.details["witnessed_seq"] == 4
    assert alert.details["first_bad_seq"] == 4
    # The rewritten head is signed too: the old line keeps the break on record.
    assert witness_lines(facility)[0]["seq"] == 4
    assert ledger_verify_witnessed(facility=facility).first_bad_seq == 4


# --- Lines that are not what they claim -----------------------------------------------


def test_a_forged_witness_line_is_refused_and_reported_never_trusted(facility, witness_key):
    append(facility, 3)
    ledgers_witness_run()
    path = witness_path(facility.code)
    genuine = witness_lines(facility)[0]
    # A line claiming another hash at seq 2, its signature copied from a real one.
    forged = {**genuine, "seq": 2, "hash": "f" * 64}
    # A line signed properly, but by a key nobody trusts.
    stranger = Ed25519PrivateKey.generate()
    unknown = witness_line_sign(
        stranger, facility=facility.code, seq=3, hash="e" * 64, at=timezone.now()
    )
    with path.open("a") as handle:
        handle.write(json.dumps(forged) + "\n")
        handle.write(json.dumps(unknown) + "\n")
        handle.write("not json at all\n")

    result = ledger_verify_witnessed(facility=facility)
    assert result.ok  # neither line can break (or vouch for) the chain
    assert (result.witness_lines, result.untrusted_lines) == (1, 3)

    out = StringIO()
    with pytest.raises(CommandError):
        call_command("verify_ledger", "--facility", facility.code, stdout=out)
    assert f"{facility.code}: 3 witness lines refused (bad signature or unknown key)" in (
        out.getvalue()
    )


def test_a_retired_key_stays_trusted_only_when_listed(facility, witness_key, tmp_path, settings):
    append(facility, 2)
    ledgers_witness_run()
    old_public = witness_key
    settings.LEDGER_SIGNING_KEY_FILE = str(tmp_path / "new-key.pem")
    signing_key_create(settings.LEDGER_SIGNING_KEY_FILE)  # rotation
    assert ledger_verify_witnessed(facility=facility).untrusted_lines == 1
    settings.LEDGER_WITNESS_TRUSTED_KEYS = [old_public]
    result = ledger_verify_witnessed(facility=facility)
    assert (result.ok, result.witness_lines, result.untrusted_lines) == (True, 1, 0)


# --- The standalone verifier ---------------------------------------------------------------


def load_verifier():
    spec = importlib.util.spec_from_file_location("verify_ledger_chain", VERIFIER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_pure_python_ed25519_agrees_with_cryptography():
    verifier = load_verifier()
    for size in (0, 1, 64, 300):
        key = Ed25519PrivateKey.generate()
        public = bytes.fromhex(public_key_hex(key))
        message = os.urandom(size)
        signature = key.sign(message)
        assert verifier.ed25519_verify_pure(public, message, signature)
        assert not verifier.ed25519_verify_pure(public, message + b"!", signature)
        flipped = bytearray(signature)
        flipped[size % 64] ^= 0x01
        assert not verifier.ed25519_verify_pure(public, message, bytes(flipped))
        other = bytes.fromhex(public_key_hex(Ed25519PrivateKey.generate()))
        assert not verifier.ed25519_verify_pure(other, message, signature)
    # RFC 8032, 7.1, test 2: the reference vector.
    public = bytes.fromhex("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c")
    signature = bytes.fromhex(
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
        "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
    )
    assert verifier.ed25519_verify_pure(public, bytes.fromhex("72"), signature)


def export_files(facility, tmp_path) -> tuple[Path, Path]:
    from custody.services.ledger_export import chain_csv_lines

    head_seq = LedgerHead.objects.get(facility=facility).seq
    chain = tmp_path / "chain.csv"
    chain.write_text("".join(chain_csv_lines(facility=facility, up_to_seq=head_seq)))
    return chain, witness_path(facility.code)


@pytest.mark.parametrize("signatures", ["pure Python", "cryptography"])
def test_the_outside_script_checks_the_signed_heads_too(
    signatures, facility, witness_key, tmp_path, capsys
):
    verifier = load_verifier()
    if signatures == "pure Python":
        verifier.ed25519_verify = verifier.ed25519_verify_pure
        verifier.SIGNATURES_BY = "pure Python"
    append(facility, 4)
    ledgers_witness_run()
    chain, witness = export_files(facility, tmp_path)
    args = [str(chain), "--witness", str(witness), "--public-key", witness_key]

    assert verifier.main(args) == 0
    out = capsys.readouterr().out
    assert f"signatures by {signatures}" in out
    assert "OK: 4 events" in out
    assert "Witness: 1 signed heads checked" in out

    rewrite_consistently(facility, 2, {"i": "rewritten"})
    chain, witness = export_files(facility, tmp_path)
    assert verifier.main(args) == 1
    assert "seq 4: not the witnessed hash" in capsys.readouterr().out

    # The same witness under a key the auditor was not given: nothing trusted.
    stranger = public_key_hex(Ed25519PrivateKey.generate())
    assert verifier.main([str(chain), "--witness", str(witness), "--public-key", stranger]) == 1
    assert "REFUSED witness lines (bad signature or untrusted key): 1" in capsys.readouterr().out


def test_the_outside_script_runs_with_nothing_but_python(facility, witness_key, tmp_path):
    append(facility, 2)
    ledgers_witness_run()
    chain, witness = export_files(facility, tmp_path)
    line = json.loads(witness.read_text())
    line["signature"] = line["signature"][:-2] + ("00" if line["signature"][-2:] != "00" else "11")
    forged = tmp_path / "forged.jsonl"
    forged.write_text(json.dumps(line) + "\n")
    run = subprocess.run(
        [
            sys.executable,
            "-I",
            str(VERIFIER),
            str(chain),
            "--witness",
            str(forged),
            "--public-key",
            witness_key,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 1
    assert "OK: 2 events" in run.stdout
    assert "REFUSED witness lines (bad signature or untrusted key): 1" in run.stdout


def test_the_signed_text_is_canonical_json_of_the_head():
    assert head_message(facility="F1", seq=7, hash="ab", at="2026-01-01T00:00:00.000000+00:00") == (
        b'{"at":"2026-01-01T00:00:00.000000+00:00","facility":"F1","hash":"ab",'
        b'"kind":"custody.ledger_head","seq":7}'
    )
