"""/api/docs/ (Swagger UI) loads nothing from another origin: its scripts, styles and
icon are served by the server itself under /static/, with DEBUG off as well as on."""

from __future__ import annotations

import re
import urllib.error
import urllib.parse
import urllib.request

import pytest

ASSET = re.compile(r'<(?:script|link|img)\b[^>]*?\b(?:src|href)="([^"]+)"', re.I)


def get(server, path: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(server.base_url + path, timeout=20) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), error.read()


@pytest.fixture(scope="module", params=["debug", "production"])
def docs_server(request, deployment_factory_module):
    env = {} if request.param == "debug" else {
        "IM_DEBUG": "0", "SECRET_KEY": "docs-test-" + "k" * 50}
    return deployment_factory_module(**env).start_server()


def test_swagger_ui_uses_only_same_origin_assets_that_load(docs_server):
    status, content_type, page = get(docs_server, "/api/docs/")
    assert status == 200
    assert content_type.startswith("text/html")
    html = page.decode()
    assets = ASSET.findall(html)
    assert len(assets) >= 3, html  # the bundle, the preset, the stylesheet (and icon)
    assert "cdn.jsdelivr.net" not in html and "unpkg.com" not in html
    for url in assets:
        parts = urllib.parse.urlsplit(url)
        assert not parts.scheme and not parts.netloc, url  # same origin
        assert parts.path.startswith("/static/"), url
        status, content_type, body = get(docs_server, url)
        assert status == 200, url
        assert body, url
        expected = {".js": "javascript", ".css": "text/css", ".png": "image/png"}
        suffix = parts.path[parts.path.rfind("."):]
        assert expected.get(suffix, "") in content_type, (url, content_type)


def test_admin_static_files_are_served_too(docs_server):
    status, content_type, _ = get(docs_server, "/static/admin/css/base.css")

    assert status == 200
    assert content_type.startswith("text/css")


def test_an_unknown_static_file_is_a_404(docs_server):
    assert get(docs_server, "/static/nope/missing.js")[0] == 404
