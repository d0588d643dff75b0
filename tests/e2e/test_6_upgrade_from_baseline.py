"""An existing install upgraded: the pinned baseline's chart and image, then this tree's, under
load; then every credential rotated under load (the runbook docs/runbooks/rotate-credentials.md).

Baseline (tests/e2e/baseline.txt): one database role, the bundled server's superuser, used by
the API too, and open writes. After `helm upgrade`: the data is intact, the API logs in as its own
DML-only login, the token Secret exists, reads never failed, and a write without the token gets
401 (the documented breaking change). Helm 3, hook mode: what existing installs run.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.cluster.kube import Kube
from tests.e2e.calls import api_call, api_token, database_logins, psql
from tests.e2e.chart import (
    IMAGES,
    Helm,
    baseline_commit,
    baseline_tree,
    chart_values,
    deep_merge,
    helm_for,
)
from tests.e2e.load import LoadGenerator, LoadResult, assert_one_restart_outage
from tests.e2e.namespaces import namespace
from tests.e2e.pods import pods, ready_api_pods, wait_for
from tests.e2e.timeline import TIMELINE

API = "app.kubernetes.io/instance=platform,app.kubernetes.io/component=api"
POSTGRES = "platform-postgres-0"
REPLICAS = 2
ITEMS = 20


@pytest.fixture(scope="module")
def kube(cluster: Kube) -> Iterator[Kube]:
    yield from namespace(cluster, "upgrade")


@pytest.fixture(scope="module")
def helm(helm3: str, kube: Kube) -> Helm:
    return helm_for(helm3, kube, "helm3")


@pytest.fixture(scope="module")
def values() -> dict[str, Any]:
    """This tree's values for the release, changed by each step (what a user's values file is)."""
    return chart_values(IMAGES.old)


def api_pod(kube: Kube) -> str:
    return str(ready_api_pods(kube, API, REPLICAS)[0]["metadata"]["name"])


def api_logins(kube: Kube) -> set[str]:
    return database_logins(kube, POSTGRES)


def secret_value(kube: Kube, name: str, key: str) -> str:
    return base64.b64decode(kube.get("secret", name)["data"][key]).decode()


def upgrade_under_load(
    kube: Kube, helm: Helm, name: str, values: dict[str, Any], *, write_every: int = 10
) -> tuple[LoadResult, float]:
    """`helm upgrade --wait` to `values` while a load runs; returns once old pods are gone."""
    load = LoadGenerator(kube, f"load-{name}", IMAGES.old, "platform-api", write_every=write_every)
    load.start()
    wait_for(lambda: load.progress()["sent"] > 0, f"{load.name} to send requests", timeout=60)
    started = time.monotonic()
    helm.deploy("upgrade", name, values, "--wait", "--timeout", "5m")
    ready_api_pods(kube, API, REPLICAS)
    seconds = time.monotonic() - started
    time.sleep(2)
    return load.stop(), seconds


def record(label: str, result: LoadResult, seconds: float) -> str:
    TIMELINE.figure(f"{label}: requests sent/failed, duration", f"{result.sent}/{result.failed}, "
                    f"{seconds:.1f} s")  # fmt: skip
    return f"{seconds:.1f} s; {result.summary()}"


def test_the_baseline_installs_with_one_superuser_role_and_open_writes(
    kube: Kube, helm: Helm
) -> None:
    commit = baseline_commit()
    with TIMELINE.step(
        f"upgrade: install the baseline {commit} (chart + {IMAGES.baseline})"
    ) as step:
        chart = baseline_tree() / "k8s" / "helm" / "platform"
        helm.deploy(
            "install", "baseline", chart_values(IMAGES.baseline), "--wait", "--timeout", "5m",
            chart=chart,
        )  # fmt: skip
        pod = api_pod(kube)
        for n in range(ITEMS):
            status, _ = api_call(kube, pod, "POST", "/api/v1/items", {"name": f"baseline-{n}"})
            assert status == 201, status  # the weakness: anyone who reaches the Service writes
        wait_for(lambda: api_logins(kube) == {"platform:true"}, "the API's logins", timeout=60)
        step.note = f"{ITEMS} items written without a token; the API logs in as platform:superuser"


def test_helm_upgrade_to_this_tree_keeps_data_and_reads_and_moves_the_api_to_its_own_login(
    kube: Kube, helm: Helm, values: dict[str, Any]
) -> None:
    before = psql(kube, POSTGRES, "SELECT string_agg(id || name, ',' ORDER BY id) FROM items")
    postgres_uid = kube.get("pod", POSTGRES)["metadata"]["uid"]
    with TIMELINE.step("upgrade: helm upgrade to this tree under a read load") as step:
        result, seconds = upgrade_under_load(kube, helm, "to-tree", values, write_every=0)
        step.note = record("upgrade from the baseline (reads)", result, seconds)
    assert result.sent > 100, result.summary()
    # Chart 0.2.0 takes the chart and version labels off the pod templates, so PostgreSQL
    # restarts once on this upgrade (CHANGELOG) and never again for a chart release alone
    # (tests/chart/test_release.py). Reads fail only during that one restart: the API's bounded
    # 503, or no endpoint once it outlasts the readiness window; never a 500; then all succeed.
    assert kube.get("pod", POSTGRES)["metadata"]["uid"] != postgres_uid
    status = kube.get("statefulset", "platform-postgres")["status"]
    assert status["currentRevision"] == status["updateRevision"], status
    assert_one_restart_outage(
        result, "upgrade from the baseline: reads failing while PostgreSQL restarts"
    )
    ready_api_pods(kube, API, REPLICAS, IMAGES.old)  # both report 1.0.0: tell them by image
    with TIMELINE.step("upgrade: data intact, API on platform_app_a, token Secret, 401") as step:
        after = psql(kube, POSTGRES, "SELECT string_agg(id || name, ',' ORDER BY id) FROM items")
        assert after == before
        wait_for(lambda: api_logins(kube) == {"platform_app_a:false"}, "the API's own login")
        token = api_token(kube)
        pod = api_pod(kube)
        item = {"name": "after-upgrade"}
        assert api_call(kube, pod, "POST", "/api/v1/items", item)[0] == 401  # an old client
        assert api_call(kube, pod, "POST", "/api/v1/items", item, token="x" * 20)[0] == 403
        assert api_call(kube, pod, "POST", "/api/v1/items", item, token=token)[0] == 201
        step.note = f"{ITEMS} items kept; logins {sorted(api_logins(kube))}; writes 401/403/201"


def test_api_token_rotation_under_load(kube: Kube, helm: Helm, values: dict[str, Any]) -> None:
    old, new = api_token(kube), secrets.token_urlsafe(32)
    with TIMELINE.step("rotate API token, step 1: new token, old one still accepted") as step:
        overlap = deep_merge(values, {"api": {"auth": {"token": new, "previousToken": old}}})
        result, seconds = upgrade_under_load(kube, helm, "token-overlap", overlap)
        step.note = record("token rotation, overlap (writers on the old token)", result, seconds)
    assert result.failed == 0, result.errors
    assert api_token(kube) == new
    with TIMELINE.step("rotate API token, step 2: the old token removed") as step:
        values.update(deep_merge(values, {"api": {"auth": {"token": new}}}))
        result, seconds = upgrade_under_load(kube, helm, "token-done", values)
        step.note = record("token rotation, done (writers on the new token)", result, seconds)
    assert result.failed == 0, result.errors
    pod = api_pod(kube)
    assert api_call(kube, pod, "POST", "/api/v1/items", {"name": "old"}, token=old)[0] == 403
    assert api_call(kube, pod, "POST", "/api/v1/items", {"name": "new"}, token=new)[0] == 201


def refused_over_tcp(kube: Kube, user: str, password: str) -> str:
    """Log in over TCP from inside the PostgreSQL pod; returns the refusal (fails if accepted)."""
    result = kube.try_run(
        "exec", POSTGRES, "-c", "postgres", "--", "env", f"PGPASSWORD={password}",
        "psql", "-h", "127.0.0.1", "-U", user, "-d", "platform", "-Atc", "SELECT 1",
    )  # fmt: skip
    assert result.returncode != 0, f"{user} logged in with the old password"
    return result.stderr.strip()


def test_api_database_login_rotation_under_load(
    kube: Kube, helm: Helm, values: dict[str, Any]
) -> None:
    old_password = secret_value(kube, "platform-db", "APP_POSTGRES_PASSWORD")
    with TIMELINE.step("rotate the API's login, step 1: switch to platform_app_b") as step:
        values.update(
            deep_merge(values, {"database": {"auth": {"app": {"username": "platform_app_b"}}}})
        )
        result, seconds = upgrade_under_load(kube, helm, "login-b", values)
        step.note = record("API login rotation, switch", result, seconds)
    assert result.failed == 0, result.errors
    wait_for(lambda: api_logins(kube) == {"platform_app_b:false"}, "the API on platform_app_b")
    with TIMELINE.step("rotate the API's login, step 2: retire platform_app_a") as step:
        retire = {"database": {"auth": {"app": {"retiredUsernames": ["platform_app_a"]}}}}
        values.update(deep_merge(values, retire))
        result, seconds = upgrade_under_load(kube, helm, "login-retire", values)
        step.note = record("API login rotation, retire", result, seconds)
    assert result.failed == 0, result.errors
    refusal = refused_over_tcp(kube, "platform_app_a", old_password)
    assert "password authentication failed" in refusal, refusal


def test_migration_role_password_rotation_under_load(
    kube: Kube, helm: Helm, values: dict[str, Any]
) -> None:
    """The runbook's steps for the owner: ALTER ROLE on the local socket, patch the Secret."""
    old, new = secret_value(kube, "platform-db", "POSTGRES_PASSWORD"), secrets.token_hex(24)
    load = LoadGenerator(kube, "load-owner", IMAGES.old, "platform-api").start()
    wait_for(lambda: load.progress()["sent"] > 0, "load-owner to send requests", timeout=60)
    with TIMELINE.step("rotate the migration role: ALTER ROLE, Secret, helm upgrade") as step:
        started = time.monotonic()
        kube.run(
            "exec", "-i", POSTGRES, "-c", "postgres", "--",
            "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-U", "platform", "-d", "platform",
            stdin=f"ALTER ROLE platform PASSWORD '{new}';\n",
        )  # fmt: skip
        patch = json.dumps({"stringData": {"POSTGRES_PASSWORD": new}})
        kube.run("patch", "secret", "platform-db", "--type", "merge", "--patch-file", "/dev/stdin",
                 stdin=patch)  # fmt: skip
        # The next migration (the pre-upgrade hook) logs in with the new password.
        values.update(deep_merge(values, {"migration": {"runId": "owner-rotated"}}))
        helm.deploy("upgrade", "owner-rotated", values, "--wait", "--timeout", "5m")
        seconds = time.monotonic() - started
        result = load.stop()
        step.note = record("migration role rotation", result, seconds)
    assert result.failed == 0, result.errors
    assert helm.history()[-1]["status"] == "deployed"
    refusal = refused_over_tcp(kube, "platform", old)
    assert "password authentication failed" in refusal, refusal
    assert len(pods(kube, API)) == REPLICAS


def test_uninstall(kube: Kube, helm: Helm) -> None:
    with TIMELINE.step("upgrade: uninstall"):
        helm.run("uninstall", "platform", "--wait", "--timeout", "3m")
