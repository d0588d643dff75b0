"""Hostile and broken requests against the real server: bounded bodies, headers and read times.

The server runs with short timeouts (1 s) so a stalled connection is visibly closed within a few
seconds; the limits themselves are the defaults.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support import RawConnection, Server, migrate, serve, status_of

BOUNDS = {
    "HTTP_HEADER_TIMEOUT_SECONDS": "1",
    "HTTP_BODY_TIMEOUT_SECONDS": "1",
    "HTTP_KEEPALIVE_TIMEOUT_SECONDS": "1",
}
POST_HEAD = b"POST /api/v1/items HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"


@pytest.fixture(scope="module")
def server(pg: object) -> Iterator[Server]:
    from localpg import LocalPostgres  # noqa: PLC0415 - the session server's type, for mypy

    assert isinstance(pg, LocalPostgres)
    migrate(pg.url, "upgrade", check=True)
    with serve(pg.url, **BOUNDS) as running:
        yield running


def _exchange(server: Server, data: bytes, timeout: float = 5.0) -> tuple[bytes, bool]:
    conn = RawConnection.open(server.base_url)
    try:
        conn.send(data)
        return conn.read_until_closed(timeout)
    finally:
        conn.close()


def test_a_body_declared_too_large_is_refused_before_it_is_sent(server: Server) -> None:
    head = POST_HEAD + b"Content-Length: 52428800\r\n\r\n"
    response, closed = _exchange(server, head)
    assert status_of(response) == 413, response[:200]
    assert closed, "the unread body must not be parsed as the next request"


def test_a_chunked_body_is_cut_off_at_the_limit(server: Server) -> None:
    conn = RawConnection.open(server.base_url)
    try:
        conn.send(POST_HEAD + b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b"x" * 65536
        try:
            for _ in range(32):  # 2 MiB, far past the 64 KiB default
                conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server stopped reading: that is the point
        response, _ = conn.read_until_closed(5)
    finally:
        conn.close()
    assert status_of(response) == 413, response[:200]
    assert len(response) < 2048


def test_the_event_loop_keeps_serving_probes_while_a_huge_body_arrives(server: Server) -> None:
    # ~50 MB of small objects: expensive to parse, validate and (on the error path) echo back.
    body = json.dumps({"name": [{"k": n} for n in range(5_000_000)]}).encode()
    latencies: list[float] = []
    uploading = threading.Event()

    def upload() -> None:
        uploading.set()
        with contextlib.suppress(httpx.TransportError):  # a server that closes early is fine
            httpx.post(
                f"{server.base_url}/api/v1/items",
                content=body,
                headers={"content-type": "application/json"},
                timeout=60,
            )

    thread = threading.Thread(target=upload)
    thread.start()
    uploading.wait()
    with server.client(timeout=30) as client:
        while thread.is_alive() or not latencies:
            started = time.monotonic()
            assert client.get("/health").status_code == 200
            latencies.append(time.monotonic() - started)
            time.sleep(0.02)
    thread.join()
    assert max(latencies) < 1.0, f"/health took up to {max(latencies):.2f}s during the upload"


def test_a_header_section_over_the_limit_is_431(server: Server) -> None:
    request = b"GET /health HTTP/1.1\r\nHost: test\r\nX-Big: " + b"a" * (1024 * 1024) + b"\r\n\r\n"
    try:
        response, closed = _exchange(server, request)
    except (BrokenPipeError, ConnectionResetError):
        response, closed = b"", True
    assert status_of(response) in (431, None), response[:200]
    assert status_of(response) == 431 or closed
    assert b"200 OK" not in response


@pytest.mark.parametrize(
    "body",
    [
        b'{"name": "\\ud800"}',
        b'{"name": "ok", "description": "\\udfff tail"}',
        b'{"name": NaN}',
        b'{"name": Infinity}',
        b'{"name": -Infinity}',
        b'{"name": 1e999}',
        b'{"name": "ok", "description": 1e999}',
    ],
)
def test_bodies_json_cannot_represent_are_4xx_never_5xx(server: Server, body: bytes) -> None:
    with server.client() as client:
        response = client.post(
            "/api/v1/items", content=body, headers={"content-type": "application/json"}
        )
    assert 400 <= response.status_code < 500, response.text


def test_validation_errors_do_not_echo_the_input(server: Server) -> None:
    with server.client() as client:
        response = client.post("/api/v1/items", json={"name": "y" * 60000})
    assert response.status_code == 422
    assert len(response.content) < 2048, f"a {len(response.content)}-byte error body"
    assert "yyyyyyyy" not in response.text


def test_a_connection_that_sends_nothing_is_closed(server: Server) -> None:
    started = time.monotonic()
    _, closed = _exchange(server, b"", timeout=5)
    assert closed, "an idle new connection stayed open"
    assert time.monotonic() - started < 4


def test_a_connection_stalled_mid_headers_is_closed(server: Server) -> None:
    started = time.monotonic()
    _, closed = _exchange(server, b"GET /health HTTP/1.1\r\nHost: te", timeout=5)
    assert closed, "a connection stalled in its headers stayed open"
    assert time.monotonic() - started < 4


def test_a_connection_stalled_mid_body_is_answered_408_and_closed(server: Server) -> None:
    started = time.monotonic()
    response, closed = _exchange(
        server, POST_HEAD + b'Content-Length: 100\r\n\r\n{"name": "stal', timeout=5
    )
    assert closed, "a connection stalled in its body stayed open"
    assert status_of(response) == 408, response[:200]
    assert time.monotonic() - started < 4


def test_an_idle_keep_alive_connection_is_closed_after_the_configured_timeout(
    server: Server,
) -> None:
    conn = RawConnection.open(server.base_url)
    try:
        conn.send(b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n")
        started = time.monotonic()
        response, closed = conn.read_until_closed(4)
    finally:
        conn.close()
    assert status_of(response) == 200
    assert closed, "the keep-alive connection outlived its timeout"
    assert time.monotonic() - started < 3
