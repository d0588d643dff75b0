"""Every request is bounded: body size, body read time, total time, and its client staying.

A pure ASGI middleware, inside the access log so refusals are logged and counted like any other
answer:
- a body declared larger than HTTP_MAX_BODY_BYTES is refused with 413 before a byte of it is read;
  a chunked body is cut off with 413 the moment it crosses the limit;
- a body that has not fully arrived HTTP_BODY_TIMEOUT_SECONDS after the headers gets 408;
- 413 and 408 close the connection (`Connection: close`), so a client cannot keep streaming an
  unwanted body into it;
- a request still running after REQUEST_TIMEOUT_SECONDS is aborted with 503 + Retry-After;
- a request whose client disconnects is aborted, which cancels its query in PostgreSQL (the
  server's protocol reports the disconnect: app/protocol.py);
- at the end of a graceful shutdown's drain, whatever still runs is aborted with 503.

Aborting cancels the request's task: psycopg then asks PostgreSQL to cancel the running query.
A server that does not answer that request (frozen, or a network partition) would keep the task
waiting for seconds, so an abort that has not finished within ABORT_GRACE_SECONDS cancels again,
which makes psycopg drop the connection instead. Each aborted request is logged once
(`request aborted`, with its reason) and counted in `http_requests_aborted_total`.

The per-request work is kept to a registry entry and a header scan (ADR 0008 measures it):
deadlines are enforced by one sweeper task for all requests, not a timer each, and only requests
that carry a body get their `receive` wrapped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.logs import get_logger
from app.metrics import HttpMetrics

log = get_logger("platform.guard")
ABORT_GRACE_SECONDS = 1.0
# How often the sweeper looks for requests past their deadline: the deadline's precision.
SWEEP_SECONDS = 0.25
SCOPE_KEY = "platform.request"
# An aborted request's status in the access log and metrics when nothing could be sent: nginx's
# "client closed request", the de facto convention.
CLIENT_CLOSED_REQUEST = 499
CLOSE = {"Connection": "close"}
ABORT_ANSWERS = {
    "deadline": (503, "request timed out", {"Retry-After": "1"}),
    "shutdown": (503, "server shutting down", {"Retry-After": "1", **CLOSE}),
}


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int
    body_timeout: float
    request_timeout: float


class Running:
    """One request in flight: its task, its deadline, and why it was aborted, if it was."""

    __slots__ = ("_again", "_cancels", "deadline", "reason", "task")

    def __init__(self, task: asyncio.Task[object], deadline: float) -> None:
        self.task = task
        self.deadline = deadline
        self.reason: str | None = None
        self._cancels = 0
        self._again: asyncio.TimerHandle | None = None

    def abort(self, reason: str) -> None:
        """Cancel the task, and once more after ABORT_GRACE_SECONDS if it is still running."""
        if self.reason is not None:
            return
        self.reason = reason
        self._cancel()
        self._again = asyncio.get_running_loop().call_later(ABORT_GRACE_SECONDS, self._cancel)

    def _cancel(self) -> None:
        if not self.task.done():
            self._cancels += 1
            self.task.cancel()

    def settle(self) -> None:
        """Undo our cancellations on the task, which goes on to answer for the request."""
        if self._again is not None:
            self._again.cancel()
        for _ in range(self._cancels):
            self.task.uncancel()
        self._cancels = 0


class InFlight:
    """The requests running now; its sweeper aborts those past their deadline."""

    def __init__(self) -> None:
        self._running: set[Running] = set()
        self._sweeper: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._running)

    def add(self, running: Running) -> None:
        self._running.add(running)

    def discard(self, running: Running) -> None:
        self._running.discard(running)

    def abort_all(self, reason: str) -> int:
        for running in list(self._running):
            running.abort(reason)
        return len(self._running)

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            now = loop.time()
            for running in [r for r in self._running if r.deadline <= now]:
                running.abort("deadline")

    def start(self) -> None:
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep(), name="deadlines")

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper


def running_of(scope: Scope) -> Running | None:
    running = scope.get(SCOPE_KEY)
    return running if isinstance(running, Running) else None


def _body_length(scope: Scope) -> int | None:
    """The declared body length; -1 for a chunked body; None for no body at all."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else -1
        if name == b"transfer-encoding":
            return -1
    return None


async def _answer(send: Send, status: int, detail: str, headers: dict[str, str]) -> None:
    body = json.dumps({"detail": detail}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    raw += [(key.lower().encode(), value.encode()) for key, value in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class RequestGuard:
    def __init__(
        self, app: ASGIApp, *, limits: Limits, inflight: InFlight, metrics: HttpMetrics
    ) -> None:
        self.app = app
        self.limits = limits
        self.inflight = inflight
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _body_length(scope)
        if length is not None and length > self.limits.max_body_bytes:
            # Refused unread; Connection: close, or the body would be read (and dropped) anyway.
            await _answer(send, 413, "request body too large", CLOSE)
            return
        if length is not None and length != 0:
            receive = self._bounded_receive(receive)
        task = asyncio.current_task()
        assert task is not None  # noqa: S101 - ASGI apps always run in a task
        running = Running(task, asyncio.get_running_loop().time() + self.limits.request_timeout)
        scope[SCOPE_KEY] = running
        self.inflight.add(running)
        try:
            await self.app(scope, receive, send)
        except asyncio.CancelledError:
            if running.reason is None:
                raise
            running.settle()
            await self._aborted(running.reason, send)
        finally:
            self.inflight.discard(running)

    def _bounded_receive(self, receive: Receive) -> Callable[[], Awaitable[Message]]:
        """`receive`, with the body's size and arrival time bounded until it is complete."""
        limits = self.limits
        received = 0
        complete = False
        body_deadline = asyncio.get_running_loop().time() + limits.body_timeout

        async def bounded() -> Message:
            nonlocal received, complete
            if complete:
                return await receive()
            # FastAPI turns an HTTPException raised while it reads the body into its response.
            try:
                async with asyncio.timeout_at(body_deadline):
                    message = await receive()
            except TimeoutError:
                raise HTTPException(408, "request body not received in time", CLOSE) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                complete = not message.get("more_body", False)
                if received > limits.max_body_bytes:
                    raise HTTPException(413, "request body too large", CLOSE)
            else:
                complete = True
            return message

        return bounded

    async def _aborted(self, reason: str, send: Send) -> None:
        self.metrics.aborted(reason)
        log.warning("request aborted", reason=reason)
        if reason in ABORT_ANSWERS:
            status, detail, headers = ABORT_ANSWERS[reason]
            # A response already under way cannot be replaced: the server refuses a second start
            # and closes the connection, which is all that is left to do.
            with contextlib.suppress(RuntimeError):
                await _answer(send, status, detail, headers)
