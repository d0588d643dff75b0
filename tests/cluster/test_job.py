"""A Job runs to completion and its logs are readable."""

from __future__ import annotations

from tests.cluster.kube import Kube, job


def test_a_job_completes(kube: Kube) -> None:
    kube.apply(job("once", "echo job ran on $(hostname)", activeDeadlineSeconds=120))
    kube.wait("condition=Complete", "job/once")

    assert kube.run("logs", "job/once").startswith("job ran on once-")
