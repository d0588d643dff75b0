"""The suite's namespaces: one per scenario, enforcing Pod Security `restricted`."""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Iterator

from tests.cluster.kube import Kube
from tests.e2e.timeline import TIMELINE

# Keep the namespaces after the run (to look at a failure): E2E_KEEP_NAMESPACES=1.
KEEP = os.environ.get("E2E_KEEP_NAMESPACES") == "1"
RUN_ID = uuid.uuid4().hex[:6]
RESTRICTED = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
}


def create_namespace(cluster: Kube, name: str) -> Kube:
    """A namespace enforcing Pod Security `restricted`, with its default ServiceAccount."""
    cluster.apply(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": RESTRICTED}}
    )
    kube = cluster.in_namespace(name)
    kube.run("wait", "--for=create", "serviceaccount/default", "--timeout=60s")
    return kube


@functools.cache
def monitoring_kinds(config: str) -> tuple[str, ...]:
    """The chart's monitors and rule, where the cluster serves their kinds (the test cluster
    does); asked once per cluster, not on every poll of `leftovers`."""
    listed = Kube(config).run("api-resources", "--api-group=monitoring.coreos.com", "-o", "name")
    return tuple(sorted(listed.split()))


def leftovers(kube: Kube) -> list[str]:
    """Every namespaced object but the namespace's own defaults (and Events)."""
    kinds = (
        "deployments,statefulsets,replicasets,pods,services,endpoints,jobs,cronjobs,configmaps,secrets,"
        "serviceaccounts,persistentvolumeclaims,poddisruptionbudgets,networkpolicies,"
        "horizontalpodautoscalers"
    )
    kinds = ",".join([kinds, *monitoring_kinds(kube.config)])
    names = kube.run("get", kinds, "-o", "name").split()
    defaults = {"configmap/kube-root-ca.crt", "serviceaccount/default"}
    return sorted(n for n in names if n not in defaults)


def namespace(cluster: Kube, purpose: str) -> Iterator[Kube]:
    """A fresh namespace enforcing `restricted`; deleted afterwards unless E2E_KEEP_NAMESPACES=1."""
    name = f"e2e-{purpose}-{RUN_ID}"
    with TIMELINE.step(f"{purpose}: create namespace {name} (restricted)"):
        kube = create_namespace(cluster, name)
    yield kube
    if not KEEP:
        cluster.run("delete", "namespace", name, "--wait=false")
