"""Issue 15's drills with the chart (docs/decisions/0015): disaster recovery from the PVC and the S3
target, retention, the restore's refusals, and the refused PostgreSQL major change.

One namespace per target; the tests of a target run in order and build on each other.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.cluster.kube import Kube
from tests.e2e.backups import (
    BUCKET,
    CRONJOB,
    DATA_CLAIM,
    FLIP_BYTE,
    KEEP_LAST,
    POSTGRES,
    S3_ACCESS,
    S3_SECRET,
    S3_SECRET_KEY,
    VERSITYGW,
    disaster,
    disaster_drill,
    fingerprint,
    in_backup_pod,
    job_failed,
    refused_restore_job,
    restore_install,
    retention_drill,
    run_backup,
    values,
)
from tests.e2e.calls import api_token, psql
from tests.e2e.chart import IMAGES, RELEASE, Helm, helm_for
from tests.e2e.load import LoadGenerator
from tests.e2e.namespaces import namespace
from tests.e2e.pods import wait_for
from tests.e2e.timeline import TIMELINE

# A disaster drill is two installs, a backup and an uninstall: above the suite's 300 s per test.
pytestmark = pytest.mark.timeout(900)

# --------------------------------------------------------------------------------------------
# the PVC target


@pytest.fixture(scope="module")
def pvc_kube(cluster: Kube) -> Iterator[Kube]:
    yield from namespace(cluster, "backup-pvc")


@pytest.fixture(scope="module")
def pvc_helm(helm3: str, pvc_kube: Kube) -> Helm:
    return helm_for(helm3, pvc_kube, "helm3")


PVC: dict[str, Any] = {"target": "pvc", "pvc": {"size": "1Gi"}}


def test_disaster_with_the_pvc_target_restores_every_row(pvc_kube: Kube, pvc_helm: Helm) -> None:
    with TIMELINE.step("backup (pvc): 500 items, backup, uninstall + delete data claim, restore"):
        disaster_drill(pvc_kube, pvc_helm, PVC, "pvc")


def test_retention_with_the_pvc_target(pvc_kube: Kube) -> None:
    with TIMELINE.step(f"backup (pvc): {KEEP_LAST + 2} on-demand runs keep {KEEP_LAST}"):
        retention_drill(pvc_kube, "pvc")


def test_a_major_change_of_the_data_directory_is_refused(pvc_kube: Kube, pvc_helm: Helm) -> None:
    with TIMELINE.step("backup (pvc): helm upgrade to PostgreSQL 17 on the 15 claim -> refused"):
        bumped = values(PVC, {"database": {"image": {"tag": "17"}}})
        result = pvc_helm.deploy("upgrade", "major", bumped, check=False)
        assert result.returncode != 0
        assert "docs/runbooks/postgres-major-upgrade.md" in result.stderr, result.stderr
        assert "PostgreSQL 15 to 17" in result.stderr, result.stderr
        statefulset = pvc_kube.get("statefulset", "platform-postgres")
        (container,) = statefulset["spec"]["template"]["spec"]["containers"]
        assert container["image"] == IMAGES.postgres
    TIMELINE.figure("major change refused with", result.stderr.strip().splitlines()[-1][:160])


def test_restore_into_a_non_empty_database_is_refused(pvc_kube: Kube, pvc_helm: Helm) -> None:
    with TIMELINE.step("backup (pvc): reinstall with restore onto the kept data claim -> refused"):
        before = fingerprint(pvc_kube)
        # The data claim is kept (Retain) and still opens with its password: give it back.
        password = api_token(pvc_kube, "platform-db", "POSTGRES_PASSWORD")
        pvc_helm.run("uninstall", RELEASE, "--wait", "--timeout", "3m")
        extra = {"restore": {"from": "latest"}, "database": {"auth": {"password": password}}}
        pvc_helm.deploy("install", "nonempty", values(PVC, extra))
        log = refused_restore_job(pvc_kube)
        assert "not empty" in log, log
        assert fingerprint(pvc_kube) == before
    TIMELINE.figure("restore into a non-empty database refused with", log.strip()[-160:])


def test_a_corrupted_backup_is_refused_by_its_checksum(pvc_kube: Kube, pvc_helm: Helm) -> None:
    with TIMELINE.step("backup (pvc): one byte of the newest dump flipped, restore -> refused"):
        # While a release (and so its CronJob, whose pod spec the flip borrows) is installed.
        flipped = in_backup_pod(pvc_kube, "flip", ["python", "-c", FLIP_BYTE, "/backups"])
        pvc_helm.run("uninstall", RELEASE, "--wait", "--timeout", "3m")
        pvc_kube.run("delete", "pvc", DATA_CLAIM, "--wait=true", timeout=180)
        pvc_helm.deploy("install", "corrupted", values(PVC, {"restore": {"from": "latest"}}))
        log = refused_restore_job(pvc_kube)
        assert "fails its checksum" in log, log
        assert flipped.strip().removesuffix(".dump") in log, (flipped, log)
        # Nothing was written: the new, empty database has no table of ours.
        tables = psql(
            pvc_kube, POSTGRES, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        )
        assert tables == "0", tables
    TIMELINE.figure("corrupted backup refused with", log.strip()[-160:])


# --------------------------------------------------------------------------------------------
# the S3 target (versitygw in the namespace)


@pytest.fixture(scope="module")
def s3_kube(cluster: Kube) -> Iterator[Kube]:
    yield from namespace(cluster, "backup-s3")


@pytest.fixture(scope="module")
def s3_helm(helm3: str, s3_kube: Kube) -> Helm:
    return helm_for(helm3, s3_kube, "helm3")


def versitygw(kube: Kube) -> None:
    """A one-replica versitygw (posix backend on an emptyDir; the bucket is a directory)."""
    labels = {"app.kubernetes.io/name": "versitygw"}
    restricted = {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    mounts = [{"name": "data", "mountPath": "/data"}, {"name": "meta", "mountPath": "/meta"}]
    kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": S3_SECRET},
            "stringData": {"AWS_ACCESS_KEY_ID": S3_ACCESS, "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "versitygw", "labels": labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "securityContext": {"runAsNonRoot": True, "fsGroup": 10001},
                        "initContainers": [
                            {
                                "name": "bucket",
                                "image": IMAGES.old,
                                "imagePullPolicy": IMAGES.pull_policy,
                                "command": [
                                    "python",
                                    "-c",
                                    f"import os; os.mkdir('/data/{BUCKET}')",
                                ],
                                "securityContext": restricted,
                                "volumeMounts": mounts,
                            }
                        ],
                        "containers": [
                            {
                                "name": "versitygw",
                                "image": VERSITYGW,
                                "imagePullPolicy": IMAGES.pull_policy,
                                "env": [
                                    {"name": "ROOT_ACCESS_KEY_ID", "value": S3_ACCESS},
                                    {"name": "ROOT_SECRET_ACCESS_KEY", "value": S3_SECRET_KEY},
                                ],
                                "ports": [{"name": "s3", "containerPort": 7070}],
                                "readinessProbe": {"tcpSocket": {"port": 7070}, "periodSeconds": 2},
                                "securityContext": restricted,
                                "volumeMounts": mounts,
                            }
                        ],
                        "volumes": [
                            {"name": "data", "emptyDir": {}},
                            {"name": "meta", "emptyDir": {}},
                        ],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "versitygw"},
            "spec": {
                "selector": labels,
                "ports": [{"name": "s3", "port": 7070, "targetPort": "s3"}],
            },
        },
    )
    kube.run("rollout", "status", "deployment/versitygw", "--timeout=180s", timeout=200)


S3: dict[str, Any] = {
    "target": "s3",
    "s3": {
        "endpoint": "http://versitygw:7070",
        "bucket": BUCKET,
        "prefix": "e2e/platform",
        "existingSecret": S3_SECRET,
    },
}


def test_disaster_with_the_s3_target_restores_every_row(s3_kube: Kube, s3_helm: Helm) -> None:
    with TIMELINE.step("backup (s3): versitygw, 500 items, backup, disaster, restore"):
        versitygw(s3_kube)
        disaster_drill(s3_kube, s3_helm, S3, "s3")


def test_retention_with_the_s3_target(s3_kube: Kube) -> None:
    with TIMELINE.step(f"backup (s3): {KEEP_LAST + 2} on-demand runs keep {KEEP_LAST}"):
        retention_drill(s3_kube, "s3")


def item_count(kube: Kube) -> int:
    return int(psql(kube, POSTGRES, "SELECT count(*) FROM items"))


def test_a_backup_under_write_load_fails_no_request_and_restores_consistently(
    s3_kube: Kube, s3_helm: Helm
) -> None:
    with TIMELINE.step("backup (s3): on-demand backup under a write load, disaster, restore it"):
        load = LoadGenerator(s3_kube, "load-backup", IMAGES.old, "platform-api", write_every=2)
        load.start()
        wait_for(lambda: load.progress()["sent"] > 50, "the load to write", timeout=90)
        before = item_count(s3_kube)
        uploaded = run_backup(s3_kube, "backup-under-load")
        after = item_count(s3_kube)
        time.sleep(2)
        result = load.stop()
        assert result.failed == 0, result.errors
        assert after > before, (before, after)  # the writes went on while pg_dump ran
        disaster(s3_kube, s3_helm)
        restore_install(
            s3_helm, s3_kube, "restore-loaded", values(S3, {"restore": {"from": uploaded["id"]}})
        )
        restored = item_count(s3_kube)
        # pg_dump's snapshot: a moment between the two counts, not a mix of moments.
        assert before <= restored <= after, (before, restored, after)
    TIMELINE.figure("backup under write load: requests sent/failed, rows before/restored/after",
                    f"{result.sent}/{result.failed}, {before}/{restored}/{after}")  # fmt: skip


def test_a_backup_with_the_database_down_fails_visibly(s3_kube: Kube) -> None:
    with TIMELINE.step("backup (s3): database scaled to 0 -> the backup Job fails with an event"):
        s3_kube.run("scale", "statefulset/platform-postgres", "--replicas=0")
        s3_kube.wait("delete", f"pod/{POSTGRES}", timeout=120)
        name = "backup-db-down"
        s3_kube.run("create", "job", f"--from=cronjob/{CRONJOB}", name)
        wait_for(lambda: job_failed(s3_kube.get("job", name)), f"{name} Failed", timeout=300)
        events = s3_kube.run("get", "events", "--field-selector", f"involvedObject.name={name}")
        assert "BackoffLimitExceeded" in events, events
        log = s3_kube.run("logs", f"job/{name}", "-c", "pg-dump")
        assert "pg_dump" in log, log
        s3_kube.run("scale", "statefulset/platform-postgres", "--replicas=1")
    TIMELINE.figure("backup with the database down failed with", log.strip()[-160:])
