"""uvicorn's httptools protocol with the two bounds it lacks: header size and header read time.

uvicorn's httptools protocol (the fast one) accepts a request line and headers of any size and
waits forever for them, so one client can hold memory or a connection slot indefinitely
(slowloris). This subclass, passed to uvicorn as its `http` protocol class, answers 431 when the
request line and headers exceed `max_header_bytes`, and 408 and closes when they have not all
arrived within `header_timeout` of the connection opening or of the previous response. Bodies are
bounded in the application (app/guard.py), where a limit can be answered with a proper response.
See docs/decisions/0008-http-server-bounds.md.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from starlette.types import Scope
from uvicorn._types import ASGI3Application
from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)

from app.guard import running_of


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    max_header_bytes = 16 * 1024
    header_timeout = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reading_headers = True
        self._header_bytes = 0
        self._tail = b""
        self._refused = False
        self._active: RequestResponseCycle | None = None
        self._header_timer: asyncio.TimerHandle | None = None

    @classmethod
    def bounded(cls, max_header_bytes: int, header_timeout: float) -> type[HttpToolsProtocol]:
        """A subclass carrying the bounds: uvicorn instantiates the class it is given."""
        attributes = {"max_header_bytes": max_header_bytes, "header_timeout": header_timeout}
        return type("ConfiguredHttpToolsProtocol", (cls,), attributes)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        # A client that leaves mid-request gets nothing more: abort what runs for it, which
        # cancels its query in PostgreSQL (app/guard.py) instead of letting it run to the end.
        active = self._active
        if active is not None and not active.response_complete:
            running = running_of(cast(Scope, active.scope))
            if running is not None:
                running.abort("client disconnected")
        super().connection_lost(exc)

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: ASGI3Application) -> None:
        # With pipelining `self.cycle` is the newest request, not the running one: remember it.
        self._active = cycle
        super()._start_asgi_task(cycle, app)

    def data_received(self, data: bytes) -> None:
        if self._reading_headers:
            self._arm_header_timer()
            # Count the bytes up to the end of the header section (or all of them, if it has not
            # ended yet), so an endless section is refused before httptools buffers all of it.
            end = (self._tail + data).find(b"\r\n\r\n")
            self._header_bytes += len(data) if end < 0 else max(0, end - len(self._tail))
            self._tail = data[-3:]
            if self._header_bytes > self.max_header_bytes:
                self._refuse(431, "request headers too large")
                return
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading_headers = True

    def on_headers_complete(self) -> None:
        # The exact size, for a section that arrived whole in one chunk.
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size > self.max_header_bytes:
            self._refuse(431, "request headers too large")
            raise _HeadersTooLargeError
        self._reading_headers = False
        self._header_bytes = 0
        self._tail = b""
        self._disarm_header_timer()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # The next request's headers are bounded from here (uvicorn's keep-alive timeout closes
        # the connection first if nothing arrives at all).
        self._reading_headers = True

    def send_400_response(self, msg: str) -> None:
        # After a refusal the parser is stopped by an exception, which uvicorn answers with a
        # 400 of its own: the connection already has its answer.
        if not self._refused:
            super().send_400_response(msg)

    def _arm_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._header_timed_out)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timed_out(self) -> None:
        self._header_timer = None
        if self._reading_headers and not self.transport.is_closing():
            self._refuse(408, "request headers not received in time")

    def _refuse(self, status: int, message: str) -> None:
        """Answer outside the application (no request exists yet) and close the connection."""
        self._refused = True
        self._disarm_header_timer()
        self.logger.info("refused connection: %s", message)
        body = message.encode("ascii")
        self.transport.write(
            b"".join(
                [
                    STATUS_LINE[status],
                    b"content-type: text/plain; charset=utf-8\r\n",
                    b"content-length: %d\r\n" % len(body),
                    b"connection: close\r\n\r\n",
                    body,
                ]
            )
        )
        self.transport.close()


class _HeadersTooLargeError(Exception):
    """Raised from a parser callback to stop parsing an oversized header section."""
