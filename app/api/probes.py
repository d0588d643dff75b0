"""Liveness/startup and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.deps import ReadinessDep
from app.schemas import Status

router = APIRouter(tags=["probes"])

OK = {"status": "ok"}


@router.get("/health", response_model=Status, response_model_exclude_none=True)
async def read_health() -> dict[str, str]:
    """Liveness and startup: the process serves. Never touches the database."""
    return OK


@router.get("/db-check", response_model=Status, responses={503: {"model": Status}})
async def read_db_check(readiness: ReadinessDep) -> JSONResponse:
    """Readiness: the latest background verdict on the database and its schema revision."""
    verdict = readiness.current()
    if verdict.ready:
        return JSONResponse(OK)
    return JSONResponse({"status": "unavailable", "reason": verdict.reason}, status_code=503)
