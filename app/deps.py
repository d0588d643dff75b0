"""FastAPI dependencies, each defined once as an `Annotated` alias.

All are `async def`: FastAPI runs a plain `def` dependency in a worker thread, which would cost a
thread hop on every probe.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, cast

from fastapi import Depends, Request

from app.config import Settings
from app.db import Connection, Pool
from app.readiness import ReadinessMonitor


async def get_app_settings(request: Request) -> Settings:
    return cast(Settings, request.app.state.settings)


async def get_readiness(request: Request) -> ReadinessMonitor:
    return cast(ReadinessMonitor, request.app.state.readiness)


async def get_connection(request: Request) -> AsyncIterator[Connection]:
    """A pooled (autocommit) connection for one request, held only while the handler runs.

    Function-scoped (see ConnectionDep): the connection goes back to the pool when the handler
    returns, before the response is sent, so a client that reads slowly (or never) cannot pin
    it. A client that disconnects meanwhile aborts the request, which cancels its query: the
    server's protocol sees the disconnect (app/protocol.py).
    """
    pool = cast(Pool, request.app.state.pool)
    async with pool.connection() as conn:
        yield conn


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
ReadinessDep = Annotated[ReadinessMonitor, Depends(get_readiness)]
ConnectionDep = Annotated[Connection, Depends(get_connection, scope="function")]
