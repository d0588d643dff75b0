"""Fixtures for the smoke suite: a kubectl for the cluster and a namespace per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.cluster.kube import Kube, kubeconfig


@pytest.fixture(scope="session")
def cluster() -> Kube:
    """kubectl for the cluster under test (cluster-scoped)."""
    return Kube(kubeconfig())


def _namespace(cluster: Kube, labels: dict[str, str]) -> Iterator[Kube]:
    name = f"smoke-{uuid.uuid4().hex[:8]}"
    cluster.apply(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}
    )
    # Pods need the namespace's default service account, which a controller creates.
    kube = cluster.in_namespace(name)
    kube.run("wait", "--for=create", "serviceaccount/default", "--timeout=60s")
    yield kube
    cluster.run("delete", "namespace", name, "--wait=false")


@pytest.fixture
def kube(cluster: Kube) -> Iterator[Kube]:
    """kubectl bound to a fresh namespace, deleted after the test."""
    yield from _namespace(cluster, {})


@pytest.fixture
def restricted(cluster: Kube) -> Iterator[Kube]:
    """A fresh namespace where Pod Security admission enforces the restricted profile."""
    yield from _namespace(cluster, {"pod-security.kubernetes.io/enforce": "restricted"})
