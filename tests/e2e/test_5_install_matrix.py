"""Step 2, the rest of the matrix: the combinations the other modules do not install.

test_2: Helm 3, hook mode, --wait.  test_3: Helm 4, job mode, --wait.  test_4: Helm 4, hook mode,
no --wait.  Here: Helm 3 with job mode and --wait, Helm 4 with hook mode and --wait. Each must
install without deadlock to the final state, and pass `helm test`.
"""

from __future__ import annotations

import time

import pytest

from tests.cluster.kube import Kube
from tests.e2e.chart import IMAGES, RELEASE, chart_values, helm_for
from tests.e2e.namespaces import namespace
from tests.e2e.pods import assert_final_state
from tests.e2e.timeline import TIMELINE

API = "app.kubernetes.io/instance=platform,app.kubernetes.io/component=api"
MIGRATION = "app.kubernetes.io/instance=platform,app.kubernetes.io/component=migration"


@pytest.mark.parametrize("combination", ["helm3-job", "helm4-hook"])
def test_install_with_wait(cluster: Kube, request: pytest.FixtureRequest, combination: str) -> None:
    label, mode = combination.split("-")
    binary = request.getfixturevalue(label)  # the helm3 / helm4 fixtures
    namespaces = namespace(cluster, combination)
    kube = next(namespaces)
    request.addfinalizer(lambda: next(namespaces, None))
    helm = helm_for(binary, kube, label)
    with TIMELINE.step(f"{label}-{mode}: install --wait ({mode} mode) -> all Ready") as step:
        started = time.monotonic()
        values = chart_values(IMAGES.old, {"migration": {"mode": mode}})
        result = helm.deploy("install", "install", values, "--wait", "--timeout", "5m")
        assert_final_state(
            kube, api_selector=API, postgres_pod="platform-postgres-0",
            job_selector=MIGRATION, replicas=2,
        )  # fmt: skip
        seconds = time.monotonic() - started
        assert "NOTES:" in result.stdout
        step.note = f"all Ready {seconds:.1f} s"
    TIMELINE.figure(f"{label} install ({mode} mode) -> all Ready", f"{seconds:.1f} s")
    assert seconds <= 90
    with TIMELINE.step(f"{label}-{mode}: helm test, uninstall"):
        out = helm.run("test", RELEASE, "--timeout", "3m")
        assert "Succeeded" in out, out
        helm.run("uninstall", RELEASE, "--wait", "--timeout", "3m")
