"""tools/k8s_apply.py: ordering, per-run Job names, retargeting and the config checksum."""

from __future__ import annotations

from datetime import UTC, datetime

import k8s_apply

from tests.chart.helm import kustomize


def test_phases_put_the_database_before_the_migration_before_the_api() -> None:
    docs = kustomize("dev")
    phases = [name for name, _ in k8s_apply.PHASES]
    assert phases == ["foundation", "database", "migration", "api"]
    placed = {(doc["kind"], doc["metadata"]["name"]): k8s_apply.phase_of(doc) for doc in docs}
    assert placed[("StatefulSet", "postgres")] == "database"
    assert placed[("Service", "postgres")] == "database"
    assert placed[("Job", "postgres-migration")] == "migration"
    assert placed[("Service", "platform-api")] == "api"
    assert placed[("Deployment", "platform-api")] == "api"


def test_each_run_gets_a_new_job_name_with_the_seed_prefix() -> None:
    first = k8s_apply.migration_job_name(datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC))
    second = k8s_apply.migration_job_name(datetime(2026, 1, 1, 12, 0, 1, tzinfo=UTC))
    assert first != second
    assert first.startswith("postgres-migration-")
    assert len(first) <= 63


def test_customise_retargets_namespace_images_and_pull_policy() -> None:
    docs = k8s_apply.customise(kustomize("dev"), "e2e-1", "platform-api:new", "pg:15", "Never")
    for doc in docs:
        if doc["kind"] == "Namespace":
            assert doc["metadata"]["name"] == "e2e-1"
        else:
            assert doc["metadata"]["namespace"] == "e2e-1"
        spec = k8s_apply.pod_spec(doc)
        for container in k8s_apply.containers(spec) if spec else []:
            expected = (
                "pg:15"
                if container["name"] in k8s_apply.POSTGRES_CONTAINERS
                else "platform-api:new"
            )
            assert container["image"] == expected
            assert container["imagePullPolicy"] == "Never"


def test_a_config_change_changes_the_checksum_stamped_on_the_api_pods() -> None:
    docs = kustomize("dev")
    before = k8s_apply.config_checksum(docs)
    for doc in docs:
        if doc["kind"] == "ConfigMap":
            doc["data"]["LOG_LEVEL"] = "ERROR"
    assert k8s_apply.config_checksum(docs) != before
    k8s_apply.stamp_checksum(docs)
    (deployment,) = [doc for doc in docs if doc["kind"] == "Deployment"]
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["checksum/config"] == k8s_apply.config_checksum(docs)


def test_delete_selects_the_claims_the_statefulset_creates() -> None:
    (statefulset,) = [doc for doc in kustomize("dev") if doc["kind"] == "StatefulSet"]
    (claim,) = statefulset["spec"]["volumeClaimTemplates"]
    wanted = dict(pair.split("=") for pair in k8s_apply.DATABASE_CLAIMS.split(","))
    assert wanted.items() <= claim["metadata"]["labels"].items()
