"""Swagger UI and ReDoc, with their assets served by the app: the pages work air-gapped.

The assets (Swagger UI, ReDoc) come from the pinned `fastapi-offline` package (ADR 0011). The
pages are built here rather than by its `FastAPIOffline()` factory so that they and the asset
mount come after the API's own routes: every request is matched against the routes in order, and
the docs are the rarest (ADR 0008 measures the difference).
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from app.identity import SERVICE_NAME

ASSETS_URL = "/static-offline-docs"
ASSETS = Path(fastapi_offline.__file__).parent / "static"
OPENAPI_URL = "/openapi.json"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"

router = APIRouter(tags=["docs"], include_in_schema=False)


@router.get("/docs")
async def read_swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI."""
    root = f"{request.scope.get('root_path', '')}"
    return get_swagger_ui_html(
        openapi_url=f"{root}{OPENAPI_URL}",
        title=f"{SERVICE_NAME} - Swagger UI",
        oauth2_redirect_url=OAUTH2_REDIRECT_URL,
        swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
        swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
    )


@router.get(OAUTH2_REDIRECT_URL)
async def read_swagger_ui_redirect() -> HTMLResponse:
    """Swagger UI's OAuth2 redirect page."""
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc")
async def read_redoc(request: Request) -> HTMLResponse:
    """ReDoc, without Google Fonts."""
    root = f"{request.scope.get('root_path', '')}"
    return get_redoc_html(
        openapi_url=f"{root}{OPENAPI_URL}",
        title=f"{SERVICE_NAME} - ReDoc",
        redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
        redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
        with_google_fonts=False,
    )


def mount_assets(app: FastAPI) -> None:
    """Serve the assets; call after every router is included (mounts match by prefix, in order)."""
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS), name="static-offline-docs")
