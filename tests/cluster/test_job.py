"""A Job runs to completion and its logs are readable."""

from __future__ import annotations

from tests.cluster.kube import Kube, container


def test_a_job_completes(kube: Kube) -> None:
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "once"},
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": 120,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [container("main", "echo job ran on $(hostname)")],
                }
            },
        },
    }
    kube.apply(job)
    kube.wait("condition=Complete", "job/once")

    assert kube.run("logs", "job/once").startswith("job ran on once-")
