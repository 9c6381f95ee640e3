"""The ledger integrity page: head, verification on demand, the chain exported
with its hashes and re-verified by an outside script that knows only the file."""

import csv
import io
import subprocess
import sys
from pathlib import Path

import pytest

from alerts.audit import ledger_chain
from custody import services
from custody.models import LedgerEvent
from tests import factories
from tests.test_ledger import append, change_data

pytestmark = pytest.mark.django_db

VERIFIER = Path(__file__).resolve().parents[1] / "alerts/static/audit/verify_ledger_chain.py"


@pytest.fixture
def auditor_client(facility, client):
    client.force_login(factories.UserFactory(role="auditor", facilities=[facility]))
    return client


def page(client, facility, query=""):
    return client.get(f"/audit/{facility.code}/ledger/{query}", HTTP_ACCEPT_LANGUAGE="en")


def export(client, facility) -> str:
    response = client.get(f"/audit/{facility.code}/ledger/chain.csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    return b"".join(response.streaming_content).decode("utf-8-sig")


def run_verifier(tmp_path, text: str) -> subprocess.CompletedProcess:
    exported = tmp_path / "chain.csv"
    exported.write_text(text, encoding="utf-8")
    return subprocess.run(
        [sys.executable, str(VERIFIER), str(exported)], capture_output=True, text=True, check=False
    )


def test_the_page_shows_the_head_and_verifies_on_demand(facility, auditor_client):
    append(facility, 4)  # after the auditor's own user.created event
    head = LedgerEvent.objects.get(facility=facility, seq=5).hash
    response = page(auditor_client, facility)
    assert response.status_code == 200
    assert head in response.content.decode()
    assert b"The chain is whole" not in response.content  # only when asked

    verified = page(auditor_client, facility, "?verify=1").content.decode()
    assert "The chain is whole: all 5 events recomputed." in verified


def test_a_broken_link_is_named_with_its_neighbours(facility, auditor_client):
    append(facility, 5)
    change_data(facility)
    body = page(auditor_client, facility, "?verify=1").content.decode()
    assert "The chain is broken at event 3: event content was changed." in body
    assert "2 events before it recompute." in body
    assert 'class="error"' in body


def test_an_outside_script_reverifies_the_export_and_finds_tampering(
    facility, auditor_client, tmp_path
):
    append(facility, 3)
    services.ledger_append(
        facility=facility,
        actor=None,
        action="alert.resolved",
        subject="inmate:GT-ñ",
        data={"resolution": 'Visto, "sin novedad", 3,5 m', "score": 0.1 + 0.2, "n": None},
    )
    text = export(auditor_client, facility)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [int(r["seq"]) for r in rows] == [1, 2, 3, 4, 5]
    assert tuple(rows[0]) == ledger_chain.CHAIN_COLUMNS
    head = LedgerEvent.objects.get(facility=facility, seq=5).hash

    result = run_verifier(tmp_path, text)
    assert result.returncode == 0, result.stdout
    assert result.stdout.strip() == f"OK: 5 events, head {head}"

    tampered = text.replace("sin novedad", "sin novedades")
    result = run_verifier(tmp_path, tampered)
    assert result.returncode == 1
    assert "seq 5: event content was changed" in result.stdout

    dropped = "".join(
        line for line in text.splitlines(True) if not line.startswith(f"{facility.code},3,")
    )
    assert "seq 3: missing event" in run_verifier(tmp_path, dropped).stdout


def test_the_export_is_itself_on_the_record_and_covers_the_chain_up_to_then(
    facility, auditor_client
):
    append(facility, 2)
    text = export(auditor_client, facility)
    assert len(list(csv.DictReader(io.StringIO(text)))) == 3
    event = LedgerEvent.objects.get(facility=facility, seq=4)
    assert event.action == "export.created"
    assert event.actor.startswith("user:")
    assert event.data["kind"] == "ledger_chain"
    assert event.data["up_to_seq"] == 3
    assert services.ledger_verify(facility=facility).ok


def test_guards_are_refused_and_other_facilities_are_not_found(facility, other_facility, client):
    client.force_login(factories.UserFactory(role="guard", facilities=[facility]))
    assert page(client, facility).status_code == 403
    assert client.get(f"/audit/{facility.code}/ledger/chain.csv").status_code == 403
    client.force_login(factories.UserFactory(role="auditor", facilities=[facility]))
    assert page(client, other_facility).status_code == 404
    assert LedgerEvent.objects.filter(action="export.created").count() == 0


def test_the_chain_export_reads_in_one_streamed_query(
    facility, auditor_client, django_assert_max_num_queries
):
    append(facility, 40)
    with django_assert_max_num_queries(12):
        export(auditor_client, facility)
