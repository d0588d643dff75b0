"""Pod Security admission enforces a namespace's `restricted` label."""

from __future__ import annotations

import json

from tests.cluster.kube import Kube, container, pod

RESTRICTED_CONTEXT = {
    "runAsNonRoot": True,
    "runAsUser": 10001,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def test_a_restricted_namespace_rejects_a_privileged_pod(restricted: Kube) -> None:
    privileged = pod(
        "privileged", container("main", "sleep 3600", securityContext={"privileged": True})
    )

    result = restricted.try_run("apply", "-f", "-", stdin=json.dumps(privileged))

    assert result.returncode != 0
    assert "violates PodSecurity" in result.stderr
    assert restricted.try_run("get", "pod", "privileged").returncode != 0


def test_a_restricted_namespace_admits_and_runs_a_restricted_pod(restricted: Kube) -> None:
    compliant = pod(
        "compliant", container("main", "exec sleep 3600", securityContext=RESTRICTED_CONTEXT)
    )

    restricted.apply(compliant)
    restricted.wait("condition=Ready", "pod/compliant")

    assert restricted.exec("compliant", "id", "-u").strip() == "10001"
