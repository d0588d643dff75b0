"""Helpers for tests that run the real console scripts as separate processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient
from localpg import free_port

SCRIPTS = Path(sys.executable).parent


def clean_env(**overrides: str) -> dict[str, str]:
    """The test's environment without any database settings, plus `overrides`."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(
            ("POSTGRES_", "DATABASE_", "DB_", "MIGRATE_", "APP_", "API_", "PGSSL")
        )
    }
    return env | overrides


def migrate(
    url: str, *args: str, check: bool = False, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run `platform-migrate ARGS` against `url` and capture its output."""
    return subprocess.run(
        [str(SCRIPTS / "platform-migrate"), *args],
        env=clean_env(DATABASE_URL=url, **env),
        capture_output=True,
        text=True,
        check=check,
        timeout=120,
    )


def json_lines(output: str) -> list[dict[str, Any]]:
    """The JSON log lines of a process's stdout (anything else is ignored)."""
    lines = []
    for line in output.splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


@dataclass
class Server:
    process: subprocess.Popen[str]
    base_url: str
    log: Path

    def client(self, timeout: float = 5.0) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=timeout)

    def terminate(self, timeout: float = 30.0) -> tuple[int, str]:
        """SIGTERM, wait, return (exit code, everything it printed)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=timeout)
        return self.process.returncode, self.log.read_text()


@contextmanager
def serve(url: str, **env: str) -> Iterator[Server]:
    """Run `platform-api` on a free loopback port until /health answers; kill it on exit."""
    port = free_port()
    # Output goes to a file, not a pipe: an unread pipe fills up and blocks the server's logging.
    with tempfile.NamedTemporaryFile("w", prefix="platform-api-", suffix=".log") as log:
        process = subprocess.Popen(
            [str(SCRIPTS / "platform-api")],
            env=clean_env(DATABASE_URL=url, HOST="127.0.0.1", PORT=str(port), **env),
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        server = Server(process, f"http://127.0.0.1:{port}", Path(log.name))
        try:
            wait_until(lambda: _answers(server), timeout=30, what="platform-api /health")
            yield server
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def _answers(server: Server) -> bool:
    if server.process.poll() is not None:
        raise RuntimeError(f"platform-api exited early:\n{server.log.read_text()}")
    try:
        return httpx.get(f"{server.base_url}/health", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def wait_until(condition: Any, *, timeout: float, what: str, interval: float = 0.05) -> float:
    """Poll `condition()` until true; return the seconds it took, or fail after `timeout`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
    return time.monotonic() - started


def wait_ready(client: httpx.Client | TestClient, *, timeout: float, what: str = "ready") -> float:
    """Poll /db-check until 200: an app's first readiness check runs after it starts serving."""
    return wait_until(
        lambda: client.get("/db-check").status_code == 200, timeout=timeout, what=what
    )


@dataclass
class RawConnection:
    """One TCP connection to a test server, for requests no HTTP client would send."""

    sock: socket.socket

    @classmethod
    def open(cls, base_url: str, timeout: float = 10.0) -> RawConnection:
        host, port = base_url.removeprefix("http://").split(":")
        return cls(socket.create_connection((host, int(port)), timeout=timeout))

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_until_closed(self, timeout: float) -> tuple[bytes, bool]:
        """Everything the server sends within `timeout`, and whether it closed the connection."""
        self.sock.settimeout(timeout)
        deadline = time.monotonic() + timeout
        received = b""
        while time.monotonic() < deadline:
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                return received, False
            except ConnectionResetError:
                return received, True
            if not chunk:
                return received, True
            received += chunk
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
        return received, False

    def close(self) -> None:
        self.sock.close()


def status_of(response: bytes) -> int | None:
    """The status code of the first HTTP response in `response`, if there is one."""
    if not response.startswith(b"HTTP/1."):
        return None
    return int(response.split(b" ", 2)[1])
