"""Access log, request id and request metrics in one pure ASGI middleware.

Pure ASGI rather than BaseHTTPMiddleware: no extra task per request, and the route template is
read from the scope after routing, so metrics never get one label per item id.
"""

from __future__ import annotations

import re
import time
import uuid

import structlog
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.guard import CLIENT_CLOSED_REQUEST, running_of
from app.logs import get_logger
from app.metrics import HttpMetrics

log = get_logger("platform.access")
REQUEST_ID_HEADER = b"x-request-id"
# An incoming id is echoed into logs and headers: accept only a short, printable token.
VALID_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    if route is not None:
        return str(route.path)
    app = scope.get("app")
    router = getattr(app, "router", None)
    for candidate in getattr(router, "routes", ()):
        if candidate.matches(scope)[0] == Match.FULL:
            return str(candidate.path)
    return "unmatched"


class AccessMiddleware:
    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        incoming = dict(scope["headers"]).get(REQUEST_ID_HEADER, b"")
        request_id = incoming.decode() if VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        status = 500

        async def send_with_request_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (REQUEST_ID_HEADER, request_id.encode()),
                ]
            await send(message)

        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive, send_with_request_id)
        finally:
            duration = time.perf_counter() - started
            running = running_of(scope)
            if running is not None and running.reason == "client disconnected":
                status = CLIENT_CLOSED_REQUEST
            route = _route_template(scope)
            self.metrics.observe(scope["method"], route, status, duration)
            log.info(
                "request",
                method=scope["method"],
                route=route,
                path=scope["path"],
                status=status,
                duration_ms=round(duration * 1000, 3),
            )
            structlog.contextvars.unbind_contextvars("request_id")
