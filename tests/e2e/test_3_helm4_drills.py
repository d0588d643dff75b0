"""Steps 2, 4, 5 with Helm 4, `migration.mode=job` and `--wait`: install, helm test, the DB pod
killed under load, the migration pod killed mid-run, security, uninstall.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.cluster.kube import Kube
from tests.e2e.calls import api_call, api_token, psql, schema_state
from tests.e2e.chart import BUILD, IMAGES, RELEASE, Helm, chart_values, helm_for
from tests.e2e.load import LoadGenerator
from tests.e2e.namespaces import leftovers, namespace
from tests.e2e.pods import (
    assert_final_state,
    is_ready,
    pods,
    ready_api_pods,
    restart_counts,
    wait_for,
)
from tests.e2e.security import check_security
from tests.e2e.timeline import TIMELINE

API = "app.kubernetes.io/instance=platform,app.kubernetes.io/component=api"
MIGRATION = "app.kubernetes.io/instance=platform,app.kubernetes.io/component=migration"
POSTGRES = "platform-postgres-0"
REPLICAS = 2
JOB_MODE = {"migration": {"mode": "job"}}
# Readiness fails after failureThreshold x periodSeconds = 3 x 5 s (chart defaults) + margin.
WATCH = 20


@pytest.fixture(scope="module")
def kube(cluster: Kube) -> Iterator[Kube]:
    yield from namespace(cluster, "helm4")


@pytest.fixture(scope="module")
def helm(helm4: str, kube: Kube) -> Helm:
    return helm_for(helm4, kube, "helm4")


def test_install_job_mode_with_wait(kube: Kube, helm: Helm) -> None:
    with TIMELINE.step("helm4: install --wait (job mode) -> all Ready") as step:
        started = time.monotonic()
        values = chart_values(IMAGES.old, JOB_MODE)
        result = helm.deploy("install", "install", values, "--wait", "--timeout", "5m")
        helm_seconds = time.monotonic() - started
        state = assert_final_state(
            kube, api_selector=API, postgres_pod=POSTGRES, job_selector=MIGRATION, replicas=REPLICAS
        )
        ready_seconds = time.monotonic() - started
        step.note = f"helm returned after {helm_seconds:.1f} s; all Ready {ready_seconds:.1f} s"
    TIMELINE.figure("helm4 install -> all Ready (target <= 90 s)", f"{ready_seconds:.1f} s")
    assert ready_seconds <= 90, f"install took {ready_seconds:.0f} s to all Ready"
    assert state["jobs"][0].startswith("platform-migration-"), state
    assert "NOTES:" in result.stdout, result.stdout
    notes = result.stdout.split("NOTES:", 1)[1]
    (BUILD / f"{helm.namespace}-NOTES.txt").write_text(notes)
    TIMELINE.notes["helm4 install (job mode)"] = notes
    assert "job mode" in notes, notes
    assert "helm test platform" in notes, notes


def test_helm_test_passes(helm: Helm) -> None:
    with TIMELINE.step("helm4: helm test"):
        out = helm.run("test", RELEASE, "--timeout", "3m")
        assert "platform-test" in out, out
        assert "Succeeded" in out, out


def observe_db_kill(kube: Kube, probe_pod: str, kill_uid: str) -> dict[str, Any]:
    """Watch the outage: PostgreSQL back, `/db-check` 503 then 200 again, API pods' Ready.

    Returns once the database is back, `/db-check` answers 200 again after it answered 503, every
    API pod is Ready, and at least WATCH seconds have passed (long enough for a readiness probe
    to have failed `failureThreshold` times, had it been going to).
    """
    killed_at = time.monotonic()
    seen: dict[str, Any] = {
        "api_not_ready_after": None,
        "postgres_ready_after": None,
        "db_check_503_after": None,
        "db_check_200_again_after": None,
    }
    api_ready_again = 0.0
    while (now := time.monotonic() - killed_at) < 240:
        api = pods(kube, API)
        all_ready = len(api) == REPLICAS and all(is_ready(p) for p in api)
        if seen["api_not_ready_after"] is None and not all_ready:
            seen["api_not_ready_after"] = now
        if seen["api_not_ready_after"] is not None and all_ready and not api_ready_again:
            api_ready_again = now
        if seen["postgres_ready_after"] is None:
            result = kube.try_run("get", "pod", POSTGRES, "-o", "json")
            if result.returncode == 0:
                pg = json.loads(result.stdout)
                if pg["metadata"]["uid"] != kill_uid and is_ready(pg):
                    seen["postgres_ready_after"] = now
        if seen["db_check_200_again_after"] is None:
            status, _ = api_call(kube, probe_pod, "GET", "/db-check")
            if status == 503 and seen["db_check_503_after"] is None:
                seen["db_check_503_after"] = now
            elif status == 200 and seen["db_check_503_after"] is not None:
                seen["db_check_200_again_after"] = now
        back = seen["postgres_ready_after"] is not None
        if back and all_ready and seen["db_check_200_again_after"] and now > WATCH:
            seen["recovered_after"] = max(
                seen["postgres_ready_after"], seen["db_check_200_again_after"], api_ready_again
            )
            seen["restarts"] = {p["metadata"]["name"]: restart_counts(p) for p in api}
            return seen
        time.sleep(0.5)
    raise AssertionError(f"no recovery within 240 s after the DB pod was killed: {seen}")


def test_db_pod_killed_under_load(kube: Kube) -> None:
    api = ready_api_pods(kube, API, REPLICAS)
    before = {p["metadata"]["name"]: restart_counts(p) for p in api}
    first = api[0]["metadata"]["name"]
    name = f"before-kill-{uuid.uuid4().hex[:8]}"
    status, item = api_call(
        kube, first, "POST", "/api/v1/items", {"name": name}, token=api_token(kube)
    )
    assert status == 201, item
    kill_uid = kube.get("pod", POSTGRES)["metadata"]["uid"]
    load = LoadGenerator(kube, "load-db-kill", IMAGES.old, "platform-api").start()
    time.sleep(3)
    with TIMELINE.step(f"helm4: delete {POSTGRES} under load -> API recovers") as step:
        killed_at = time.time()
        kube.run("delete", "pod", POSTGRES, "--wait=false")
        seen = observe_db_kill(kube, first, kill_uid)
        time.sleep(3)
        result = load.stop()
        outage = (result.last_failure - killed_at) if result.last_failure else 0.0
        not_ready = seen["api_not_ready_after"]
        step.note = (
            f"PG Ready after {seen['postgres_ready_after']:.1f} s; /db-check 503 from "
            f"{seen['db_check_503_after']:.1f} s to {seen['db_check_200_again_after']:.1f} s; "
            f"API NotReady: {f'after {not_ready:.1f} s' if not_ready else 'never'}; "
            f"{result.summary()}"
        )
    TIMELINE.figure("DB pod kill: recovery time (kill -> PG Ready, /db-check 200, API Ready)",
                    f"{seen['recovered_after']:.1f} s")  # fmt: skip
    TIMELINE.figure("DB pod kill: last failed request after the kill", f"{outage:.1f} s")
    TIMELINE.figure("DB pod kill: requests sent/failed", f"{result.sent}/{result.failed}")
    TIMELINE.figure(
        "DB pod kill: API pods NotReady",
        f"after {not_ready:.1f} s" if not_ready else
        f"never (PostgreSQL back in {seen['postgres_ready_after']:.1f} s, inside the readiness "
        "failure window of 3 x 5 s)",
    )  # fmt: skip
    # Liveness never touches the database: no API container restarted, no pod replaced.
    assert seen["restarts"] == before, (before, seen["restarts"])
    # Readiness followed the database (the cached check), and requests succeed again after.
    assert seen["db_check_503_after"] is not None
    assert result.ok_after_last_failure > 20, result.summary()
    # The data written before the kill is still there (the claim survived the pod).
    status, read = api_call(kube, first, "GET", f"/api/v1/items/{item['id']}")
    assert status == 200, read
    assert read["name"] == name, read


def test_db_outage_longer_than_the_readiness_window(kube: Kube) -> None:
    """The database gone for longer than 3 x 5 s: API pods leave the Service, are not restarted,
    and come back when it returns. (A deleted pod is back in ~7 s, inside that window.)"""
    api = ready_api_pods(kube, API, REPLICAS)
    before = {p["metadata"]["name"]: restart_counts(p) for p in api}
    with TIMELINE.step(
        "helm4: PostgreSQL down > readiness window -> API NotReady, no restart"
    ) as step:
        started = time.monotonic()
        kube.run("scale", "statefulset", "platform-postgres", "--replicas=0")

        def all_not_ready() -> bool:
            items = pods(kube, API)
            return len(items) == REPLICAS and not any(is_ready(p) for p in items)

        wait_for(all_not_ready, "every API pod NotReady", timeout=90, interval=0.5)
        not_ready_after = time.monotonic() - started
        for pod in pods(kube, API):
            assert pod["status"]["phase"] == "Running", pod["status"]
        kube.run("scale", "statefulset", "platform-postgres", "--replicas=1")
        scaled_up = time.monotonic()
        after = ready_api_pods(kube, API, REPLICAS)
        ready_after = time.monotonic() - scaled_up
        assert {p["metadata"]["name"]: restart_counts(p) for p in after} == before
        step.note = (
            f"all NotReady {not_ready_after:.1f} s after the scale-down; "
            f"Ready {ready_after:.1f} s after the scale-up; restartCount unchanged"
        )
    TIMELINE.figure("DB down: API NotReady after / Ready again after DB returns",
                    f"{not_ready_after:.1f} s / {ready_after:.1f} s")  # fmt: skip


def test_migration_pod_killed_mid_run(kube: Kube, helm: Helm) -> None:
    old_jobs = {j["metadata"]["name"] for j in kube.get("jobs", "-l", MIGRATION)["items"]}
    values = chart_values(IMAGES.slow, JOB_MODE)
    args = ["upgrade", RELEASE, helm.chart_path(), "-f", helm.values_file("slow", values)]
    upgrade = subprocess.Popen(
        helm.argv(*args, "--wait", "--timeout", "6m"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with TIMELINE.step(
            f"helm4: upgrade to {IMAGES.slow}; kill the migration pod mid-run"
        ) as step:
            started = time.monotonic()

            def sleeping_backend() -> str | None:
                sql = (
                    "SELECT pid FROM pg_stat_activity WHERE state = 'active' "
                    "AND query LIKE '%pg_sleep%e2e-slow-migration%' AND pid <> pg_backend_pid()"
                )
                return psql(kube, POSTGRES, sql) or None

            killed_backend = wait_for(sleeping_backend, "the slow migration to run", timeout=120)
            victims = [
                p for p in pods(kube, MIGRATION)
                if p["metadata"]["labels"].get("job-name") not in old_jobs
                and p["status"].get("phase") == "Running"
            ]  # fmt: skip
            assert len(victims) == 1, [p["metadata"]["name"] for p in victims]
            victim = victims[0]["metadata"]["name"]
            job = victims[0]["metadata"]["labels"]["job-name"]
            # A kill, not a polite request: SIGKILL one second after SIGTERM, whatever the CLI
            # does with SIGTERM (before e520382 it ignored it as PID 1, and a default delete let
            # the migration finish and commit within the 30 s grace period).
            kube.run("delete", "pod", victim, "--grace-period=1", "--wait=false")
            killed_after = time.monotonic() - started
            stdout, stderr = upgrade.communicate(timeout=420)
            assert upgrade.returncode == 0, f"{stdout}\n{stderr}"
            seconds = time.monotonic() - started
            step.note = (
                f"killed {victim} after {killed_after:.0f} s; upgrade done in {seconds:.0f} s"
            )
    finally:
        if upgrade.poll() is None:
            upgrade.kill()
            upgrade.communicate()
    with TIMELINE.step("helm4: the retried Job completed; the revision applied once") as step:
        status = kube.get("job", job)["status"]
        assert status.get("succeeded") == 1, status
        assert status.get("failed", 0) >= 1, status
        schema = schema_state(kube, POSTGRES)
        assert schema["current"] == "0003_e2e_slow", schema
        assert schema["ledger"].count("0003_e2e_slow") == 1, schema
        runs = psql(kube, POSTGRES, "SELECT string_agg(backend_pid::text, ',') FROM e2e_slow_runs")
        # One row, written by the retry: the killed run's transaction was rolled back.
        assert runs, "e2e_slow_runs is empty"
        assert "," not in runs, f"the slow migration committed twice: {runs}"
        assert runs != killed_backend, (runs, killed_backend)
        ready_api_pods(kube, API, REPLICAS, IMAGES.slow)
        step.note = f"job {job}: failed={status.get('failed')} succeeded=1; e2e_slow_runs = 1 row"


def test_security(kube: Kube) -> None:
    with TIMELINE.step(
        "helm4: security (restricted, non-root, read-only, no secret leaks)"
    ) as step:
        api = pods(kube, API)[0]["metadata"]["name"]
        step.note = check_security(kube, api, POSTGRES)


def test_uninstall_leaves_only_the_claim(kube: Kube, helm: Helm) -> None:
    with TIMELINE.step("helm4: uninstall -> only the PVC is left (by design)"):
        helm.run("uninstall", RELEASE, "--wait", "--timeout", "3m")
        expected = ["persistentvolumeclaim/data-platform-postgres-0"]
        wait_for(lambda: leftovers(kube) == expected, f"only {expected} left", timeout=120)
