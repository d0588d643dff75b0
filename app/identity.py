"""The service's name and version, for the API, its logs and its metrics."""

from __future__ import annotations

from importlib.metadata import version

SERVICE_NAME = "platform-api"
VERSION = version(SERVICE_NAME)
