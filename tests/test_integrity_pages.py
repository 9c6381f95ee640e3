"""The integrity signals report as a page, as CSV and PDF exports recorded in
the ledger, and as JSON under /api/v1/audit/integrity/."""

import csv
import io
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.utils import timezone, translation
from pypdf import PdfReader

from alerts.audit.period import Period
from alerts.audit.signals import SIGNALS, integrity_report
from alerts.audit.signals.tables import export_row
from alerts.models import AlertStatus
from custody.models import LedgerEvent
from tests import factories
from tests.second_factor import sign_in

pytestmark = pytest.mark.django_db

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


@pytest.fixture
def w(facility, other_facility, make_user):
    """Two days ago: three weak fingerprint matches at a reader and an alert
    closed with "Sin novedad"; nothing else (six signals stay quiet)."""
    cell = factories.CellFactory(facility=facility, code="A-01", parent__code="A")
    ana = factories.InmateFactory(facility=facility, cell=cell, booking_number="GT-ANA")
    reader, _key = factories.device(facility, name="reader-A", location=cell)
    sup = make_user("supervisor", facility, username="sup")
    at = timezone.now() - timedelta(days=2)
    for n, score in enumerate([0.61, 0.7, 0.72]):
        factories.CheckInFactory(
            observed_at=at + timedelta(minutes=n),
            received_at=at + timedelta(minutes=n, seconds=3),
            facility=facility,
            inmate=ana,
            location=cell,
            score=score,
            device=reader,
        )
    factories.AlertFactory(
        facility=facility,
        status=AlertStatus.RESOLVED,
        dedup_key="missed_checkin:inmate:x",
        inmate=ana,
        opened_at=at - timedelta(hours=5),
        acknowledged_at=at - timedelta(hours=5),
        acknowledged_by=sup,
        resolved_at=at - timedelta(hours=4),
        resolved_by=sup,
        resolution="Sin novedad",
    )
    return {
        "facility": facility,
        "other": other_facility,
        "auditor": make_user("auditor", facility, username="auditor"),
        "guard": make_user("guard", facility, username="guard"),
        "sup": sup,
        "outsider": make_user("auditor", other_facility, username="outsider"),
    }


def client_for(user) -> Client:
    client = Client()
    sign_in(client, user)
    return client


def page_url(facility, suffix=""):
    return f"/audit/{facility.code}/integrity/{suffix}"


# --- The page ----------------------------------------------------------------------


def test_an_auditor_sees_the_fired_signals_first_with_their_records(w):
    response = client_for(w["auditor"]).get(page_url(w["facility"]), **EN)

    assert response.status_code == 200
    html = response.content.decode()
    assert f"2 of {len(SIGNALS)} signals fired" in html
    fired = [
        html.index('id="signal-low_biometric_scores"'),
        html.index('id="signal-boilerplate_resolutions"'),
    ]
    quiet = html.index('id="signal-visual_share"')
    assert max(fired) < quiet  # fired cards come first
    assert 'class="card signal fired" id="signal-low_biometric_scores"' in html
    assert 'class="card signal" id="signal-visual_share"' in html
    assert "Nothing found in this period." in html
    assert f'href="/audit/{w["facility"].code}/people/GT-ANA/"' in html
    assert f'href="/audit/{w["facility"].code}/officers/sup/"' in html
    assert "/api/v1/alerts/" in html
    assert f"/audit/{w['facility'].code}/integrity/export.csv?since=" in html
    assert f"/audit/{w['facility'].code}/integrity/export.pdf?since=" in html


def test_the_page_speaks_spanish_by_default(w):
    response = client_for(w["auditor"]).get(page_url(w["facility"]))

    assert response.status_code == 200
    assert '<html lang="es">' in response.content.decode()


def test_a_supervisor_may_read_it_and_a_guard_may_not(w):
    assert client_for(w["sup"]).get(page_url(w["facility"])).status_code == 200
    assert client_for(w["guard"]).get(page_url(w["facility"])).status_code == 403


def test_another_facility_is_not_found_and_strangers_sign_in_first(w):
    auditor = client_for(w["auditor"])
    assert auditor.get(page_url(w["other"])).status_code == 404
    assert auditor.get("/audit/NOPE/integrity/").status_code == 404
    anonymous = Client().get(page_url(w["facility"]))
    assert anonymous.status_code == 302
    assert "/login/" in anonymous["Location"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?since=yesterday", "Give a day (2026-11-01)"),
        ("?since=2026-10-10&until=2026-10-01", "The start must come before the end."),
        ("?since=2024-01-01&until=2026-01-01", "Ask for at most a year at a time."),
    ],
)
def test_a_bad_period_answers_400_with_the_error_beside_the_form(w, query, message):
    response = client_for(w["auditor"]).get(page_url(w["facility"]) + query, **EN)

    assert response.status_code == 400
    html = response.content.decode()
    assert message in html
    assert 'class="period-form"' in html
    assert "signal-visual_share" not in html


def test_a_chosen_period_is_kept_in_the_form_and_the_export_links(w):
    response = client_for(w["auditor"]).get(
        page_url(w["facility"]) + "?since=2026-01-01&until=2026-01-31", **EN
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert 'value="2026-01-01T00:00"' in html
    assert f"0 of {len(SIGNALS)} signals fired" in html  # nothing back then
    assert "since=2026-01-01T00%3A00%3A00-06%3A00" in html


# --- Exports -----------------------------------------------------------------------


def sections(body: bytes) -> dict[str, list[list[str]]]:
    """The CSV's rows by section (the first column), headers left out."""
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    found = {}
    header = True
    for row in rows:
        if not row:
            header = True
            continue
        if header:
            assert row[0] == "section"
            header = False
            continue
        found.setdefault(row[0], []).append(row[1:])
    return found


def as_csv(values) -> list[str]:
    return ["" if v is None else str(v) for v in values]


def test_the_csv_export_parses_back_to_every_row_of_the_report(w):
    since, until = timezone.now() - timedelta(days=7), timezone.now()
    period = Period(since=since, until=until, tz=w["facility"].tzinfo)
    query = {"since": since.isoformat(), "until": until.isoformat()}

    url = page_url(w["facility"], "export.csv") + "?" + urlencode(query)
    response = client_for(w["auditor"]).post(url, **EN)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="integrity-')
    with translation.override("en"):
        report = integrity_report(facility=w["facility"], period=period)
    found = sections(response.content)
    assert [row[1] for row in found["Summary"]] == [s.key for s in report.signals]
    assert [row[2] for row in found["Summary"]] == [
        "yes" if s.fired else "no" for s in report.signals
    ]
    for signal in report.signals:
        expected = [as_csv(export_row(row)) for row in signal.rows]
        assert found.get(signal.title, []) == expected, signal.key
    assert len(found["Weak biometric matches"]) == 2  # the reader, and Ana
    weak_reader = found["Weak biometric matches"][0]
    assert weak_reader[:4] == ["reader", "reader-A", "3", "0.61"]
    assert "/api/v1/devices/" in weak_reader[-1]


def test_an_export_is_recorded_in_the_ledger(w):
    before = LedgerEvent.objects.filter(action="export.created").count()

    response = client_for(w["auditor"]).post(page_url(w["facility"], "export.csv"))

    assert response.status_code == 200
    event = LedgerEvent.objects.filter(action="export.created").order_by("-seq").first()
    assert LedgerEvent.objects.filter(action="export.created").count() == before + 1
    assert event.facility == w["facility"]
    assert event.actor == "user:auditor"
    assert event.subject == f"facility:{w['facility'].code}"
    assert event.data["kind"] == "integrity_report"
    assert event.data["format"] == "csv"
    assert (
        event.data["rows"] == len(SIGNALS) + 2 + 1
    )  # the summary, the weak matches, the resolution


def test_the_pdf_export_renders_the_report(w):
    response = client_for(w["auditor"]).post(page_url(w["facility"], "export.pdf"), **EN)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    pdf = PdfReader(io.BytesIO(response.content))
    assert len(pdf.pages) >= 1
    text = " ".join(page.extract_text() for page in pdf.pages)
    assert "Integrity signals" in text
    assert "Weak biometric matches" in text
    assert LedgerEvent.objects.filter(action="export.created", data__format="pdf").exists()


def test_exports_refuse_unknown_formats_bad_periods_and_guards(w):
    auditor = client_for(w["auditor"])
    assert auditor.get(page_url(w["facility"], "export.xlsx")).status_code == 404
    assert auditor.post(page_url(w["facility"], "export.csv?since=nope")).status_code == 400
    assert client_for(w["guard"]).post(page_url(w["facility"], "export.csv")).status_code == 403
    assert auditor.post(page_url(w["other"], "export.csv")).status_code == 404
    # Another site's form cannot make an auditor's browser export (CSRF).
    forged = Client(enforce_csrf_checks=True)
    forged.force_login(w["auditor"])
    assert forged.post(page_url(w["facility"], "export.csv")).status_code == 403
    # A link followed (a GET) writes nothing: the export is a form with the CSRF token.
    assert auditor.get(page_url(w["facility"], "export.csv")).status_code == 405
    page = auditor.get(page_url(w["facility"])).content.decode()
    assert f'method="post" action="{page_url(w["facility"], "export.csv")}?' in page
    assert not LedgerEvent.objects.filter(action="export.created").exists()


# --- API ---------------------------------------------------------------------------

API = "/api/v1/audit/integrity/"


def test_the_api_answers_the_report_in_the_facilitys_time(w, english_api_as):
    response = english_api_as(w["auditor"]).get(API, {"facility": w["facility"].code})

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["facility"] == w["facility"].code
    assert body["since"].endswith("-06:00") and body["until"].endswith("-06:00")
    assert body["fired"] == ["low_biometric_scores", "boilerplate_resolutions"]
    assert len(body["signals"]) == len(SIGNALS)
    weak = next(s for s in body["signals"] if s["key"] == "low_biometric_scores")
    assert weak["fired"] is True
    assert weak["title"] == "Weak biometric matches"
    assert weak["thresholds"] == {"LOW_SCORE": 0.8}
    assert [c["key"] for c in weak["columns"]] == ["by", "name", "checks", "lowest", "last"]
    assert [c["kind"] for c in weak["columns"]] == ["text", "text", "number", "number", "time"]
    reader_row = weak["rows"][0]
    assert reader_row["values"][:4] == ["reader", "reader-A", 3, 0.61]
    assert reader_row["values"][4].endswith("-06:00")
    assert reader_row["links"][0]["url"].startswith("/api/v1/devices/")
    quiet = next(s for s in body["signals"] if s["key"] == "visual_share")
    assert quiet["fired"] is False and quiet["rows"] == []
    assert quiet["thresholds"] == {"VISUAL_SHARE_MAX": 0.5, "VISUAL_MIN_CHECKS": 20}
    assert isinstance(quiet["thresholds"]["VISUAL_MIN_CHECKS"], int)


def test_the_facility_may_be_left_out_by_someone_with_only_one(w, api_as, make_user):
    assert api_as(w["auditor"]).get(API).status_code == 200
    both = make_user("auditor", w["facility"], w["other"])
    response = api_as(both).get(API)
    assert response.status_code == 400
    assert "facility" in response.json()["errors"]
    assert api_as(both).get(API, {"facility": w["other"].code}).status_code == 200


@pytest.mark.parametrize(
    "query",
    [
        {"since": "not a time"},
        {"until": "2026-13-45"},
        {"since": "2026-10-10", "until": "2026-10-01"},
        {"since": "2020-01-01", "until": "2026-01-01"},
        {"facility": ""},
    ],
)
def test_bad_input_answers_400(w, api_as, query):
    response = api_as(w["auditor"]).get(API, {"facility": w["facility"].code, **query})

    assert response.status_code == 400
    assert response.json()["detail"]


def test_a_repeated_facility_answers_400(w, api_as):
    code = w["facility"].code
    assert api_as(w["auditor"]).get(f"{API}?facility={code}&facility={code}").status_code == 400


def test_guards_are_refused_and_other_facilities_are_not_found(w, api_as):
    assert api_as(w["guard"]).get(API, {"facility": w["facility"].code}).status_code == 403
    assert api_as(w["auditor"]).get(API, {"facility": w["other"].code}).status_code == 404
    assert api_as(w["outsider"]).get(API, {"facility": w["facility"].code}).status_code == 404
    assert api_as().get(API, {"facility": w["facility"].code}).status_code == 401


def test_the_schema_documents_the_report(w, api_as):
    schema = api_as().get("/api/schema/?format=json").json()

    operation = schema["paths"]["/api/v1/audit/integrity/"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"facility", "since", "until"}
    assert {"200", "400", "403", "404"} <= set(operation["responses"])
    report = schema["components"]["schemas"]["IntegrityReport"]
    assert set(report["properties"]) == {"facility", "since", "until", "fired", "signals"}
