"""The ledger integrity page: head and witness key, verifications and chain
exports asked for by a POST and run by a worker, their results kept and shown,
and the export re-verified by an outside script that knows only the bundle."""

import csv
import io
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from django.test import Client

from custody import services
from custody.models import LedgerEvent, LedgerJob
from custody.services.ledger_export import CHAIN_COLUMNS
from custody.services.ledger_jobs import ledger_job_run
from custody.services.witness import signing_key_create
from tests import factories
from tests.test_ledger import append, change_data

pytestmark = pytest.mark.django_db

VERIFIER = Path(__file__).resolve().parents[1] / "alerts/static/audit/verify_ledger_chain.py"


@pytest.fixture(autouse=True)
def _own_folders(tmp_path, settings):
    settings.LEDGER_WITNESS_DIR = tmp_path / "witness"
    settings.LEDGER_EXPORT_DIR = tmp_path / "exports"
    settings.LEDGER_SIGNING_KEY_FILE = ""


@pytest.fixture
def auditor(facility):
    return factories.UserFactory(role="auditor", facilities=[facility])


@pytest.fixture
def auditor_client(auditor, client):
    client.force_login(auditor)
    return client


def page(client, facility, query=""):
    return client.get(f"/audit/{facility.code}/ledger/{query}", HTTP_ACCEPT_LANGUAGE="en")


def run_jobs():
    for job_id in LedgerJob.objects.filter(status="queued").values_list("pk", flat=True):
        ledger_job_run(job_id=job_id)


def ask(client, facility, what: str):
    response = client.post(f"/audit/{facility.code}/ledger/{what}/")
    assert response.status_code == 302, response.content
    return response


def export(client, facility) -> zipfile.ZipFile:
    ask(client, facility, "export")
    run_jobs()
    job = LedgerJob.objects.filter(kind="export").latest("id")
    response = client.get(f"/audit/{facility.code}/ledger/jobs/{job.pk}/download/")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def unpack(bundle: zipfile.ZipFile, folder: Path) -> Path:
    bundle.extractall(folder)
    return folder


def run_verifier(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-I", str(VERIFIER), *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_page_shows_the_head_and_verifies_in_a_worker_when_asked(
    facility, auditor_client, django_capture_on_commit_callbacks
):
    append(facility, 4)  # after the auditor's own user.created event
    head = LedgerEvent.objects.get(facility=facility, seq=5).hash
    response = page(auditor_client, facility)
    assert response.status_code == 200
    assert head in response.content.decode()
    assert b"The chain is whole" not in response.content  # only when asked

    with django_capture_on_commit_callbacks() as enqueued:
        ask(auditor_client, facility, "verify")
    assert len(enqueued) == 1  # the request only enqueues
    job = LedgerJob.objects.get()
    assert (job.kind, job.status, job.requested_by.role) == ("verify", "queued", "auditor")
    waiting = page(auditor_client, facility).content.decode()
    assert "Queued" in waiting and 'hx-trigger="every 2s"' in waiting  # polled until done

    run_jobs()
    verified = auditor_client.get(
        f"/audit/{facility.code}/ledger/jobs/", HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()
    assert "The chain is whole: all 5 events recomputed." in verified
    assert "every 2s" not in verified  # done: the polling stops
    assert "The chain is whole" in page(auditor_client, facility).content.decode()


def test_a_broken_link_is_named_with_its_neighbours(facility, auditor_client):
    append(facility, 5)
    change_data(facility)
    ask(auditor_client, facility, "verify")
    run_jobs()
    body = page(auditor_client, facility).content.decode()
    assert "The chain is broken at event 3: event content was changed." in body
    assert "2 events before it recompute." in body
    assert 'class="error"' in body


def test_the_page_shows_the_witness_key_or_warns_that_there_is_none(
    facility, auditor_client, settings, tmp_path
):
    off = page(auditor_client, facility).content.decode()
    assert 'id="witness-off"' in off
    assert "Witnessing is off" in off
    settings.LEDGER_SIGNING_KEY_FILE = str(tmp_path / "key.pem")
    public_key = signing_key_create(settings.LEDGER_SIGNING_KEY_FILE)
    on = page(auditor_client, facility).content.decode()
    assert public_key in on
    assert 'id="witness-off"' not in on


def test_a_web_process_without_the_private_key_shows_the_public_one_it_trusts(
    facility, auditor_client, settings, tmp_path
):
    public_key = signing_key_create(tmp_path / "elsewhere.pem")
    settings.LEDGER_WITNESS_TRUSTED_KEYS = [public_key]
    body = page(auditor_client, facility).content.decode()
    assert public_key in body
    assert 'id="witness-off"' not in body

    settings.LEDGER_SIGNING_KEY_FILE = str(tmp_path / "unreadable.pem")
    broken = page(auditor_client, facility).content.decode()
    assert 'id="witness-key-error"' in broken


def test_an_outside_script_reverifies_the_export_with_its_witness_and_finds_tampering(
    facility, auditor_client, witness_key, tmp_path
):
    from alerts.services.ledger_broken import ledgers_witness_run

    append(facility, 3)
    services.ledger_append(
        facility=facility,
        actor=None,
        action="alert.resolved",
        subject="inmate:GT-ñ",
        data={"resolution": 'Visto, "sin novedad", 3,5 m', "score": 0.1 + 0.2, "n": None},
    )
    ledgers_witness_run()
    bundle = export(auditor_client, facility)
    assert set(bundle.namelist()) == {
        "chain.csv",
        "witness.jsonl",
        "public_keys.txt",
        "verify_ledger_chain.py",
        "README.txt",
    }
    assert bundle.read("public_keys.txt").decode().split() == [witness_key]
    folder = unpack(bundle, tmp_path / "bundle")
    text = (folder / "chain.csv").read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [int(r["seq"]) for r in rows] == [1, 2, 3, 4, 5]
    assert tuple(rows[0]) == CHAIN_COLUMNS
    head = LedgerEvent.objects.get(facility=facility, seq=5).hash

    result = run_verifier(folder / "chain.csv")
    assert result.returncode == 0, result.stdout
    assert result.stdout.strip() == f"OK: 5 events, head {head}"

    witnessed = run_verifier(
        folder / "chain.csv", "--witness", folder / "witness.jsonl", "--public-key", witness_key
    )
    assert witnessed.returncode == 0, witnessed.stdout
    assert "Witness: 1 signed heads checked" in witnessed.stdout
    # Shipped keys are used when none is given, and the verifier says so.
    shipped = run_verifier(folder / "chain.csv", "--witness", folder / "witness.jsonl")
    assert shipped.returncode == 0 and "(public_keys.txt)" in shipped.stdout

    (folder / "chain.csv").write_text(text.replace("sin novedad", "sin novedades"))
    result = run_verifier(folder / "chain.csv")
    assert result.returncode == 1
    assert "seq 5: event content was changed" in result.stdout

    dropped = "".join(
        line for line in text.splitlines(True) if not line.startswith(f"{facility.code},3,")
    )
    (folder / "chain.csv").write_text(dropped)
    assert "seq 3: missing event" in run_verifier(folder / "chain.csv").stdout


def test_the_export_is_a_post_on_the_record_and_covers_the_chain_up_to_then(
    facility, auditor, auditor_client
):
    append(facility, 2)
    assert auditor_client.get(f"/audit/{facility.code}/ledger/export/").status_code == 405
    assert not LedgerEvent.objects.filter(action="export.created").exists()

    bundle = export(auditor_client, facility)
    rows = list(csv.DictReader(io.StringIO(bundle.read("chain.csv").decode("utf-8-sig"))))
    assert len(rows) == 3
    event = LedgerEvent.objects.get(facility=facility, seq=4)
    assert event.action == "export.created"
    assert event.actor == f"user:{auditor.username}"
    assert event.data["kind"] == "ledger_chain"
    assert event.data["up_to_seq"] == 3
    assert services.ledger_verify(facility=facility).ok


def test_asking_without_the_csrf_token_is_refused(facility, auditor):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(auditor)
    assert strict.post(f"/audit/{facility.code}/ledger/export/").status_code == 403
    assert strict.post(f"/audit/{facility.code}/ledger/verify/").status_code == 403
    assert not LedgerJob.objects.exists()
    assert not LedgerEvent.objects.filter(action="export.created").exists()


def test_guards_are_refused_and_other_facilities_are_not_found(facility, other_facility, client):
    client.force_login(factories.UserFactory(role="guard", facilities=[facility]))
    assert page(client, facility).status_code == 403
    assert client.post(f"/audit/{facility.code}/ledger/export/").status_code == 403
    assert client.post(f"/audit/{facility.code}/ledger/verify/").status_code == 403
    client.force_login(factories.UserFactory(role="auditor", facilities=[facility]))
    assert page(client, other_facility).status_code == 404
    assert client.post(f"/audit/{other_facility.code}/ledger/export/").status_code == 404
    assert LedgerEvent.objects.filter(action="export.created").count() == 0


def test_an_export_of_another_facility_cannot_be_downloaded(
    facility, other_facility, auditor_client
):
    outsider = factories.UserFactory(role="auditor", facilities=[other_facility])
    client = Client()
    client.force_login(outsider)
    ask(client, other_facility, "export")
    run_jobs()
    job = LedgerJob.objects.get()
    assert (
        client.get(f"/audit/{other_facility.code}/ledger/jobs/{job.pk}/download/").status_code
        == 200
    )
    # Under the auditor's own facility, the other facility's job is not found.
    assert (
        auditor_client.get(f"/audit/{facility.code}/ledger/jobs/{job.pk}/download/").status_code
        == 404
    )


def test_the_chain_export_reads_in_one_streamed_query(
    facility, auditor_client, django_assert_max_num_queries
):
    append(facility, 40)
    ask(auditor_client, facility, "export")
    with django_assert_max_num_queries(12):
        run_jobs()
