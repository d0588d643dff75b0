"""Step 1: the raw manifests, `make k8s-apply` and `make k8s-delete`, in a restricted namespace."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.cluster.kube import Kube, port_forward
from tests.e2e.backups import run_backup
from tests.e2e.calls import api_token
from tests.e2e.chart import IMAGES, make
from tests.e2e.namespaces import leftovers, namespace
from tests.e2e.pods import assert_final_state, wait_for
from tests.e2e.security import check_security
from tests.e2e.timeline import TIMELINE

API = "app.kubernetes.io/name=platform,app.kubernetes.io/component=api"
MIGRATION = "app.kubernetes.io/name=platform,app.kubernetes.io/component=migration"


@pytest.fixture(scope="module")
def raw(cluster: Kube) -> Iterator[Kube]:
    yield from namespace(cluster, "raw")


def test_k8s_apply_reaches_the_seed_final_state(raw: Kube) -> None:
    with TIMELINE.step("raw: make k8s-apply (DB Ready -> migration Job -> API rollout)") as step:
        make("k8s-apply", raw)
    TIMELINE.figure("raw: make k8s-apply", f"{step.seconds:.1f} s")
    with TIMELINE.step("raw: final state (platform-api Ready, postgres-0, Job Complete)") as step:
        deployment = raw.get("deployment", "platform-api")
        state = assert_final_state(
            raw,
            api_selector=API,
            postgres_pod="postgres-0",
            job_selector=MIGRATION,
            replicas=deployment["spec"]["replicas"],
        )
        assert all(name.startswith("platform-api-") for name in state["api"]), state
        assert [j.startswith("postgres-migration-") for j in state["jobs"]] == [True], state
        # k8s-apply re-applies the Namespace object: enforcement must still be in place.
        labels = raw.get("namespace", str(raw.namespace))["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
        step.note = f"{', '.join(state['api'])}; {state['jobs'][0]}"


def test_service_serves_through_port_forward(raw: Kube) -> None:
    with (
        TIMELINE.step(
            "raw: port-forward svc/platform-api: /, /health, /db-check, items (401, then token)"
        ) as step,
        port_forward(raw, "svc/platform-api", 80) as base,
        httpx.Client(base_url=base, timeout=10) as client,
    ):
        for path in ("/", "/health", "/db-check"):
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code, response.text)
        assert client.get("/").json()["version"] == IMAGES.old.rpartition(":")[2]
        name = f"raw-{uuid.uuid4().hex[:8]}"
        item = {"name": name, "description": "e2e"}
        assert client.post("/api/v1/items", json=item).status_code == 401
        headers = {"Authorization": f"Bearer {api_token(raw)}"}
        created = client.post("/api/v1/items", json=item, headers=headers)
        assert created.status_code == 201, created.text
        item = created.json()
        read = client.get(f"/api/v1/items/{item['id']}")
        assert read.status_code == 200, read.text
        assert read.json()["name"] == name
        listed = client.get("/api/v1/items", params={"limit": 100}).json()
        assert name in str(listed)
        step.note = f"item {item['id']} created and read back"


def test_security(raw: Kube) -> None:
    with TIMELINE.step("raw: security (restricted, non-root, read-only, no secret leaks)") as step:
        api = raw.get("pods", "-l", API)["items"][0]["metadata"]["name"]
        step.note = check_security(raw, api, "postgres-0")


def test_the_documented_on_demand_backup_lands_on_its_claim(raw: Kube) -> None:
    with TIMELINE.step("raw: on-demand backup (create job --from=cronjob/platform-backup)") as step:
        uploaded = run_backup(raw, "backup-now")
        assert uploaded["size_bytes"] > 0, uploaded
        step.note = f"dump {uploaded['size_bytes']} B on the claim platform-backup"


def test_k8s_delete_removes_everything(raw: Kube) -> None:
    with TIMELINE.step("raw: make k8s-delete") as step:
        make("k8s-delete", raw)
        # Pods of the deleted workloads may still be draining (preStop sleep, then SIGTERM).
        wait_for(lambda: leftovers(raw) == [], "an empty namespace", timeout=120)
        step.note = "nothing left in the namespace"
