"""Exception handlers: invalid requests and database failures become bounded, safe responses."""

from __future__ import annotations

from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from app.db_errors import classify
from app.logs import get_logger

log = get_logger("platform.app")
# An error body describes what was wrong, never echoes what was sent: inputs can be megabytes,
# may not even be encodable (lone surrogates, NaN), and would be reflected to whoever sent them.
MAX_ERRORS = 10
MAX_LOC_CHARS = 64


def _loc_part(part: Any) -> str | int:
    if isinstance(part, int):
        return part
    text = str(part)[:MAX_LOC_CHARS]
    return text.encode("utf-8", "replace").decode("utf-8")


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    """422 with each error's location, type and message: no `input`, no `ctx`, at most 10."""
    assert isinstance(exc, RequestValidationError)  # noqa: S101 - registered for this type only
    details = [
        {
            "type": error["type"],
            "loc": [_loc_part(part) for part in error["loc"]],
            "msg": error["msg"],
        }
        for error in exc.errors()[:MAX_ERRORS]
    ]
    return JSONResponse({"detail": details}, status_code=422)


async def database_error(request: Request, exc: Exception) -> JSONResponse:
    """503 + Retry-After for what a retry can fix; a logged 500 for everything else."""
    verdict = classify(exc)
    if verdict is None:
        log.error("database error", error=type(exc).__name__, exc_info=exc)
        return JSONResponse({"detail": "internal server error"}, status_code=500)
    sqlstate = getattr(exc, "sqlstate", None)
    log.warning("database unavailable", error=type(exc).__name__, sqlstate=sqlstate)
    return JSONResponse(
        {"detail": verdict.detail},
        status_code=503,
        headers={"Retry-After": str(verdict.retry_after_seconds)},
    )


def register(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(psycopg.Error, database_error)
