"""Service identity."""

from __future__ import annotations

from fastapi import APIRouter

from app.deps import SettingsDep
from app.identity import SERVICE_NAME, VERSION
from app.schemas import ServiceInfo

router = APIRouter(tags=["meta"])


@router.get("/", response_model=ServiceInfo)
async def read_identity(settings: SettingsDep) -> ServiceInfo:
    """Name, version and environment; no secrets, no database access."""
    return ServiceInfo(name=SERVICE_NAME, version=VERSION, environment=settings.app_env.value)
