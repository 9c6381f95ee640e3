"""An outside fuzzer (Schemathesis) run over /api/schema/ against a live server
finds no 5xx and no response that contradicts the schema."""

import subprocess
import sys
from pathlib import Path

import pytest
from knox.models import AuthToken

from tests import factories

ST = Path(sys.executable).with_name("st")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_fuzzing_the_public_schema_finds_nothing(live_server, tmp_path):
    facility = factories.FacilityFactory(code="FJ2")
    cell = factories.CellFactory(facility=facility, code="A-01")
    factories.InmateFactory(facility=facility, cell=cell, booking_number="GT-2025-000123")
    factories.device(facility, name="reader-A")
    admin = factories.UserFactory(role="admin", facilities=[facility], username="fuzz-admin")
    token = AuthToken.objects.create(user=admin)[1]

    result = subprocess.run(
        [
            str(ST),
            "run",
            f"{live_server.url}/api/schema/",
            "--header",
            f"Authorization: Token {token}",
            "--checks",
            "all",
            # Revoking its own token would leave every later request a 401 and
            # the rest of the API unfuzzed.
            "--exclude-path",
            "/api/v1/auth/token/revoke/",
            # The schema cannot say "this cell code must exist in that facility";
            # such well-formed but unknown references rightly answer 400.
            "--exclude-checks",
            "positive_data_acceptance",
            "--max-examples",
            "15",
            # A time budget too, so a busy machine (the parallel suite) shortens
            # the run instead of stretching it: every phase still gets its share.
            "--max-time",
            "45",
            "--seed",
            "20251",
            "--request-timeout",
            "10",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
    )
    # The whole report stays beside the test's tmp_path; the assertion shows its end.
    (tmp_path / "schemathesis-report.txt").write_text(result.stdout + result.stderr)
    report = result.stdout[-6000:] + result.stderr[-2000:]
    assert result.returncode == 0, report
    assert "passed" in result.stdout, report
    # The run reached the API behind the token, not only its 401s.
    assert "401 Unauthorized" not in result.stdout.split("Failures")[0], report
