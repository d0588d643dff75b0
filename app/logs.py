"""Structured JSON logs on stdout, one object per line, for the API and the migration CLI alike.

Our own lines take structlog's native path (a filtering bound logger writing straight to stdout):
the access line is written on every request, and the standard library's handler machinery would
cost more than the request itself. Lines from libraries (uvicorn, Alembic, psycopg) come through
the standard library and are rendered by the same processors, so every line has the same shape.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

SHARED_PROCESSORS: list[structlog.types.Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.processors.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


class StdoutLogger:
    """Writes each rendered line to whatever `sys.stdout` is now (tests swap it), then flushes."""

    def __init__(self, name: str = "") -> None:
        self.name = name  # read by structlog.stdlib.add_logger_name

    def msg(self, message: str) -> None:
        sys.stdout.write(message + "\n")
        sys.stdout.flush()

    debug = info = warning = error = critical = exception = msg


def configure_logging(level: str) -> None:
    """Route structlog and the standard library to one JSON stream on stdout."""
    structlog.configure(
        processors=[
            *SHARED_PROCESSORS,
            structlog.stdlib.add_logger_name,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=StdoutLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*SHARED_PROCESSORS, structlog.stdlib.add_logger_name],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Our middleware writes the access line; uvicorn's own would be a second, poorer copy.
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True


def get_logger(name: str) -> Any:
    """A logger whose lines carry `"logger": name`, like the standard library's."""
    return structlog.get_logger(name)
