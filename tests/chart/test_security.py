"""Every pod the chart and the raw manifests create passes the Pod Security restricted profile."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chart.helm import CI_VALUES, Manifest, containers, kustomize, pod_specs, render_file

# The emptyDir every container needs under a read-only root filesystem (a path in a manifest).
TMP = "/tmp"  # noqa: S108 -- compared with manifests, never opened

RENDERS = [(path, False) for path in CI_VALUES] + [(path, True) for path in CI_VALUES]


def all_pod_specs(docs: list[Manifest]) -> list[tuple[str, Manifest]]:
    specs = list(pod_specs(docs))
    assert specs, "no workloads rendered"
    return specs


def assert_restricted(where: str, spec: Manifest) -> None:
    pod = spec.get("securityContext", {})
    assert spec.get("automountServiceAccountToken") is False, where
    assert pod.get("runAsNonRoot") is True, where
    assert pod.get("seccompProfile", {}).get("type") == "RuntimeDefault", where
    assert not spec.get("hostNetwork"), where
    assert not spec.get("hostPID"), where
    for container in containers(spec):
        context = container.get("securityContext", {})
        label = f"{where} container {container['name']}"
        assert context.get("allowPrivilegeEscalation") is False, label
        assert context.get("readOnlyRootFilesystem") is True, label
        assert context.get("runAsNonRoot") is True, label
        assert isinstance(context.get("runAsUser"), int), label
        assert context["runAsUser"] > 0, label
        assert context.get("capabilities", {}).get("drop") == ["ALL"], label
        assert not context.get("capabilities", {}).get("add"), label
        assert context.get("seccompProfile", {}).get("type") == "RuntimeDefault", label
        assert not context.get("privileged"), label
        mounts = {mount["mountPath"] for mount in container.get("volumeMounts", [])}
        assert TMP in mounts, f"{label} has no writable /tmp under a read-only root"
        assert container["resources"].get("requests"), label
        assert container["resources"].get("limits"), label


@pytest.mark.parametrize(("values", "is_upgrade"), RENDERS, ids=lambda v: getattr(v, "stem", v))
def test_every_chart_container_runs_restricted_with_resources(
    values: Path, is_upgrade: bool
) -> None:
    for where, spec in all_pod_specs(render_file(values, is_upgrade=is_upgrade)):
        assert_restricted(where, spec)


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_every_raw_manifest_container_runs_restricted_with_resources(overlay: str) -> None:
    for where, spec in all_pod_specs(kustomize(overlay)):
        assert_restricted(where, spec)


def test_postgres_runs_as_its_image_user_with_writable_socket_and_tmp() -> None:
    docs = render_file(CI_VALUES[0])
    (spec,) = [spec for where, spec in pod_specs(docs) if where.startswith("StatefulSet/")]
    (postgres,) = spec["containers"]
    assert postgres["securityContext"]["runAsUser"] == 999
    assert spec["securityContext"]["fsGroup"] == 999
    mounts = {mount["mountPath"]: mount["name"] for mount in postgres["volumeMounts"]}
    assert {"/var/run/postgresql", TMP, "/var/lib/postgresql/data"} <= set(mounts)
    env = {item["name"]: item for item in postgres["env"]}
    assert env["PGDATA"]["value"].startswith("/var/lib/postgresql/data/"), (
        "PGDATA is the mount root"
    )


def test_the_raw_namespace_enforces_the_restricted_profile() -> None:
    (namespace,) = [doc for doc in kustomize("prod") if doc["kind"] == "Namespace"]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
