"""Every answer of the service carries a Content-Security-Policy that runs no
inline script and never eval: a name that slipped past escaping into a page
still runs nothing. Pages are read from the URL configuration, so a new page
is covered without editing this file."""

import re
from pathlib import Path

import pytest
from django.conf import settings

from tests.second_factor import sign_in
from tests.test_auditor_read_only import _fill_page_route, page_patterns
from tests.test_permissions import world  # noqa: F401

pytestmark = pytest.mark.django_db

# Routes that are no page to look at (they only take a POST, or redirect).
NOT_PAGES = {"logout", "set_language"}


def policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    directives = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def assert_strict(response, *, path=""):
    directives = policy(response)
    assert "'unsafe-eval'" not in response["Content-Security-Policy"], path
    assert "'unsafe-inline'" not in directives["script-src"], path
    assert directives["default-src"] == ["'self'"], path
    assert directives["frame-ancestors"] == ["'none'"], path
    assert directives["object-src"] == ["'none'"], path
    assert directives["base-uri"] == ["'self'"], path
    assert directives["form-action"] == ["'self'"], path
    assert directives["img-src"] == ["'self'", "data:"], path


def test_every_page_route_answers_with_the_strict_policy(world, client):  # noqa: F811
    pages = [(name, route) for name, route in page_patterns() if name not in NOT_PAGES]
    assert len(pages) >= 20, pages
    sign_in(client, world["users"]["admin"])
    answered = {}
    for name, route in pages:
        path = _fill_page_route(route, world)
        response = client.get(path)
        answered[name] = response.status_code
        assert "Content-Security-Policy" in response, (name, path, response.status_code)
        assert_strict(response, path=path)
    # Many of them are real pages, not refusals (others take only a POST, or redirect).
    assert sum(code == 200 for code in answered.values()) >= 15, answered


@pytest.mark.parametrize(
    "path", ["/login/", "/admin/login/", "/healthz", "/api/v1/inmates/", "/no-such-page/"]
)
def test_answers_outside_the_pages_carry_it_too(client, path):
    assert_strict(client.get(path), path=path)


def test_an_oversized_body_refusal_carries_it(client):
    response = client.generic(
        "POST", "/login/", b"", CONTENT_LENGTH=str(settings.MAX_BODY_BYTES + 1)
    )
    assert response.status_code == 413
    assert_strict(response)


def test_the_api_docs_run_their_script_from_a_file_and_only_add_inline_styles(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert not re.search(r"<script>\s*\S", html), "an inline script the policy would block"
    directives = policy(response)
    assert "'unsafe-eval'" not in response["Content-Security-Policy"]
    assert "'unsafe-inline'" not in directives["script-src"]
    assert "'unsafe-inline'" in directives["style-src"]
    script = re.search(r'<script src="([^"]+\?script=?)"', html).group(1)
    answer = client.get(script)
    assert answer.status_code == 200
    assert b"SwaggerUIBundle" in answer.content


TEMPLATE_DIRS = [Path(settings.BASE_DIR) / app for app in ("config", "custody", "alerts")]
INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>"), "inline <script>"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "inline event handler"),
    (re.compile(r"\sstyle\s*=", re.I), "inline style attribute"),
    (re.compile(r"<style", re.I), "inline <style>"),
    (re.compile(r"javascript:", re.I), "javascript: URL"),
    (re.compile(r"hx-on|hx-vals=['\"]js:|hx-vars|hx-trigger=\"[^\"]*\["), "htmx eval"),
]


def test_no_template_has_what_the_policy_would_block():
    found = []
    for directory in TEMPLATE_DIRS:
        for template in directory.rglob("*.html"):
            text = template.read_text()
            found += [
                (str(template.relative_to(settings.BASE_DIR)), what)
                for pattern, what in INLINE
                if pattern.search(text)
            ]
    assert found == []


def test_htmx_is_configured_without_eval(client, world):  # noqa: F811
    client.force_login(world["users"]["supervisor"])
    html = client.get("/counts/schedules/", follow=True).content.decode()
    assert "htmx.min.js" in html
    assert '"allowEval":false' in html and '"includeIndicatorStyles":false' in html
