"""Spanish first, English second: pages, API errors and the committed catalogue.

The catalogue (locale/es/LC_MESSAGES/django.po and its compiled django.mo) is
committed, so a fresh machine needs no gettext tools; the last tests check
that it is complete and that the .mo really is the compiled .po.
"""

import ast
import gettext
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import translation
from django.utils.translation import ngettext

from tests import factories

PO = Path(settings.BASE_DIR) / "locale" / "es" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")
PLACEHOLDER = re.compile(r"%\(\w+\)[sdif]")


# --- Pages ------------------------------------------------------------------


@pytest.mark.django_db
def test_login_page_is_spanish_by_default(client):
    response = client.get("/login/")
    page = response.content.decode()
    assert response.status_code == 200
    assert '<html lang="es">' in page
    assert "Iniciar sesión" in page
    assert "Sign in" not in page


@pytest.mark.django_db
def test_login_page_is_english_when_the_browser_asks(client):
    page = client.get("/login/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<html lang="en">' in page
    assert "Sign in" in page
    assert "Iniciar sesión" not in page


@pytest.mark.django_db
def test_language_switcher_turns_the_pages_english(client):
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/login/"})
    assert response.status_code == 302
    assert response["Location"] == "/login/"
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"

    page = client.get("/login/").content.decode()
    assert '<html lang="en">' in page
    assert "Sign in" in page
    assert "Iniciar sesión" not in page


# --- API errors -------------------------------------------------------------


@pytest.fixture
def bad_timezone_response(facility, api_as):
    admin = factories.UserFactory(role="admin", facilities=[facility])
    client = api_as(admin)

    def post(**headers):
        return client.post(
            "/api/v1/facilities/",
            {"code": "TZ-1", "name": "Centro TZ", "timezone": "Mars/Olympus_Mons"},
            format="json",
            **headers,
        )

    return post


@pytest.mark.django_db
def test_api_validation_error_is_spanish_by_default(bad_timezone_response):
    response = bad_timezone_response()
    assert response.status_code == 400, response.content
    assert response["Content-Language"] == "es"
    body = response.json()
    assert body["detail"] == "Datos no válidos: timezone."
    assert "Mars/Olympus_Mons" in body["errors"]["timezone"][0]
    assert "is not a valid choice" not in body["errors"]["timezone"][0]


@pytest.mark.django_db
def test_api_validation_error_is_english_when_asked(bad_timezone_response):
    response = bad_timezone_response(HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400, response.content
    assert response["Content-Language"] == "en"
    body = response.json()
    assert body["detail"] == "Invalid input: timezone."
    assert body["errors"]["timezone"] == ['"Mars/Olympus_Mons" is not a valid choice.']


# --- The committed catalogue ------------------------------------------------


def read_po(path: Path) -> list[dict]:
    """A small PO reader: one dict per entry, keyed by msgctxt, msgid,
    msgid_plural, msgstr or msgstr[N], plus a set of ``flags``. Obsolete
    (``#~``) entries are skipped; the header is the entry with msgid ""."""
    entries: list[dict] = []
    entry: dict = {"flags": set()}
    key = None

    def has_msgstr():
        return any(k.startswith("msgstr") for k in entry)

    def flush():
        nonlocal entry
        if "msgid" in entry:
            entries.append(entry)
        entry = {"flags": set()}

    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#~"):
            continue
        if line.startswith("#"):
            if has_msgstr():
                flush()
            if line.startswith("#,"):
                entry["flags"].update(f.strip() for f in line[2:].split(","))
            continue
        if line.startswith('"'):
            assert key, f"{path.name}:{number}: continuation line outside an entry"
            entry[key] += ast.literal_eval(line)
            continue
        keyword, _, value = line.partition(" ")
        assert re.fullmatch(r"msgctxt|msgid|msgid_plural|msgstr(\[\d+\])?", keyword), (
            f"{path.name}:{number}: unexpected {keyword!r}"
        )
        if keyword in ("msgctxt", "msgid") and has_msgstr():
            flush()
        key = keyword
        entry[key] = ast.literal_eval(value)
    flush()
    return entries


def msgstrs(entry: dict) -> dict:
    return {k: v for k, v in entry.items() if k.startswith("msgstr")}


def catalogue_key(entry: dict, msgstr_key: str):
    """The key ``gettext.GNUTranslations`` files this translation under."""
    msgid = entry["msgid"]
    if "msgctxt" in entry:
        msgid = f"{entry['msgctxt']}\x04{msgid}"
    if msgstr_key == "msgstr":
        return msgid
    return (msgid, int(msgstr_key[len("msgstr[") : -1]))


@pytest.fixture(scope="module")
def po_entries():
    assert PO.is_file(), f"{PO} is missing: run `make messages`"
    entries = read_po(PO)
    assert len(entries) > 1, "the catalogue has no messages"
    return entries


def test_catalogue_header_is_spanish_utf8_and_final(po_entries):
    header = next(e for e in po_entries if e["msgid"] == "")
    assert "fuzzy" not in header["flags"]
    assert "Language: es\n" in header["msgstr"]
    assert "charset=UTF-8" in header["msgstr"]
    assert "Plural-Forms: nplurals=" in header["msgstr"]


def test_every_message_is_translated_and_none_is_fuzzy(po_entries):
    messages = [e for e in po_entries if e["msgid"]]
    fuzzy = [e["msgid"] for e in messages if "fuzzy" in e["flags"]]
    untranslated = [e["msgid"] for e in messages if not all(msgstrs(e).values())]
    assert not fuzzy, f"fuzzy entries in {PO.name}: {fuzzy}"
    assert not untranslated, f"untranslated entries in {PO.name}: {untranslated}"


def test_every_plural_has_every_form_the_header_declares(po_entries):
    # Spanish has three forms in gettext's CLDR rules (1, millions, the rest):
    # a missing msgstr[2] shows "112 people not accounted for." in English.
    header = next(e for e in po_entries if e["msgid"] == "")
    nplurals = int(re.search(r"nplurals=(\d+)", header["msgstr"]).group(1))
    short = [e["msgid"] for e in po_entries if "msgid_plural" in e and len(msgstrs(e)) != nplurals]
    assert not short, f"plurals without all {nplurals} forms: {short}"


def test_a_count_of_many_reads_in_spanish():
    with translation.override("es"):
        text = ngettext("%(n)s person not accounted for.", "%(n)s people not accounted for.", 112)
    assert text == "%(n)s personas faltantes."


def test_translations_keep_every_placeholder(po_entries):
    broken = []
    for entry in po_entries:
        source = set(PLACEHOLDER.findall(entry["msgid"] + entry.get("msgid_plural", "")))
        for text in msgstrs(entry).values():
            found = set(PLACEHOLDER.findall(text))
            # A plural form may leave the count out ("un dispositivo"), nothing else.
            if found - source or ("msgid_plural" not in entry and found != source):
                broken.append((entry["msgid"], text))
    assert not broken, broken


def test_compiled_catalogue_is_the_po_compiled(po_entries):
    """The committed .mo holds exactly the .po's translations (not an older build)."""
    assert MO.is_file(), f"{MO} is missing: run `make messages`"
    with MO.open("rb") as fh:
        # GNUTranslations parses the .mo with the stdlib; _catalog is its table
        # (msgid -> msgstr, "ctxt\x04msgid" for contexts, (msgid, n) for plurals).
        compiled = dict(gettext.GNUTranslations(fh)._catalog)
    compiled.pop("", None)  # the header
    expected = {
        catalogue_key(entry, key): text
        for entry in po_entries
        if entry["msgid"]
        for key, text in msgstrs(entry).items()
    }
    missing = sorted(str(k) for k in expected.keys() - compiled.keys())
    stale = sorted(str(k) for k in compiled.keys() - expected.keys())
    assert not missing, f"in {PO.name} but not in {MO.name} (recompile): {missing}"
    assert not stale, f"in {MO.name} but no longer in {PO.name} (recompile): {stale}"
    changed = sorted(str(k) for k, text in expected.items() if compiled[k] != text)
    assert not changed, f"{MO.name} has other translations than {PO.name} (recompile): {changed}"


@pytest.mark.parametrize(
    ("msgid", "msgstr"),
    [
        ("inmate", "privado de libertad"),
        ("booking number", "número de registro"),
        ("Sign in", "Iniciar sesión"),
        ("Out, authorised", "Fuera, autorizado"),
        ("In transit", "En traslado"),
        ("Missing", "No localizado"),
        ("Escaped", "Evadido"),
        ("grace period (seconds)", "período de gracia (segundos)"),
    ],
)
def test_glossary_terms_of_the_sistema_penitenciario(po_entries, msgid, msgstr):
    """The agreed terms; change them here and in the catalogue together."""
    by_msgid = {e["msgid"]: e.get("msgstr") for e in po_entries if "msgctxt" not in e}
    assert by_msgid.get(msgid) == msgstr
