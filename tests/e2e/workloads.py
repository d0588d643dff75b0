"""The suite's own pods (load generator, probes) as Pod Security `restricted` admits them."""

from __future__ import annotations

from typing import Any

from tests.e2e.chart import Obj

# The API image's numeric user: `runAsNonRoot` needs a number to check.
USER = 10001
POD_SECURITY: Obj = {
    "runAsNonRoot": True,
    "runAsUser": USER,
    "runAsGroup": USER,
    "seccompProfile": {"type": "RuntimeDefault"},
}
CONTAINER_SECURITY: Obj = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}


def restricted_pod(
    name: str, labels: dict[str, str], container: Obj, node: str | None = None, **spec: Any
) -> Obj:
    """A run-once pod of one container, optionally pinned to `node` (kubernetes.io/hostname)."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "securityContext": POD_SECURITY,
            "containers": [{**container, "securityContext": CONTAINER_SECURITY}],
            **spec,
            **({"nodeSelector": {"kubernetes.io/hostname": node}} if node else {}),
        },
    }
