"""Prometheus exposition."""

from __future__ import annotations

from typing import cast

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

router = APIRouter(tags=["meta"])


@router.get("/metrics", response_class=Response, include_in_schema=False)
async def read_metrics(request: Request) -> Response:
    """Request and pool metrics in the Prometheus text format."""
    registry = cast(CollectorRegistry, request.app.state.registry)
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
