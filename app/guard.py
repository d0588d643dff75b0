"""Every request is bounded: body size, body read time, total time, and its client staying.

A pure ASGI middleware (inside the access log, so refusals are logged and counted like any other
answer). The body size itself is bounded by FastAPI's `max_body_size` (HTTP_MAX_BODY_BYTES: a
declared Content-Length over it is refused before the body is read, a chunked body the moment it
crosses it); this middleware adds the rest:
- a 413 or 408 closes the connection (Connection: close), so a client cannot keep streaming an
  unwanted body into it;
- a body that has not fully arrived HTTP_BODY_TIMEOUT_SECONDS after the headers gets 408;
- a request still running after REQUEST_TIMEOUT_SECONDS is aborted with 503 + Retry-After;
- a request whose client disconnects while it holds a database connection is aborted (its query
  is cancelled in PostgreSQL), see `watch_disconnect`;
- at the end of a graceful shutdown's drain, whatever still runs is aborted with 503.

Aborting cancels the request's task: psycopg then asks PostgreSQL to cancel the running query.
A server that does not answer that request (frozen, or a network partition) would keep the task
waiting for seconds, so an abort that has not finished within ABORT_GRACE_SECONDS cancels again,
which makes psycopg drop the connection instead. Each aborted request is logged once
(`request aborted`, with its reason) and counted in `http_requests_aborted_total`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.logs import get_logger
from app.metrics import HttpMetrics

log = get_logger("platform.guard")
ABORT_GRACE_SECONDS = 1.0
SCOPE_KEY = "platform.abort"
# An aborted request's status in the access log and metrics when nothing could be sent: nginx's
# "client closed request", the de facto convention.
CLIENT_CLOSED_REQUEST = 499
CLOSE = {"Connection": "close"}
# Answers after which the rest of the request's body, if any, is unwanted: close the connection
# rather than read and discard whatever the client keeps sending.
CLOSING_STATUSES = frozenset({408, 413})


@dataclass(frozen=True)
class Limits:
    body_timeout: float
    request_timeout: float


@dataclass(eq=False)
class Abort:
    """Cancels one request's task for a reason: once, then once more if that is not enough."""

    task: asyncio.Task[object]
    reason: str | None = None
    _cancels: int = field(default=0, init=False)
    _again: asyncio.TimerHandle | None = field(default=None, init=False)

    def fire(self, reason: str) -> None:
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

    def watch_disconnect(self, receive: Receive) -> asyncio.Task[None]:
        """A task that aborts the request when its client disconnects; cancel it when done.

        Started while a request holds a database connection (app/deps.py): its body is read by
        then, so the only message left to receive is the disconnect.
        """

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            self.fire("client disconnected")

        return asyncio.get_running_loop().create_task(watch())


class InFlight:
    """The requests running now, so a shutdown can abort those its drain did not see finish."""

    def __init__(self) -> None:
        self._aborts: set[Abort] = set()

    def __len__(self) -> int:
        return len(self._aborts)

    def add(self, abort: Abort) -> None:
        self._aborts.add(abort)

    def discard(self, abort: Abort) -> None:
        self._aborts.discard(abort)

    def abort_all(self, reason: str) -> int:
        for abort in list(self._aborts):
            abort.fire(reason)
        return len(self._aborts)


def abort_of(scope: Scope) -> Abort | None:
    abort = scope.get(SCOPE_KEY)
    return abort if isinstance(abort, Abort) else None


async def _answer(send: Send, status: int, detail: str, headers: dict[str, str]) -> None:
    body = json.dumps({"detail": detail}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    raw += [(key.lower().encode(), value.encode()) for key, value in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


ABORT_ANSWERS = {
    "deadline": (503, "request timed out", {"Retry-After": "1"}),
    "shutdown": (503, "server shutting down", {"Retry-After": "1", **CLOSE}),
}


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
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None  # noqa: S101 - ASGI apps always run in a task
        abort = Abort(task)
        scope[SCOPE_KEY] = abort
        self.inflight.add(abort)
        deadline = loop.call_later(self.limits.request_timeout, abort.fire, "deadline")
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if message["status"] in CLOSING_STATUSES:
                    message["headers"] = [*message.get("headers", []), (b"connection", b"close")]
            await send(message)

        try:
            await self.app(scope, self._bounded_receive(receive), tracking_send)
        except asyncio.CancelledError:
            if abort.reason is None:
                raise
            abort.settle()
            await self._aborted(abort.reason, send, answered=started)
        finally:
            deadline.cancel()
            self.inflight.discard(abort)

    def _bounded_receive(self, receive: Receive) -> Callable[[], Awaitable[Message]]:
        """`receive`, with the body's arrival time bounded until it is complete."""
        complete = False
        body_deadline = asyncio.get_running_loop().time() + self.limits.body_timeout

        async def bounded() -> Message:
            nonlocal complete
            if complete:
                return await receive()
            try:
                async with asyncio.timeout_at(body_deadline):
                    message = await receive()
            except TimeoutError:
                # FastAPI turns an HTTPException raised while it reads the body into its response.
                raise HTTPException(408, "request body not received in time") from None
            complete = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        return bounded

    async def _aborted(self, reason: str, send: Send, *, answered: bool) -> None:
        self.metrics.aborted(reason)
        log.warning("request aborted", reason=reason)
        if reason in ABORT_ANSWERS and not answered:
            status, detail, headers = ABORT_ANSWERS[reason]
            await _answer(send, status, detail, headers)
