"""`platform-api`: validate the configuration, then serve with one uvicorn process.

A subclass of uvicorn's server flips readiness to 503 the moment SIGTERM arrives, before uvicorn
stops accepting and drains in-flight requests. SHUTDOWN_TIMEOUT_SECONDS after the signal, the
requests still running are aborted with a clean 503 (app/guard.py); uvicorn's own drain timeout,
which would cancel them into 500s, is only a backstop a little later.
"""

from __future__ import annotations

import asyncio
import math
import signal
import socket
import sys
from types import FrameType

import uvicorn
from fastapi import FastAPI

from app.config import ConfigError, Settings, get_settings
from app.guard import ABORT_GRACE_SECONDS, InFlight
from app.logs import configure_logging, get_logger
from app.main import create_app
from app.protocol import BoundedHttpToolsProtocol
from app.readiness import ReadinessMonitor

STARTUP_FAILURE = 3
log = get_logger("platform.serve")


class DrainingServer(uvicorn.Server):
    def __init__(
        self,
        config: uvicorn.Config,
        *,
        readiness: ReadinessMonitor,
        inflight: InFlight,
        drain_seconds: float,
    ) -> None:
        super().__init__(config)
        self.readiness = readiness
        self.inflight = inflight
        self.drain_seconds = drain_seconds
        self.loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self.loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        first = not self.should_exit
        self.readiness.drain()
        super().handle_exit(sig, frame)
        if first and self.loop is not None:
            # A signal handler runs between two bytecodes of whatever the loop was doing:
            # schedule through the thread-safe entry point.
            self.loop.call_soon_threadsafe(
                self.loop.call_later, self.drain_seconds, self._drain_expired
            )

    def _drain_expired(self) -> None:
        aborted = self.inflight.abort_all("shutdown")
        if aborted:
            log.warning("drain timeout: aborting requests still running", requests=aborted)


def _config(settings: Settings, app: FastAPI) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http=BoundedHttpToolsProtocol.bounded(
            settings.http_max_header_bytes, settings.http_header_timeout_seconds
        ),
        lifespan="on",
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_keep_alive=settings.http_keepalive_timeout_seconds,
        # Backstop only: our own abort runs at SHUTDOWN_TIMEOUT_SECONDS (see DrainingServer).
        timeout_graceful_shutdown=math.ceil(
            settings.shutdown_timeout_seconds + 2 * ABORT_GRACE_SECONDS + 1
        ),
    )


def main() -> None:
    try:
        settings = get_settings()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        sys.exit(2)
    configure_logging(settings.log_level)
    try:
        app = create_app(settings)
    except ConfigError as exc:  # the token source (app/auth.py) is read when the app is built
        print(exc, file=sys.stderr)
        sys.exit(2)
    server = DrainingServer(
        _config(settings, app),
        readiness=app.state.readiness,
        inflight=app.state.inflight,
        drain_seconds=settings.shutdown_timeout_seconds,
    )
    # uvicorn drains on SIGTERM, then re-raises it against the handler that was installed before
    # it started. Ignoring SIGTERM there makes a drained stop exit 0, which is what Kubernetes and
    # `docker stop` should see from a planned shutdown; uvicorn's own handler is active meanwhile.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)
