"""Waiting, and the state of pods and Jobs read through kubectl."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from typing import Any, TypeVar

from tests.cluster.kube import Kube
from tests.e2e.chart import Obj

T = TypeVar("T")


def wait_for(
    probe: Callable[[], T | None], what: str, timeout: float = 120, interval: float = 1
) -> T:
    """Call `probe` until it returns something other than None/False; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = probe()
        except (AssertionError, subprocess.SubprocessError, KeyError, ValueError) as error:
            last_error, value = error, None
        if value is not None and value is not False:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last_error})")


def pods(kube: Kube, selector: str) -> list[Obj]:
    items: list[Obj] = kube.get("pods", "-l", selector)["items"]
    return items


def is_ready(pod: Obj) -> bool:
    if pod["metadata"].get("deletionTimestamp"):
        return False
    conditions = pod.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def restart_counts(pod: Obj) -> dict[str, int]:
    statuses = pod.get("status", {}).get("containerStatuses", []) + pod.get("status", {}).get(
        "initContainerStatuses", []
    )
    return {s["name"]: int(s.get("restartCount", 0)) for s in statuses}


def live(items: list[Obj]) -> list[Obj]:
    """Pods that are not being deleted."""
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def api_image(pod: Obj) -> str:
    return str(next(c["image"] for c in pod["spec"]["containers"] if c["name"] == "api"))


def ready_api_pods(kube: Kube, selector: str, replicas: int, image: str | None = None) -> list[Obj]:
    """The API pods once exactly `replicas` exist, all Ready (on `image`), none terminating."""

    def probe() -> list[Obj] | None:
        items = pods(kube, selector)
        if len(items) != replicas or not all(is_ready(p) for p in items):
            return None
        if image and any(api_image(p) != image for p in items):
            return None
        return items

    return wait_for(probe, f"{replicas} Ready API pods ({image or 'any image'})", timeout=240)


def job_complete(job: Obj) -> bool:
    conditions = job.get("status", {}).get("conditions", [])
    return any(c["type"] == "Complete" and c["status"] == "True" for c in conditions)


def assert_final_state(
    kube: Kube, *, api_selector: str, postgres_pod: str, job_selector: str, replicas: int
) -> dict[str, Any]:
    """The seed's final state: API pods Running+Ready, PostgreSQL Running+Ready, Job Complete."""
    api = ready_api_pods(kube, api_selector, replicas)
    for pod in api:
        assert pod["status"]["phase"] == "Running", pod["metadata"]["name"]
        assert set(restart_counts(pod).values()) == {0}, restart_counts(pod)
    pg = wait_for(
        lambda: (p := kube.get("pod", postgres_pod)) and is_ready(p) and p,
        f"{postgres_pod} Ready",
        timeout=120,
    )
    assert pg["status"]["phase"] == "Running"
    jobs = wait_for(
        lambda: [j for j in kube.get("jobs", "-l", job_selector)["items"] if job_complete(j)],
        "a Complete migration Job",
        timeout=120,
    )
    return {
        "api": [p["metadata"]["name"] for p in api],
        "postgres": postgres_pod,
        "jobs": [j["metadata"]["name"] for j in jobs],
    }
