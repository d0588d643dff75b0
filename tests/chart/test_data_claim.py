"""The bundled PostgreSQL's data claim: unchanged by default (existing installs keep theirs), a
new name on an install for the major-upgrade path (a new, empty volume; the old claim stays)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.chart.helm import RenderError, find, render

STATEFULSET = "platform-postgres"


def _claim(name: str) -> dict[str, Any]:
    return {"database": {"bundled": {"persistence": {"claimName": name}}}}


def _volumes(values: dict[str, Any]) -> tuple[list[str], list[str], list[str]]:
    """The claim templates', the postgres container's mounts' and the pod's volumes' names."""
    sts = find(render(values), "StatefulSet", STATEFULSET)["spec"]
    templates = [t["metadata"]["name"] for t in sts.get("volumeClaimTemplates", [])]
    pod = sts["template"]["spec"]
    postgres = next(c for c in pod["containers"] if c["name"] == "postgres")
    mounts = [m["name"] for m in postgres["volumeMounts"] if m["mountPath"].endswith("/data")]
    return templates, mounts, [v["name"] for v in pod.get("volumes", [])]


def test_by_default_the_claim_is_the_one_existing_installs_have() -> None:
    templates, mounts, _ = _volumes({})

    # The controller names the claim data-platform-postgres-0: every install's so far.
    assert templates == ["data"]
    assert mounts == ["data"]


def test_a_new_claim_name_gives_the_template_and_the_mount_that_name() -> None:
    templates, mounts, volumes = _volumes(_claim("data-pg17"))

    assert templates == ["data-pg17"]
    assert mounts == ["data-pg17"]
    assert "data-pg17" not in volumes  # a claim template, not a pod volume


def test_without_persistence_the_emptydir_takes_the_same_name() -> None:
    values = {"database": {"bundled": {"persistence": {"enabled": False, "claimName": "x"}}}}
    templates, mounts, volumes = _volumes(values)

    assert templates == []
    assert mounts == ["x"]
    assert "x" in volumes


@pytest.mark.parametrize("name", ["Data", "data_17", "-data", "d" * 31, ""])
def test_the_schema_refuses_a_name_no_claim_can_have(name: str) -> None:
    with pytest.raises(RenderError, match="schema"):
        render(_claim(name))
