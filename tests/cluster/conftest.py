"""Fixtures for the smoke suite: a kubectl for the cluster and a namespace per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cluster.kube import Kube, kubeconfig, schedulable_nodes, scratch_namespace


@pytest.fixture(scope="session")
def cluster() -> Kube:
    """kubectl for the cluster under test (cluster-scoped)."""
    return Kube(kubeconfig())


@pytest.fixture(scope="session")
def nodes(cluster: Kube) -> list[str]:
    """The nodes a test may pin pods to: Ready and schedulable, sorted by name."""
    names = schedulable_nodes(cluster)
    assert names, "no Ready, schedulable node"
    return names


@pytest.fixture
def kube(cluster: Kube) -> Iterator[Kube]:
    """kubectl bound to a fresh namespace, deleted after the test."""
    with scratch_namespace(cluster) as namespaced:
        yield namespaced


@pytest.fixture
def restricted(cluster: Kube) -> Iterator[Kube]:
    """A fresh namespace where Pod Security admission enforces the restricted profile."""
    with scratch_namespace(cluster, {"pod-security.kubernetes.io/enforce": "restricted"}) as ns:
        yield ns
