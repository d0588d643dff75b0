"""Builds the FastAPI application; nothing here runs at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from app import handlers
from app.api import ROUTERS, docs
from app.auth import load_tokens
from app.config import Settings, get_settings
from app.db import create_pool
from app.guard import InFlight, Limits, RequestGuard
from app.identity import SERVICE_NAME, VERSION
from app.logs import get_logger
from app.metrics import HttpMetrics, PoolCollector, ReadinessCollector
from app.middleware import AccessMiddleware
from app.readiness import ReadinessMonitor
from app.revisions.window import CodeRevisions

log = get_logger("platform.app")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the pool without waiting for the database, start the background loops; undo on exit."""
    settings: Settings = app.state.settings
    pool = app.state.pool
    await pool.open(wait=False)
    readiness: ReadinessMonitor = app.state.readiness
    readiness.start()
    inflight: InFlight = app.state.inflight
    inflight.start()
    log.info("started", version=VERSION, environment=settings.app_env.value)
    try:
        yield
    finally:
        readiness.drain()
        await inflight.stop()
        await readiness.stop()
        await pool.close()
        log.info("stopped")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    # /docs and /redoc are the app's own (app/api/docs.py): no CDN, so they work air-gapped.
    app = FastAPI(
        title=SERVICE_NAME, version=VERSION, lifespan=lifespan, docs_url=None, redoc_url=None
    )
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
        conninfo=settings.conninfo(application_name=f"{SERVICE_NAME} readiness"),
        interval=settings.db_check_interval_seconds,
        timeout=settings.db_check_timeout_seconds,
    )
    registry.register(ReadinessCollector(app.state.readiness))
    app.state.inflight = InFlight()
    for router in ROUTERS:
        app.include_router(router)
    docs.mount_assets(app)
    handlers.register(app)
    metrics = HttpMetrics(registry)
    limits = Limits(
        max_body_bytes=settings.http_max_body_bytes,
        body_timeout=settings.http_body_timeout_seconds,
        request_timeout=settings.request_timeout_seconds,
    )
    # Added innermost first: the access log sees what the guard answers.
    app.add_middleware(RequestGuard, limits=limits, inflight=app.state.inflight, metrics=metrics)
    app.add_middleware(AccessMiddleware, metrics=metrics)
    return app
