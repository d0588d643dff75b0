"""Steps 2-5 with Helm 3, `migration.mode=hook`: install --wait, helm test, a failing migration,
an upgrade and a rollback under load, a config change, security, uninstall.

One release in one restricted namespace; the tests run in order and build on each other.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.cluster.kube import Kube
from tests.e2e.calls import psql, schema_state
from tests.e2e.chart import BUILD, IMAGES, Helm, chart_values, helm_for, version_of
from tests.e2e.load import LoadGenerator
from tests.e2e.namespaces import leftovers, namespace
from tests.e2e.pods import api_image, assert_final_state, pods, ready_api_pods, wait_for
from tests.e2e.security import check_security
from tests.e2e.timeline import TIMELINE

API = "app.kubernetes.io/instance=platform,app.kubernetes.io/component=api"
MIGRATION = "app.kubernetes.io/instance=platform,app.kubernetes.io/component=migration"
POSTGRES = "platform-postgres-0"
REPLICAS = 2
BASE_SCHEMA = "0002_add_item_description"
NEW_SCHEMA = "0003_e2e_expand"


@pytest.fixture(scope="module")
def kube(cluster: Kube) -> Iterator[Kube]:
    yield from namespace(cluster, "helm3")


@pytest.fixture(scope="module")
def helm(helm3: str, kube: Kube) -> Helm:
    return helm_for(helm3, kube, "helm3")


def api_pod_names(kube: Kube) -> list[str]:
    return sorted(p["metadata"]["name"] for p in pods(kube, API))


def old_pods_gone(kube: Kube, image: str) -> list[dict[str, Any]]:
    """All API pods on `image`, REPLICAS of them, Ready: the rollout is over, old pods gone."""
    return ready_api_pods(kube, API, REPLICAS, image)


def test_install_hook_mode_with_wait(kube: Kube, helm: Helm) -> None:
    with TIMELINE.step("helm3: install --wait (hook mode) -> all Ready") as step:
        started = time.monotonic()
        result = helm.deploy(
            "install", "install", chart_values(IMAGES.old), "--wait", "--timeout", "5m"
        )
        helm_seconds = time.monotonic() - started
        state = assert_final_state(
            kube, api_selector=API, postgres_pod=POSTGRES, job_selector=MIGRATION, replicas=REPLICAS
        )
        ready_seconds = time.monotonic() - started
        assert state["jobs"][0].startswith("platform-migration-"), state
        step.note = f"helm returned after {helm_seconds:.1f} s; all Ready {ready_seconds:.1f} s"
    TIMELINE.figure("helm3 install -> all Ready (target <= 90 s)", f"{ready_seconds:.1f} s")
    assert ready_seconds <= 90, f"install took {ready_seconds:.0f} s to all Ready"
    # NOTES are printed by helm install: keep them, and check they say what to do next.
    assert "NOTES:" in result.stdout, result.stdout
    notes = result.stdout.split("NOTES:", 1)[1]
    (BUILD / f"{helm.namespace}-NOTES.txt").write_text(notes)
    TIMELINE.notes["helm3 install (hook mode)"] = notes
    for expected in (
        "port-forward service/platform-api",
        "helm test platform",
        "hook mode",
        "get secret platform-api-token -o jsonpath='{.data.token}'",  # the writers' interface
        "The API logs in as platform_app_a",
    ):
        assert expected in notes, (expected, notes)
    assert "data-platform-postgres-0 is kept" in notes


def test_helm_test_passes(helm: Helm) -> None:
    with TIMELINE.step("helm3: helm test"):
        out = helm.run("test", "platform", "--timeout", "3m")
        assert "platform-test" in out, out
        assert "Succeeded" in out, out


def test_failing_migration_fails_the_upgrade_and_old_pods_keep_serving(
    kube: Kube, helm: Helm
) -> None:
    before_pods = api_pod_names(kube)
    before_schema = schema_state(kube, POSTGRES)
    assert before_schema["current"] == BASE_SCHEMA, before_schema
    load = LoadGenerator(kube, "load-bad-upgrade", IMAGES.old, "platform-api").start()
    with TIMELINE.step(f"helm3: upgrade to {IMAGES.bad} (failing migration) -> fails") as step:
        # backoffLimit 0: the hook fails on the first failed pod instead of after 3 retries.
        values = chart_values(IMAGES.bad, {"migration": {"backoffLimit": 0}})
        result = helm.deploy("upgrade", "bad", values, "--wait", "--timeout", "3m", check=False)
        assert result.returncode != 0, f"the upgrade succeeded:\n{result.stdout}"
        assert "pre-upgrade hooks failed" in result.stderr, result.stderr
        step.note = result.stderr.strip().splitlines()[-1][:120]
    with TIMELINE.step("helm3: after the failed upgrade: schema unchanged, old pods serving"):
        after_schema = schema_state(kube, POSTGRES)
        assert after_schema == before_schema, (before_schema, after_schema)
        assert "e2e_bad_partial" not in after_schema["tables"]
        logs = kube.run("logs", "job/platform-migration", "--all-containers")
        assert "division by zero" in logs, logs
        assert api_pod_names(kube) == before_pods
        assert all(api_image(p) == IMAGES.old for p in old_pods_gone(kube, IMAGES.old))
        assert helm.history()[-1]["status"] == "failed"
        time.sleep(2)
        result_load = load.stop()
    TIMELINE.figure(
        "failed upgrade: requests sent/failed", f"{result_load.sent}/{result_load.failed}"
    )
    assert result_load.failed == 0, result_load.errors
    assert result_load.sent > 0


def test_upgrade_under_load_runs_the_migration_once(kube: Kube, helm: Helm) -> None:
    load = LoadGenerator(kube, "load-upgrade", IMAGES.old, "platform-api").start()
    time.sleep(3)
    with TIMELINE.step(
        f"helm3: upgrade --wait to {IMAGES.new} (expand migration) under load"
    ) as step:
        started = time.monotonic()
        helm.deploy("upgrade", "new", chart_values(IMAGES.new), "--wait", "--timeout", "5m")
        helm_seconds = time.monotonic() - started
        old_pods_gone(kube, IMAGES.new)
        rollout_seconds = time.monotonic() - started
        time.sleep(3)
        result = load.stop()
        step.note = (
            f"helm {helm_seconds:.1f} s, old pods gone {rollout_seconds:.1f} s; {result.summary()}"
        )
    TIMELINE.figure("helm3 upgrade duration (helm --wait / until old pods gone)",
                    f"{helm_seconds:.1f} s / {rollout_seconds:.1f} s")  # fmt: skip
    TIMELINE.figure("upgrade under load: requests sent/failed", f"{result.sent}/{result.failed}")
    assert result.failed == 0, result.errors
    assert result.sent > 100, result.summary()
    assert result.last_version == version_of(IMAGES.new), result.summary()
    with TIMELINE.step("helm3: migration ran exactly once, all pods on the new image") as step:
        schema = schema_state(kube, POSTGRES)
        assert schema["current"] == NEW_SCHEMA, schema
        assert schema["ledger"].count(NEW_SCHEMA) == 1, schema
        runs = psql(kube, POSTGRES, "SELECT count(*) FROM e2e_migration_runs")
        assert runs == "1", f"the migration ran {runs} times"
        # The hook Job and its hook ConfigMap/Secret are gone after success.
        assert "platform-migration" not in kube.run("get", "jobs,configmaps,secrets", "-o", "name")
        step.note = f"schema {schema['current']}, e2e_migration_runs = {runs}"


def test_rollback_under_load(kube: Kube, helm: Helm) -> None:
    load = LoadGenerator(kube, "load-rollback", IMAGES.old, "platform-api").start()
    time.sleep(3)
    with TIMELINE.step(f"helm3: rollback --wait to revision 1 ({IMAGES.old}) under load") as step:
        started = time.monotonic()
        helm.run("rollback", "platform", "1", "--wait", "--timeout", "5m")
        old_pods_gone(kube, IMAGES.old)
        seconds = time.monotonic() - started
        time.sleep(3)
        result = load.stop()
        step.note = f"{seconds:.1f} s; {result.summary()}"
    TIMELINE.figure("helm3 rollback duration", f"{seconds:.1f} s")
    TIMELINE.figure("rollback under load: requests sent/failed", f"{result.sent}/{result.failed}")
    assert result.failed == 0, result.errors
    assert result.last_version == version_of(IMAGES.old), result.summary()
    with TIMELINE.step("helm3: after rollback: re-created install Job was a no-op") as step:
        # Revision 1's plain Job comes back with the old image and finds the schema one expand
        # step ahead: it must succeed without touching it.
        jobs = wait_for(
            lambda: [
                j for j in kube.get("jobs", "-l", MIGRATION)["items"]
                if j.get("status", {}).get("succeeded")
            ],
            "the re-created install Job to complete",
        )  # fmt: skip
        schema = schema_state(kube, POSTGRES)
        assert schema["current"] == NEW_SCHEMA, schema
        assert psql(kube, POSTGRES, "SELECT count(*) FROM e2e_migration_runs") == "1"
        step.note = f"{jobs[0]['metadata']['name']} Complete; schema still {NEW_SCHEMA}"


def test_config_change_rolls_the_api_pods(kube: Kube, helm: Helm) -> None:
    before = set(api_pod_names(kube))
    with TIMELINE.step(
        "helm3: upgrade --wait with config.logLevel=DEBUG rolls the API pods"
    ) as step:
        values = chart_values(IMAGES.old, {"config": {"logLevel": "DEBUG"}})
        helm.deploy("upgrade", "config", values, "--wait", "--timeout", "5m")
        after = old_pods_gone(kube, IMAGES.old)
        names = {p["metadata"]["name"] for p in after}
        assert not names & before, (before, names)
        config = kube.get("configmap", "platform-config")["data"]
        assert config["LOG_LEVEL"] == "DEBUG", config
        for pod in names:
            env = kube.run("exec", pod, "-c", "api", "--", "printenv", "LOG_LEVEL").strip()
            assert env == "DEBUG", (pod, env)
        step.note = f"{sorted(before)} -> {sorted(names)}"


def test_security(kube: Kube) -> None:
    with TIMELINE.step(
        "helm3: security (restricted, non-root, read-only, no secret leaks)"
    ) as step:
        api = api_pod_names(kube)[0]
        step.note = check_security(kube, api, POSTGRES)


def test_uninstall_leaves_only_the_claim(kube: Kube, helm: Helm) -> None:
    with TIMELINE.step("helm3: uninstall -> only the PVC is left (by design)") as step:
        helm.run("uninstall", "platform", "--wait", "--timeout", "3m")
        expected = ["persistentvolumeclaim/data-platform-postgres-0"]
        wait_for(lambda: leftovers(kube) == expected, f"only {expected} left", timeout=120)
        step.note = "left: data-platform-postgres-0 (kept by design, docs/helm-lifecycle.md)"
