"""Step 4, API before DB: Helm 4, hook mode, no --wait, PostgreSQL scaled to 0 at install.

The API pods must park in their `wait-for-schema` initContainer (no CrashLoopBackOff, no
restarts) and turn Ready once the database is scaled up.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.cluster.kube import Kube
from tests.e2e.chart import IMAGES, RELEASE, Helm, chart_values, helm_for
from tests.e2e.namespaces import namespace
from tests.e2e.pods import assert_final_state, pods, restart_counts, wait_for
from tests.e2e.timeline import TIMELINE

API = "app.kubernetes.io/instance=platform,app.kubernetes.io/component=api"
MIGRATION = "app.kubernetes.io/instance=platform,app.kubernetes.io/component=migration"
REPLICAS = 2
WAIT_SECONDS = 25


@pytest.fixture(scope="module")
def kube(cluster: Kube) -> Iterator[Kube]:
    yield from namespace(cluster, "early")


@pytest.fixture(scope="module")
def helm(helm4: str, kube: Kube) -> Helm:
    return helm_for(helm4, kube, "helm4")


def waiting_in_init(pod: dict[str, Any]) -> bool:
    """Pending, the initContainer `wait-for-schema` running, the app container not started."""
    status = pod.get("status", {})
    init = {s["name"]: s for s in status.get("initContainerStatuses", [])}
    return status.get("phase") == "Pending" and "running" in init.get("wait-for-schema", {}).get(
        "state", {}
    )


def crash_looping(pod: dict[str, Any]) -> bool:
    statuses = pod.get("status", {}).get("initContainerStatuses", []) + pod.get("status", {}).get(
        "containerStatuses", []
    )
    return any(
        s.get("state", {}).get("waiting", {}).get("reason") == "CrashLoopBackOff" for s in statuses
    )


def test_api_waits_for_the_database_then_becomes_ready(kube: Kube, helm: Helm) -> None:
    with TIMELINE.step("early: helm4 install (hook mode, no --wait) with PostgreSQL at 0") as step:
        values = chart_values(IMAGES.old, {"database": {"bundled": {"replicas": 0}}})
        helm.deploy("install", "install", values)

        def all_parked() -> list[dict[str, Any]] | None:
            items = pods(kube, API)
            if len(items) == REPLICAS and all(waiting_in_init(p) for p in items):
                return items
            return None

        parked = wait_for(all_parked, "API pods waiting in wait-for-schema", timeout=90)
        # Stay a while: an initContainer that gave up would restart (or crash-loop) by now.
        time.sleep(WAIT_SECONDS)
        items = pods(kube, API)
        assert {p["metadata"]["name"] for p in items} == {p["metadata"]["name"] for p in parked}
        for pod in items:
            assert waiting_in_init(pod), pod["status"]
            assert not crash_looping(pod), pod["status"]
            assert set(restart_counts(pod).values()) <= {0}, restart_counts(pod)
        # The migration Job waits too (pg_isready), it has not failed.
        job = kube.get("jobs", "-l", MIGRATION)["items"][0]
        assert not job.get("status", {}).get("failed"), job["status"]
        step.note = f"{REPLICAS} API pods Init:0/1 for {WAIT_SECONDS}+ s, restartCount 0"
    with TIMELINE.step("early: scale PostgreSQL to 1 -> migration, API Ready") as step:
        started = time.monotonic()
        kube.run("scale", "statefulset", "platform-postgres", "--replicas=1")
        assert_final_state(
            kube,
            api_selector=API,
            postgres_pod="platform-postgres-0",
            job_selector=MIGRATION,
            replicas=REPLICAS,
        )
        seconds = time.monotonic() - started
        step.note = f"all Ready {seconds:.1f} s after the scale-up, no restarts"
    TIMELINE.figure("API before DB: scale-up -> all Ready", f"{seconds:.1f} s")
    helm.run("uninstall", RELEASE, "--wait", "--timeout", "3m")
