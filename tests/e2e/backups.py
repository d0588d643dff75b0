"""The backup drills' shared steps (issue 15): the chart's values, installs, on-demand backups,
the data's fingerprint, the disaster and the restore, pods of the backup Job's own spec."""

from __future__ import annotations

import json
import os
import time
from typing import Any

from tests.cluster.kube import Kube
from tests.e2e.calls import api_call, psql, schema_state
from tests.e2e.chart import IMAGES, RELEASE, Helm, chart_values, deep_merge
from tests.e2e.pods import assert_final_state, job_complete, pods, wait_for
from tests.e2e.timeline import TIMELINE

API = "app.kubernetes.io/instance=platform,app.kubernetes.io/component=api"
MIGRATION = "app.kubernetes.io/instance=platform,app.kubernetes.io/component=migration"
POSTGRES = "platform-postgres-0"
DATA_CLAIM = f"data-{POSTGRES}"
CRONJOB = "platform-backup"
REPLICAS = 2
ITEMS = 500
KEEP_LAST = 2
VERSITYGW = os.environ.get("E2E_VERSITYGW_IMAGE", "localhost/versitygw:1.8.0")
BUCKET = "platform-backups"
S3_SECRET = "backup-s3"
S3_ACCESS, S3_SECRET_KEY = "e2e-access", "e2e-secret-key-0123456789"
# Names that exercise Unicode (multi-byte, combining, right-to-left, astral plane).
INSERT_ITEMS = (
    "INSERT INTO items (name) SELECT 'ítem ' || g || ' — 東京 ✓ שלום e\u0301 \U0001f680' "
    "FROM generate_series(1, 500) AS g"
)
ROWS_HASH = "SELECT md5(string_agg(t::text, '|' ORDER BY id)) FROM items AS t"


def values(target: dict[str, Any], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    base = {"backup": deep_merge({"enabled": True, "retention": {"keepLast": KEEP_LAST}}, target)}
    return chart_values(IMAGES.old, deep_merge(base, extra or {}))


def install(helm: Helm, name: str, chart_values_: dict[str, Any]) -> None:
    helm.deploy("install", name, chart_values_, "--wait", "--timeout", "6m")


def ready(kube: Kube) -> dict[str, Any]:
    return assert_final_state(
        kube, api_selector=API, postgres_pod=POSTGRES, job_selector=MIGRATION, replicas=REPLICAS
    )


def job_failed(job: dict[str, Any]) -> bool:
    conditions = job.get("status", {}).get("conditions", [])
    return any(c["type"] == "Failed" and c["status"] == "True" for c in conditions)


def run_backup(kube: Kube, name: str) -> dict[str, Any]:
    """The documented on-demand backup; its upload log line (id, size)."""
    kube.run("create", "job", f"--from=cronjob/{CRONJOB}", name)
    wait_for(
        lambda: (job := kube.get("job", name)) and (job_complete(job) or job_failed(job)),
        f"backup Job {name} finished",
        timeout=300,
    )
    assert job_complete(kube.get("job", name)), kube.run("logs", f"job/{name}", "--all-containers")
    for line in kube.run("logs", f"job/{name}", "-c", "upload").splitlines():
        if '"backup uploaded"' in line:
            record: dict[str, Any] = json.loads(line)
            return record
    raise AssertionError(f"no 'backup uploaded' line in job {name}'s log")


def api_pod(kube: Kube) -> str:
    name: str = pods(kube, API)[0]["metadata"]["name"]
    return name


def fingerprint(kube: Kube) -> tuple[str, str, str]:
    """(row count, hash of every row, schema revision)."""
    count = psql(kube, POSTGRES, "SELECT count(*) FROM items")
    return count, psql(kube, POSTGRES, ROWS_HASH), schema_state(kube, POSTGRES)["current"]


def disaster(kube: Kube, helm: Helm) -> None:
    """helm uninstall, then the data claim deleted: only the backup target is left."""
    helm.run("uninstall", RELEASE, "--wait", "--timeout", "3m")
    kube.run("delete", "pvc", DATA_CLAIM, "--wait=true", timeout=180)


def restore_install(helm: Helm, kube: Kube, name: str, chart_values_: dict[str, Any]) -> float:
    """Reinstall with restore.from=latest; seconds until the API serves the restored data."""
    started = time.monotonic()
    install(helm, name, deep_merge(chart_values_, {"restore": {"from": "latest"}}))
    ready(kube)
    status, _ = api_call(kube, api_pod(kube), "GET", "/db-check")
    assert status == 200
    return time.monotonic() - started


def disaster_drill(kube: Kube, helm: Helm, target_values: dict[str, Any], label: str) -> None:
    install(helm, "install", values(target_values))
    ready(kube)
    psql(kube, POSTGRES, INSERT_ITEMS)
    before = fingerprint(kube)
    assert before[0] == str(ITEMS)
    assert "lastSuccessfulTime" not in kube.get("cronjob", CRONJOB).get("status", {})
    uploaded = run_backup(kube, "backup-before-disaster")
    # A run made by hand is a success of the CronJob's (what PlatformBackupTooOld reads).
    wait_for(
        lambda: kube.get("cronjob", CRONJOB)["status"].get("lastSuccessfulTime"),
        "the CronJob's lastSuccessfulTime after a run by hand",
        timeout=60,
    )
    disaster(kube, helm)
    rto = restore_install(helm, kube, "restore", values(target_values))
    assert fingerprint(kube) == before
    status, body = api_call(kube, api_pod(kube), "GET", "/api/v1/items?count=true&limit=1")
    assert status == 200, body
    TIMELINE.figure(f"backup ({label}): {ITEMS} items, dump size", f"{uploaded['size_bytes']} B")
    TIMELINE.figure(
        f"restore ({label}): reinstall -> API serving restored data (RTO)", f"{rto:.1f} s"
    )


def retention_drill(kube: Kube, target: str) -> None:
    """KEEP_LAST + 2 on-demand runs leave exactly KEEP_LAST backups."""
    ids = [run_backup(kube, f"retention-{i}")["id"] for i in range(KEEP_LAST + 2)]
    kept = list_backups(kube)
    assert kept == sorted(ids, reverse=True)[:KEEP_LAST], (kept, ids)
    TIMELINE.figure(f"retention ({target}): runs / kept", f"{len(ids)} / {len(kept)}")


def in_backup_pod(kube: Kube, purpose: str, command: list[str]) -> str:
    """Run `command` in a pod of the backup Job's own spec (same target, mounts, user); its log."""
    name = f"{purpose}-{int(time.time() * 1000) % 10**8}"
    cronjob = kube.get("cronjob", CRONJOB)
    pod_spec = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (upload,) = pod_spec["containers"]
    upload["command"] = command
    pod_spec["initContainers"] = []
    pod_spec["containers"] = [upload]
    kube.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": pod_spec})
    wait_for(
        lambda: kube.get("pod", name)["status"]["phase"] in ("Succeeded", "Failed"),
        f"pod {name} finished",
    )
    out = kube.run("logs", name)
    assert kube.get("pod", name)["status"]["phase"] == "Succeeded", out
    kube.run("delete", "pod", name, "--wait=false")
    return out


def list_backups(kube: Kube) -> list[str]:
    """`platform-backup list`: the ids in the target, newest first."""
    out = in_backup_pod(kube, "list", ["platform-backup", "list"])
    return [json.loads(line)["id"] for line in out.splitlines() if line.startswith('{"id"')]


# Flips one byte in the middle of the newest dump of the PVC target, in place.
FLIP_BYTE = """
import pathlib, sys
dump = max(pathlib.Path(sys.argv[1]).rglob("*.dump"))
with dump.open("r+b") as f:
    f.seek(dump.stat().st_size // 2)
    byte = f.read(1)
    f.seek(-1, 1)
    f.write(bytes([byte[0] ^ 0xFF]))
print(dump.name)
"""


def refused_restore_job(kube: Kube) -> str:
    """The install's migration Job failed in restore-fetch; its log line."""
    job = wait_for(
        lambda: next(
            (j for j in kube.get("jobs", "-l", MIGRATION)["items"] if job_failed(j)), None
        ),
        "the migration Job Failed",
        timeout=240,
    )
    name = job["metadata"]["name"]
    log = kube.run("logs", f"job/{name}", "-c", "restore-fetch")
    events = kube.run("get", "events", "--field-selector", f"involvedObject.name={name}")
    assert "BackoffLimitExceeded" in events or "DeadlineExceeded" in events, events
    return log
