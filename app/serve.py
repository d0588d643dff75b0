"""`platform-api`: validate the configuration, then serve with one uvicorn process.

A subclass of uvicorn's server flips readiness to 503 the moment SIGTERM arrives, before uvicorn
stops accepting and drains in-flight requests (up to SHUTDOWN_TIMEOUT_SECONDS).
"""

from __future__ import annotations

import signal
import sys
from types import FrameType

import uvicorn

from app.config import ConfigError, get_settings
from app.logs import configure_logging
from app.main import create_app
from app.readiness import ReadinessMonitor

STARTUP_FAILURE = 3


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, readiness: ReadinessMonitor) -> None:
        super().__init__(config)
        self.readiness = readiness

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.readiness.drain()
        super().handle_exit(sig, frame)


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
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=int(settings.shutdown_timeout_seconds),
    )
    server = DrainingServer(config, app.state.readiness)
    # uvicorn drains on SIGTERM, then re-raises it against the handler that was installed before
    # it started. Ignoring SIGTERM there makes a drained stop exit 0, which is what Kubernetes and
    # `docker stop` should see from a planned shutdown; uvicorn's own handler is active meanwhile.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)
