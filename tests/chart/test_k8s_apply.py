"""tools/k8s_apply.py: each overlay through the throwaway kustomization (images by symbolic name,
namespace, pull policy, the generated ConfigMap), the apply order, Job names, ConfigMap pruning."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import k8s_apply
import pytest

from tests.chart.helm import RAW, Manifest, containers, find, kustomize, pod_spec

OVERLAYS = ("dev", "prod")
NAMESPACE = "e2e-1"
IMAGES: dict[str, str | None] = {
    k8s_apply.API_IMAGE: "registry.example:5000/team/platform-api:run-42",
    k8s_apply.POSTGRES_IMAGE: "registry.example/postgres@sha256:" + "ab" * 32,
}


def build(overlay: str, pull_policy: str | None = "Never") -> list[Manifest]:
    return k8s_apply.load_documents(k8s_apply.build(overlay, NAMESPACE, IMAGES, pull_policy))


def workload_containers(docs: list[Manifest]) -> dict[tuple[str, str, str], Manifest]:
    """(kind, workload, container) -> container, for every container of every workload."""
    return {
        (doc["kind"], doc["metadata"]["name"], container["name"]): container
        for doc in docs
        if (spec := pod_spec(doc)) is not None
        for container in containers(spec)
    }


@pytest.fixture(scope="module")
def symbolic() -> dict[tuple[str, str, str], str]:
    """The image each container names in the base: a symbolic name only."""
    return {key: c["image"] for key, c in workload_containers(kustomize_dir(RAW / "base")).items()}


def kustomize_dir(path: Path) -> list[Manifest]:
    return k8s_apply.load_documents(k8s_apply.kubectl("kustomize", str(path)))


def configmap_refs(spec: Manifest | None) -> set[str]:
    """Names of the ConfigMaps a pod spec reads (envFrom, env, volumes)."""
    assert spec is not None
    names = {
        volume["configMap"]["name"] for volume in spec.get("volumes", []) if "configMap" in volume
    }
    for container in containers(spec):
        for ref in container.get("envFrom", []):
            names |= {ref["configMapRef"]["name"]} if "configMapRef" in ref else set()
        for env in container.get("env", []):
            source = env.get("valueFrom", {})
            names |= {source["configMapKeyRef"]["name"]} if "configMapKeyRef" in source else set()
    return names


def test_the_base_names_only_the_symbolic_images(
    symbolic: dict[tuple[str, str, str], str],
) -> None:
    assert set(symbolic.values()) == {k8s_apply.API_IMAGE, k8s_apply.POSTGRES_IMAGE}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_overlay_resolves_every_symbolic_image_to_a_tag_or_digest(overlay: str) -> None:
    for key, container in workload_containers(kustomize(overlay)).items():
        image = container["image"]
        assert image not in (k8s_apply.API_IMAGE, k8s_apply.POSTGRES_IMAGE), key
        assert ":" in image.rpartition("/")[2] or "@" in image, (key, image)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_runs_the_image_configured_for_its_symbolic_name(
    overlay: str, symbolic: dict[tuple[str, str, str], str]
) -> None:
    built = workload_containers(build(overlay))
    assert set(built) == set(symbolic)
    for key, container in built.items():
        assert container["image"] == IMAGES[symbolic[key]], key


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_without_runtime_images_the_overlays_images_stay(overlay: str) -> None:
    plain = workload_containers(kustomize(overlay))
    built = workload_containers(
        k8s_apply.load_documents(k8s_apply.build(overlay, NAMESPACE, {}, None))
    )
    assert {key: c["image"] for key, c in built.items()} == {
        key: c["image"] for key, c in plain.items()
    }


@pytest.mark.parametrize(
    ("image", "entry"),
    [
        ("platform-api:1.2", {"newName": "platform-api", "newTag": "1.2"}),
        ("localhost:5000/api", {"newName": "localhost:5000/api"}),
        ("localhost:5000/api:x", {"newName": "localhost:5000/api", "newTag": "x"}),
        ("r.io/api@sha256:00", {"newName": "r.io/api", "digest": "sha256:00"}),
    ],
)
def test_an_image_reference_becomes_a_kustomize_images_entry(
    image: str, entry: dict[str, str]
) -> None:
    assert k8s_apply.image_entry("api", image) == {"name": "api", **entry}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_is_in_the_namespace(overlay: str) -> None:
    for doc in build(overlay):
        if doc["kind"] == "Namespace":
            assert doc["metadata"]["name"] == NAMESPACE
        else:
            assert doc["metadata"]["namespace"] == NAMESPACE, doc["metadata"]["name"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_pod_template_carries_the_release_version(overlay: str) -> None:
    # The objects do; a pod template that did would restart PostgreSQL on every release.
    for doc in build(overlay):
        if doc["kind"] in ("Deployment", "StatefulSet", "Job"):
            assert "app.kubernetes.io/version" in doc["metadata"]["labels"], doc["kind"]
            template = doc["spec"]["template"]["metadata"]["labels"]
            assert "app.kubernetes.io/version" not in template, doc["kind"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_configmap_name_has_a_hash_and_every_reference_uses_it(overlay: str) -> None:
    docs = build(overlay)
    (configmap,) = [doc["metadata"]["name"] for doc in docs if doc["kind"] == "ConfigMap"]
    match = k8s_apply.HASHED.fullmatch(configmap)
    assert match is not None, configmap
    assert match["base"] == "platform-config"
    for kind in ("Deployment", "Job"):
        assert configmap_refs(pod_spec(find(docs, kind))) == {configmap}, kind


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_postgresql_reads_no_configmap_and_the_same_database_name(overlay: str) -> None:
    docs = build(overlay)
    spec = pod_spec(find(docs, "StatefulSet"))
    assert configmap_refs(spec) == set()
    assert spec is not None
    (container,) = spec["containers"]
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert env["POSTGRES_DB"] == find(docs, "ConfigMap")["data"]["POSTGRES_DB"]


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("policy", ["Never", "Always"])
def test_the_pull_policy_is_set_on_every_container(overlay: str, policy: str) -> None:
    built = workload_containers(build(overlay, policy))
    assert built
    for key, container in built.items():
        assert container["imagePullPolicy"] == policy, key


def test_a_config_change_renames_the_configmap_and_leaves_postgresql_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = build("prod")
    shutil.copytree(RAW, tmp_path / "raw")
    config = tmp_path / "raw" / "base" / "config.env"
    config.write_text(config.read_text().replace("LOG_LEVEL=INFO", "LOG_LEVEL=ERROR"))
    monkeypatch.setattr(k8s_apply, "OVERLAYS", tmp_path / "raw" / "overlays")
    after = build("prod")
    old, new = find(before, "ConfigMap"), find(after, "ConfigMap")
    assert new["data"]["LOG_LEVEL"] == "ERROR"
    assert new["metadata"]["name"] != old["metadata"]["name"]
    for kind in ("Deployment", "Job"):
        assert configmap_refs(pod_spec(find(after, kind))) == {new["metadata"]["name"]}, kind
    assert find(after, "StatefulSet") == find(before, "StatefulSet")


def test_phases_put_the_database_before_the_migration_before_the_api() -> None:
    assert k8s_apply.PHASES == ("foundation", "database", "migration", "api", "backup")
    placed = {
        (doc["kind"], doc["metadata"]["name"]): k8s_apply.phase_of(doc) for doc in build("dev")
    }
    assert placed.pop(("StatefulSet", "postgres")) == "database"
    assert placed.pop(("Service", "postgres")) == "database"
    assert placed.pop(("Service", "postgres-headless")) == "database"
    assert placed.pop(("Job", "postgres-migration")) == "migration"
    assert placed.pop(("Service", "platform-api")) == "api"
    assert placed.pop(("Deployment", "platform-api")) == "api"
    assert placed.pop(("PodDisruptionBudget", "platform-api")) == "api"
    assert placed.pop(("CronJob", "platform-backup")) == "backup"
    assert placed.pop(("PersistentVolumeClaim", "platform-backup")) == "backup"
    assert set(placed.values()) == {"foundation"}, placed


def test_a_resource_without_a_known_component_has_no_phase() -> None:
    doc = {"kind": "Deployment", "metadata": {"name": "x", "labels": {}}}
    with pytest.raises(ValueError, match="no apply phase"):
        k8s_apply.phase_of(doc)


def test_each_run_gets_a_new_job_name_with_the_rendered_prefix() -> None:
    name = find(build("dev"), "Job")["metadata"]["name"]
    first = k8s_apply.migration_job_name(name, datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC))
    second = k8s_apply.migration_job_name(name, datetime(2026, 1, 1, 12, 0, 1, tzinfo=UTC))
    assert first != second
    assert first.startswith("postgres-migration-")
    assert len(first) <= 63


def test_apply_and_delete_find_the_configmaps_of_earlier_configs() -> None:
    docs = build("dev")
    current = find(docs, "ConfigMap")["metadata"]["name"]
    found = [
        current,
        "platform-config",  # the unhashed one of releases before the generator
        "platform-config-2b4c6d8f9g",
        "platform-config-hk5m7t9b2c",
        "platform-dashboard",
        "platform-config-notahash",
    ]
    assert k8s_apply.earlier_configmaps(docs, found) == [
        "platform-config",
        "platform-config-2b4c6d8f9g",
        "platform-config-hk5m7t9b2c",
    ]
