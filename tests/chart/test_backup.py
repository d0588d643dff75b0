"""Backups and the install-time restore in the chart (docs/decisions/0015)."""

from __future__ import annotations

from functools import reduce
from typing import Any

import pytest

from tests.chart.helm import Manifest, RenderError, containers, find, hook, render
from tests.e2e.chart import deep_merge

ENABLED: dict[str, Any] = {"backup": {"enabled": True}}
S3: dict[str, Any] = {
    "backup": {
        "enabled": True,
        "target": "s3",
        "s3": {
            "endpoint": "http://versitygw:7070",
            "bucket": "platform-backups",
            "prefix": "prod/db",
            "region": "eu-west-1",
            "existingSecret": "s3-credentials",
            "accessKeyIdKey": "id",
            "secretAccessKeyKey": "key",
        },
    }
}
EXTERNAL: dict[str, Any] = {
    "database": {
        "mode": "external",
        "host": "db.example.com",
        "auth": {"existingSecret": "db-credentials"},
    }
}


def merged(*parts: dict[str, Any]) -> dict[str, Any]:
    """Deep merge of values dicts, later ones winning."""
    return reduce(deep_merge, parts, {})


def cronjob(values: dict[str, Any]) -> Manifest:
    return find(render(values), "CronJob", "platform-backup")


def backup_pod(values: dict[str, Any]) -> Manifest:
    spec: Manifest = cronjob(values)["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return spec


def migration_pod(values: dict[str, Any], *, is_upgrade: bool = False) -> Manifest:
    jobs = [
        doc
        for doc in render(values, is_upgrade=is_upgrade)
        if doc["kind"] == "Job" and doc["metadata"]["name"].startswith("platform-migration")
    ]
    (job,) = jobs
    spec: Manifest = job["spec"]["template"]["spec"]
    return spec


def env(container: Manifest) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def names(items: list[Manifest]) -> list[str]:
    return [item["name"] for item in items]


def test_by_default_no_backup_objects_render_and_the_migration_does_not_restore() -> None:
    docs = render()
    assert not [d for d in docs if d["kind"] in ("CronJob", "PersistentVolumeClaim")]
    assert names(migration_pod({})["initContainers"]) == ["wait-for-postgres"]


def test_the_cronjob_never_overlaps_and_is_bounded() -> None:
    job = cronjob(ENABLED)
    spec = job["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["schedule"] == "17 3 * * *"
    assert spec["successfulJobsHistoryLimit"] == 3
    assert spec["failedJobsHistoryLimit"] == 3
    job_spec = spec["jobTemplate"]["spec"]
    assert job_spec["activeDeadlineSeconds"] == 3600
    assert job_spec["backoffLimit"] == 1
    assert job_spec["template"]["spec"]["restartPolicy"] == "Never"


def test_schedule_and_bounds_are_values() -> None:
    values = merged(
        ENABLED,
        {"backup": {"schedule": "*/5 * * * *", "activeDeadlineSeconds": 120, "backoffLimit": 0}},
    )
    spec = cronjob(values)["spec"]
    assert spec["schedule"] == "*/5 * * * *"
    assert spec["jobTemplate"]["spec"]["activeDeadlineSeconds"] == 120
    assert spec["jobTemplate"]["spec"]["backoffLimit"] == 0


def test_the_dump_runs_in_the_database_image_and_the_upload_in_the_app_image() -> None:
    pod = backup_pod(ENABLED)
    assert names(pod["initContainers"]) == ["wait-for-database", "pg-dump", "pg-toc", "pg-revision"]
    assert {c["image"] for c in pod["initContainers"]} == {"postgres:15.14-bookworm"}
    (upload,) = pod["containers"]
    assert upload["image"] == "platform-api:1.0.0"
    assert upload["command"] == ["platform-backup", "upload", "/work"]
    work = {v["name"]: v for v in pod["volumes"]}["work"]
    assert "emptyDir" in work
    for container in containers(pod):
        assert {"name": "work", "mountPath": "/work"} in container["volumeMounts"]


def test_the_dump_uses_the_database_credentials_through_libpq() -> None:
    (_, dump, *_) = backup_pod(ENABLED)["initContainers"]
    assert [ref.get("configMapRef", ref.get("secretRef"))["name"] for ref in dump["envFrom"]] == [
        "platform-config",
        "platform-db",
    ]
    variables = env(dump)
    assert variables["PGHOST"] == "$(POSTGRES_HOST)"
    assert variables["PGPASSWORD"] == "$(POSTGRES_PASSWORD)"
    assert variables["PGDATABASE"] == "$(POSTGRES_DB)"


def test_every_backup_and_restore_container_runs_restricted() -> None:
    pods = [backup_pod(ENABLED), migration_pod({"restore": {"from": "latest"}})]
    for pod in pods:
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["automountServiceAccountToken"] is False
        for container in containers(pod):
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, container["name"]
            assert context["readOnlyRootFilesystem"] is True, container["name"]
            assert context["runAsNonRoot"] is True, container["name"]
            assert context["capabilities"]["drop"] == ["ALL"], container["name"]
            assert context["seccompProfile"]["type"] == "RuntimeDefault", container["name"]
            assert container["resources"]["limits"], container["name"]
            assert container["resources"]["requests"], container["name"]


def test_the_pvc_target_is_a_claim_kept_on_uninstall() -> None:
    docs = render(ENABLED)
    claim = find(docs, "PersistentVolumeClaim", "platform-backup")
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert claim["spec"]["resources"]["requests"]["storage"] == "8Gi"
    pod = backup_pod(ENABLED)
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["backups"]["persistentVolumeClaim"]["claimName"] == "platform-backup"
    (upload,) = pod["containers"]
    assert env(upload)["BACKUP_TARGET"] == "filesystem"
    assert env(upload)["BACKUP_DIR"] == "/backups"
    assert {"name": "backups", "mountPath": "/backups"} in upload["volumeMounts"]


def test_an_existing_claim_replaces_the_charts_own() -> None:
    values = merged(ENABLED, {"backup": {"pvc": {"existingClaim": "nightly-dumps"}}})
    docs = render(values)
    assert not [d for d in docs if d["kind"] == "PersistentVolumeClaim"]
    volumes = {v["name"]: v for v in backup_pod(values)["volumes"]}
    assert volumes["backups"]["persistentVolumeClaim"]["claimName"] == "nightly-dumps"


def test_the_s3_target_takes_its_settings_from_values_and_keys_from_the_secret() -> None:
    docs = render(S3)
    assert not [d for d in docs if d["kind"] == "PersistentVolumeClaim"]
    pod = backup_pod(S3)
    assert "backups" not in names(pod["volumes"])
    (upload,) = pod["containers"]
    variables = env(upload)
    assert variables["BACKUP_TARGET"] == "s3"
    assert variables["BACKUP_S3_ENDPOINT"] == "http://versitygw:7070"
    assert variables["BACKUP_S3_BUCKET"] == "platform-backups"
    assert variables["BACKUP_S3_PREFIX"] == "prod/db"
    assert variables["BACKUP_S3_REGION"] == "eu-west-1"
    assert variables["AWS_ACCESS_KEY_ID"] == {
        "secretKeyRef": {"name": "s3-credentials", "key": "id"}
    }
    assert variables["AWS_SECRET_ACCESS_KEY"] == {
        "secretKeyRef": {"name": "s3-credentials", "key": "key"}
    }


def test_retention_values_reach_platform_backup() -> None:
    values = merged(ENABLED, {"backup": {"retention": {"keepLast": 3, "maxAgeDays": 14}}})
    (upload,) = backup_pod(values)["containers"]
    assert env(upload)["BACKUP_KEEP_LAST"] == "3"
    assert env(upload)["BACKUP_MAX_AGE_DAYS"] == "14"
    (default_upload,) = backup_pod(ENABLED)["containers"]
    assert "BACKUP_MAX_AGE_DAYS" not in env(default_upload)


def test_external_mode_dumps_the_external_server_with_its_secret() -> None:
    values = merged(ENABLED, EXTERNAL)
    docs = render(values)
    config = find(docs, "ConfigMap", "platform-config")
    assert config["data"]["POSTGRES_HOST"] == "db.example.com"
    (_, dump, *_) = backup_pod(values)["initContainers"]
    assert {"secretRef": {"name": "db-credentials"}} in dump["envFrom"]
    assert {"configMapRef": {"name": "platform-config"}} in dump["envFrom"]


@pytest.mark.parametrize("mode", ["hook", "job"])
@pytest.mark.parametrize("database", ["bundled", "external"])
def test_an_install_with_restore_restores_before_it_migrates(mode: str, database: str) -> None:
    values = merged(
        {"migration": {"mode": mode}, "restore": {"from": "latest"}},
        EXTERNAL if database == "external" else {},
    )
    pod = migration_pod(values)
    assert names(pod["initContainers"]) == ["wait-for-postgres", "restore-fetch", "restore"]
    assert names(pod["containers"]) == ["migrate"]
    fetch, restore = pod["initContainers"][1:]
    assert fetch["image"] == "platform-api:1.0.0"
    assert fetch["command"] == ["platform-backup", "fetch", "/work", "--backup", "latest"]
    assert restore["image"] == "postgres:15.14-bookworm"
    assert hook(find(render(values), "Job", None)) is None


def test_a_named_backup_and_force_reach_both_restore_steps() -> None:
    pod = migration_pod({"restore": {"from": "20261202T061500.123456Z", "force": True}})
    fetch, restore = pod["initContainers"][1:]
    assert fetch["command"][-3:] == ["--backup", "20261202T061500.123456Z", "--force"]
    assert "--clean" in restore["command"]
    assert "--if-exists" in restore["command"]


def test_the_restore_reads_the_backup_target_even_with_scheduled_backups_off() -> None:
    docs = render({"restore": {"from": "latest"}})
    assert not [d for d in docs if d["kind"] == "CronJob"]
    find(docs, "PersistentVolumeClaim", "platform-backup")
    pod = migration_pod({"restore": {"from": "latest"}})
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["backups"]["persistentVolumeClaim"]["claimName"] == "platform-backup"
    s3_pod = migration_pod(
        merged(S3, {"backup": {"enabled": False}, "restore": {"from": "latest"}})
    )
    assert env(s3_pod["initContainers"][1])["BACKUP_S3_BUCKET"] == "platform-backups"


@pytest.mark.parametrize("mode", ["hook", "job"])
def test_an_upgrade_never_restores(mode: str) -> None:
    pod = migration_pod(
        {"migration": {"mode": mode}, "restore": {"from": "latest"}}, is_upgrade=True
    )
    assert names(pod["initContainers"]) == ["wait-for-postgres"]


def test_the_database_admits_backup_pods_only_when_backups_are_on() -> None:
    def admitted(values: dict[str, Any]) -> list[str]:
        policy = find(render(values), "NetworkPolicy", "platform-postgres")
        (expression,) = policy["spec"]["ingress"][0]["from"][0]["podSelector"]["matchExpressions"]
        values_: list[str] = expression["values"]
        return values_

    assert "backup" not in admitted({})
    assert "backup" in admitted(ENABLED)


def test_backup_pods_accept_no_ingress_and_match_their_label() -> None:
    docs = render(ENABLED)
    policy = find(docs, "NetworkPolicy", "platform-backup")
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in policy["spec"]
    template_labels = cronjob(ENABLED)["spec"]["jobTemplate"]["spec"]["template"]["metadata"]
    for key, value in policy["spec"]["podSelector"]["matchLabels"].items():
        assert template_labels["labels"][key] == value
    no_policy = render(merged(ENABLED, {"networkPolicy": {"enabled": False}}))
    assert not [d for d in no_policy if d["kind"] == "NetworkPolicy"]


def test_helm_template_cannot_see_the_running_major_so_a_major_change_still_renders() -> None:
    # Documented in ADR 0015: without a cluster `lookup` is empty; pg-version-guard is the backstop.
    docs = render({"database": {"image": {"tag": "17.6-bookworm"}}}, is_upgrade=True)
    statefulset = find(docs, "StatefulSet", "platform-postgres")
    assert (
        statefulset["spec"]["template"]["spec"]["containers"][0]["image"]
        == "postgres:17.6-bookworm"
    )


BAD_VALUES: dict[str, dict[str, Any]] = {
    "unknown target": {"backup": {"target": "tape"}},
    "s3 without a bucket": merged(S3, {"backup": {"s3": {"bucket": ""}}}),
    "s3 without a credentials Secret": merged(S3, {"backup": {"s3": {"existingSecret": ""}}}),
    "bad bucket name": merged(S3, {"backup": {"s3": {"bucket": "Bad_Bucket"}}}),
    "endpoint with a path": merged(S3, {"backup": {"s3": {"endpoint": "http://gw:7070/x"}}}),
    "prefix with a leading slash": merged(S3, {"backup": {"s3": {"prefix": "/prod"}}}),
    "keepLast zero": {"backup": {"retention": {"keepLast": 0}}},
    "negative max age": {"backup": {"retention": {"maxAgeDays": -1}}},
    "schedule with three fields": {"backup": {"schedule": "* * *"}},
    "restore from a malformed id": {"restore": {"from": "yesterday"}},
    "typo in backup": {"backup": {"enabeld": True}},
    "typo in restore": {"restore": {"forse": True}},
}


@pytest.mark.parametrize("values", BAD_VALUES.values(), ids=BAD_VALUES.keys())
def test_the_schema_refuses(values: dict[str, Any]) -> None:
    with pytest.raises(RenderError, match="schema"):
        render(values)


def test_the_install_binds_the_charts_backup_claim_so_helm_wait_can_finish() -> None:
    # WaitForFirstConsumer claims stay Pending without a pod; `helm install --wait` waits for Bound.
    volumes = {v["name"]: v for v in migration_pod(ENABLED)["volumes"]}
    assert volumes["backups"]["persistentVolumeClaim"]["claimName"] == "platform-backup"
    assert "backups" not in names(migration_pod(ENABLED, is_upgrade=True)["volumes"])
    existing = merged(ENABLED, {"backup": {"pvc": {"existingClaim": "nightly-dumps"}}})
    assert "backups" not in names(migration_pod(existing)["volumes"])
    assert "backups" not in names(migration_pod(S3)["volumes"])


def test_the_dump_waits_a_bounded_time_for_the_database_then_lets_pg_dump_report() -> None:
    wait, dump, *_ = backup_pod(merged(ENABLED, {"backup": {"waitForDatabaseSeconds": 45}}))[
        "initContainers"
    ]
    script = wait["command"][-1]

    assert wait["command"][:2] == ["sh", "-c"]
    assert "+ 45 ))" in script
    assert "until pg_isready" in script
    # Past the deadline it exits 0: pg_dump then fails with its own, clearer error.
    assert "exit 0" in script
    assert "exit 1" not in script
    assert wait["envFrom"] == dump["envFrom"]
    assert wait["env"] == dump["env"]


def test_no_wait_for_the_database_when_it_is_zero() -> None:
    pod = backup_pod(merged(ENABLED, {"backup": {"waitForDatabaseSeconds": 0}}))

    assert names(pod["initContainers"]) == ["pg-dump", "pg-toc", "pg-revision"]
