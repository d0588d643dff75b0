"""The raw manifests upgraded over an existing install: the baseline's `k8s_apply.py apply`
(its own manifests, its image), then this tree's `make k8s-apply` over it, under a read load.

The Secret `platform-db` of the baseline gains the API's login keys (its password is kept), the
token Secret is created, the migration Job makes the roles, and the API rolls onto its login.
PostgreSQL restarts once on this upgrade (its pod template changes: CHANGELOG); reads fail only
during that restart, with 503 or no endpoint, and succeed afterwards.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.cluster.kube import Kube
from tests.e2e.calls import api_call, api_token, database_logins, psql
from tests.e2e.chart import IMAGES, baseline_commit, baseline_tree, make
from tests.e2e.load import LoadGenerator, assert_one_restart_outage
from tests.e2e.namespaces import leftovers, namespace
from tests.e2e.pods import ready_api_pods, wait_for
from tests.e2e.timeline import TIMELINE

API = "app.kubernetes.io/name=platform,app.kubernetes.io/component=api"


@pytest.fixture(scope="module")
def raw(cluster: Kube) -> Iterator[Kube]:
    yield from namespace(cluster, "raw-upgrade")


def logins(kube: Kube) -> set[str]:
    return database_logins(kube, "postgres-0")


def test_raw_manifests_upgrade_over_the_baseline_under_load(raw: Kube) -> None:
    assert raw.namespace
    with TIMELINE.step(f"raw upgrade: the baseline {baseline_commit()}'s k8s_apply.py") as step:
        script = baseline_tree() / "tools" / "k8s_apply.py"
        env = os.environ | {
            "KUBECONFIG": raw.config, "K8S_NAMESPACE": raw.namespace, "K8S_TIMEOUT": "240",
            "API_IMAGE": IMAGES.baseline, "POSTGRES_IMAGE": IMAGES.postgres,
            "IMAGE_PULL_POLICY": IMAGES.pull_policy,
        }  # fmt: skip
        result = subprocess.run(
            [sys.executable, str(script), "apply"],
            env=env, capture_output=True, text=True, timeout=900, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        (pod,) = ready_api_pods(raw, API, 1)
        for n in range(10):
            status, _ = api_call(raw, pod["metadata"]["name"], "POST", "/api/v1/items",
                                 {"name": f"raw-baseline-{n}"})  # fmt: skip
            assert status == 201
        wait_for(lambda: logins(raw) == {"platform:true"}, "the baseline API's login")
        step.note = "10 items written without a token; the API logs in as platform:superuser"
    load = LoadGenerator(raw, "load-raw-upgrade", IMAGES.old, "platform-api", write_every=0)
    load.start()
    wait_for(lambda: load.progress()["sent"] > 0, "the read load to start", timeout=60)
    postgres_uid = raw.get("pod", "postgres-0")["metadata"]["uid"]
    with TIMELINE.step("raw upgrade: make k8s-apply of this tree over it, under a read load") as s:
        make("k8s-apply", raw)
        ready_api_pods(raw, API, 1, IMAGES.old)
        # Reads go on after the upgrade, so a recovery shows as successes after the last failure.
        sent = load.progress()["sent"]
        wait_for(lambda: load.progress()["sent"] > sent + 100, "reads after the upgrade")
        loaded = load.stop()
        s.note = loaded.summary()
    TIMELINE.figure("raw upgrade from the baseline (reads): sent/failed",
                    f"{loaded.sent}/{loaded.failed}")  # fmt: skip
    assert loaded.sent > 50, loaded.summary()
    # This release changes PostgreSQL's pod template once (POSTGRES_DB a literal, no version
    # label: CHANGELOG), so it restarts once on this upgrade and never again for a config change
    # or a release alone (tests/chart/test_k8s_apply.py). Reads fail only during that restart:
    # the API's bounded 503, or no endpoint once it outlasts the readiness window; never a 500.
    assert raw.get("pod", "postgres-0")["metadata"]["uid"] != postgres_uid
    assert_one_restart_outage(
        loaded, "raw upgrade from the baseline: reads failing while PostgreSQL restarts"
    )
    # The baseline's unhashed ConfigMap is pruned once nothing refers to it.
    assert raw.try_run("get", "configmap", "platform-config").returncode != 0
    with TIMELINE.step("raw upgrade: data intact, API on platform_app_a, writes need the token"):
        count = psql(
            raw, "postgres-0", "SELECT count(*) FROM items WHERE name LIKE 'raw-baseline-%'"
        )
        assert count == "10"
        wait_for(lambda: logins(raw) == {"platform_app_a:false"}, "the API's own login")
        (pod,) = ready_api_pods(raw, API, 1)
        name = pod["metadata"]["name"]
        assert api_call(raw, name, "POST", "/api/v1/items", {"name": "x"})[0] == 401
        token = api_token(raw)
        assert api_call(raw, name, "POST", "/api/v1/items", {"name": "x"}, token=token)[0] == 201
    with TIMELINE.step("raw upgrade: make k8s-delete"):
        make("k8s-delete", raw)
        wait_for(lambda: leftovers(raw) == [], "an empty namespace", timeout=120)
