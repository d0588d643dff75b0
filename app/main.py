"""Builds the FastAPI application; nothing here runs at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry
from psycopg import OperationalError
from psycopg_pool import PoolTimeout

from app.api import ROUTERS
from app.api.meta import SERVICE_NAME, VERSION
from app.auth import load_tokens
from app.config import Settings, get_settings
from app.db import create_pool
from app.logs import get_logger
from app.metrics import HttpMetrics, PoolCollector
from app.middleware import AccessMiddleware
from app.migrate.compat import CodeRevisions
from app.readiness import ReadinessMonitor

log = get_logger("platform.app")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the pool without waiting for the database, start the readiness loop; undo on exit."""
    settings: Settings = app.state.settings
    pool = app.state.pool
    await pool.open(wait=False)
    readiness: ReadinessMonitor = app.state.readiness
    readiness.start()
    log.info("started", version=VERSION, environment=settings.app_env.value)
    try:
        yield
    finally:
        readiness.drain()
        await readiness.stop()
        await pool.close()
        log.info("stopped")


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    # The request was valid; the database was not there. 503 tells clients and meshes to retry.
    log.warning("database unavailable", error=type(exc).__name__)
    return JSONResponse(
        {"detail": "database unavailable"}, status_code=503, headers={"Retry-After": "1"}
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(title=SERVICE_NAME, version=VERSION, lifespan=lifespan)
    pool = create_pool(settings)
    registry = CollectorRegistry()
    registry.register(PoolCollector(pool))
    app.state.settings = settings
    app.state.tokens = load_tokens(settings)
    if app.state.tokens is None:
        log.warning("write authentication is off: API_TOKENS_DIR is not set")
    app.state.pool = pool
    app.state.registry = registry
    app.state.readiness = ReadinessMonitor(
        pool,
        CodeRevisions.load(),
        interval=settings.db_check_interval_seconds,
        timeout=settings.db_check_timeout_seconds,
    )
    for router in ROUTERS:
        app.include_router(router)
    app.add_exception_handler(PoolTimeout, _database_unavailable)
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_middleware(AccessMiddleware, metrics=HttpMetrics(registry))
    return app
