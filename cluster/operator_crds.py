"""The Prometheus Operator's CRDs for monitors and rules, from its pinned Go module.

The test cluster serves `monitoring.coreos.com/v1` like a cluster with the operator (no operator
runs): the chart then renders its ServiceMonitor and PrometheusRule on every install, and the
apiserver validates them against the operator's own schemas. The module comes from the Go
module proxy like every other pinned component, and its hash must be the pinned one.
"""

from __future__ import annotations

import json
from pathlib import Path

from cluster import config, images
from cluster.system import run


def files() -> list[Path]:
    """The CRD files of the pinned module (downloaded into Go's module cache when missing)."""
    module = f"{config.PROMETHEUS_OPERATOR_MODULE}@{config.PROMETHEUS_OPERATOR_VERSION}"
    info = json.loads(run(images.go(), "mod", "download", "-json", module))
    if info.get("Sum") != config.PROMETHEUS_OPERATOR_SUM:
        raise RuntimeError(
            f"{module}: hash {info.get('Sum')!r}, pinned {config.PROMETHEUS_OPERATOR_SUM!r}"
        )
    return [Path(info["Dir"]) / name for name in config.PROMETHEUS_OPERATOR_CRDS]
