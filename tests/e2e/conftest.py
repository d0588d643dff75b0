"""Fixtures of the end-to-end suite, and the timeline printed at the end of the session."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator

import pytest

from tests.cluster.kube import Kube, kubeconfig
from tests.e2e.support import BUILD, IMAGES, ROOT, Helm, create_namespace
from tests.e2e.timeline import TIMELINE

# Keep the namespaces after the run (to look at a failure): E2E_KEEP_NAMESPACES=1.
KEEP = os.environ.get("E2E_KEEP_NAMESPACES") == "1"
RUN_ID = uuid.uuid4().hex[:6]


def helm_binary(variable: str, default: str) -> str:
    path = os.environ.get(variable) or str(ROOT / "bin" / default)
    if not shutil.which(path):
        raise RuntimeError(f"{path} not found: run `make tools-chart` or set {variable}")
    return path


@pytest.fixture(scope="session")
def cluster() -> Kube:
    """kubectl for the cluster under test (cluster-scoped)."""
    kube = Kube(kubeconfig())
    kube.run("get", "--raw", "/readyz")
    TIMELINE.figure("images", f"{IMAGES.old}, {IMAGES.new}, {IMAGES.bad}, {IMAGES.slow}")
    return kube


@pytest.fixture(scope="session")
def helm3(cluster: Kube) -> str:
    return helm_binary("HELM3", "helm")


@pytest.fixture(scope="session")
def helm4(cluster: Kube) -> str:
    return helm_binary("HELM4", "helm4")


def namespace(cluster: Kube, purpose: str) -> Iterator[Kube]:
    """A fresh namespace enforcing `restricted`; deleted afterwards unless E2E_KEEP_NAMESPACES=1."""
    name = f"e2e-{purpose}-{RUN_ID}"
    with TIMELINE.step(f"{purpose}: create namespace {name} (restricted)"):
        kube = create_namespace(cluster, name)
    yield kube
    if not KEEP:
        cluster.run("delete", "namespace", name, "--wait=false")


def helm_for(binary: str, kube: Kube, label: str) -> Helm:
    assert kube.namespace
    return Helm(binary, kube.config, kube.namespace, label)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not TIMELINE.steps:
        return
    path = TIMELINE.write(BUILD)
    terminalreporter.section("e2e: helm NOTES, timeline, figures")
    for install, notes in TIMELINE.notes.items():
        terminalreporter.section(f"NOTES printed by {install}", sep="-")
        terminalreporter.write(notes.strip("\n") + "\n")
    terminalreporter.section("e2e timeline", sep="-")
    terminalreporter.write(TIMELINE.render())
    terminalreporter.write_line(f"written to {path.relative_to(ROOT)} and figures.json")
