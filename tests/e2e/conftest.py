"""Fixtures of the end-to-end suite, and the timeline printed at the end of the session.

`make e2e` runs the suite in two phases: every module but the disruptive ones in parallel
(pytest-xdist, one module per worker, each in namespaces of its own), then the modules marked
`disruptive` (they stop and drain nodes) alone. Each phase's timeline merges its workers'.
"""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING

import pytest

from tests.cluster.kube import Kube, kubeconfig
from tests.e2e.chart import BUILD, IMAGES, ROOT
from tests.e2e.timeline import TIMELINE

if TYPE_CHECKING:
    from xdist.workermanage import WorkerController  # pytest-xdist ships no type information

# Names this run's timeline and figures files (mk/e2e.mk sets it per phase).
PHASE = os.environ.get("E2E_PHASE", "all")


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


def pytest_sessionfinish(session: pytest.Session) -> None:
    """On an xdist worker: hand the worker's timeline to the controller."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["timeline"] = TIMELINE.dump()


def pytest_testnodedown(node: WorkerController, error: object) -> None:
    """On the controller: merge a finished worker's timeline (xdist hook)."""
    dump = getattr(node, "workeroutput", {}).get("timeline")
    if dump:
        TIMELINE.merge(dump, node.gateway.id)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not TIMELINE.steps:
        return
    path = TIMELINE.write(BUILD, PHASE)
    terminalreporter.section("e2e: helm NOTES, timeline, figures")
    for install, notes in TIMELINE.notes.items():
        terminalreporter.section(f"NOTES printed by {install}", sep="-")
        terminalreporter.write(notes.strip("\n") + "\n")
    terminalreporter.section("e2e timeline", sep="-")
    terminalreporter.write(TIMELINE.render())
    terminalreporter.write_line(f"written to {path.relative_to(ROOT)} and figures-{PHASE}.json")
