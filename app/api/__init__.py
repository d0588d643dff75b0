"""HTTP routers. `ROUTERS` is the one place that lists them."""

from app.api import items, meta, metrics, probes

ROUTERS = (meta.router, probes.router, metrics.router, items.router)
