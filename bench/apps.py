"""Baseline apps for the benchmark, served with the same uvicorn settings as platform-api."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from psycopg_pool import AsyncConnectionPool

bare = FastAPI()


@bare.get("/")
async def hello() -> dict[str, str]:
    """The ceiling: FastAPI with nothing to do."""
    return {"status": "ok"}


@asynccontextmanager
async def _pool_lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Autocommit like the app: the ceiling pays no BEGIN/COMMIT round trip either.
    url = os.environ["DATABASE_URL"]
    kwargs = {"autocommit": True}
    async with AsyncConnectionPool(url, min_size=1, max_size=10, kwargs=kwargs) as pool:
        app.state.pool = pool
        yield


pooled = FastAPI(lifespan=_pool_lifespan)


@pooled.get("/")
async def select_one() -> dict[str, int]:
    """The DB-bound ceiling: one pooled SELECT 1 per request, nothing else."""
    async with pooled.state.pool.connection() as conn:
        cursor = await conn.execute("SELECT 1")
        row = await cursor.fetchone()
    return {"value": row[0] if row else 0}
