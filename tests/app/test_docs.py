"""The API docs pages work air-gapped: every asset they reference is served by the app itself."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from fastapi.testclient import TestClient

PAGES = ("/docs", "/redoc", "/docs/oauth2-redirect")
# Absolute or protocol-relative URLs anywhere in a page, inline scripts included.
ABSOLUTE_URL = re.compile(r"(?:\b[a-z][a-z0-9+.-]*:)?//[^\s\"'<>()]+", re.IGNORECASE)
CONTENT_TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png"}


class _References(HTMLParser):
    """Every src and href in a page."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found += [value for name, value in attrs if name in ("src", "href") and value]


def _references(html: str) -> list[str]:
    parser = _References()
    parser.feed(html)
    return parser.found


def _same_origin(url: str, origin: str) -> bool:
    parts = urlsplit(url)
    if not parts.scheme and not parts.netloc:
        return True
    return f"{parts.scheme}://{parts.netloc}" == origin


@pytest.mark.parametrize("page", PAGES)
def test_a_docs_page_references_no_external_host(client: TestClient, page: str) -> None:
    response = client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    external = [
        url for url in _references(response.text) if not _same_origin(url, "http://testserver")
    ]
    assert external == []
    assert ABSOLUTE_URL.findall(response.text) == []


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_every_asset_a_docs_page_references_loads(client: TestClient, page: str) -> None:
    assets = _references(client.get(page).text)
    assert any(url.endswith(".js") for url in assets), assets
    for url in assets:
        response = client.get(urljoin(f"http://testserver{page}", url))
        assert response.status_code == 200, url
        suffix = "." + url.rsplit(".", 1)[-1]
        assert CONTENT_TYPES[suffix] in response.headers["content-type"], url
        assert len(response.content) > 1000, url


def test_the_bundled_swagger_ui_is_the_real_one(client: TestClient) -> None:
    script = next(url for url in _references(client.get("/docs").text) if url.endswith(".js"))
    bundle = client.get(script).text
    assert "SwaggerUIBundle" in bundle
    # The page loads the schema from this app too.
    assert "'/openapi.json'" in client.get("/docs").text
    assert client.get("/openapi.json").status_code == 200


def test_asset_paths_do_not_become_metrics_labels(client: TestClient) -> None:
    script = next(url for url in _references(client.get("/docs").text) if url.endswith(".js"))
    assert client.get(script).status_code == 200
    prefix = script.rsplit("/", 1)[0]
    for n in range(3):
        assert client.get(f"{prefix}/missing-{n}.js").status_code == 404
    routes = set(re.findall(r'route="([^"]*)"', client.get("/metrics").text))
    assert "/docs" in routes
    assert not [route for route in routes if route.startswith(prefix + "/")], routes
