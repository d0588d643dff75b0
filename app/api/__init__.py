"""HTTP routers. `ROUTERS` is the one place that lists them."""

from app.api import docs, items, meta, metrics, probes

# In matching order: the probes, called every few seconds by every kubelet, come first; the
# docs pages, the rarest, last.
ROUTERS = (probes.router, meta.router, metrics.router, items.router, docs.router)
