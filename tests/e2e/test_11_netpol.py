"""The chart's NetworkPolicies, enforced (kube-router on every node): what they allow and block.

One install (Helm 3, job mode, --wait, two API replicas). Probe pods of the API image without
the platform's labels: one on PostgreSQL's node, one on another node, one in another namespace.
The matrix:

- PostgreSQL: no probe can open a connection to it (same node, other node, other namespace);
  the API can, and the migration Job and `helm test` (whose schema check logs in) completed.
- The API: a probe reaches its HTTP port; not another port on which the pod does listen (an
  ephemeral container serving 9000, which the pod itself reaches on its own address).
- Egress: the API cannot open a connection to a listener in its namespace that the probe can.
- DNS: resolves in the API and PostgreSQL pods (and the migration and test pods, which reach
  the database by its Service name).
- Negative control: the PostgreSQL policy deleted, the probe connects within seconds;
  re-created, it is refused again.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.cluster.kube import Kube, schedulable_nodes
from tests.e2e.chart import IMAGES, RELEASE, Helm, Obj, chart_values, helm_for
from tests.e2e.namespaces import namespace
from tests.e2e.nodes import node_of
from tests.e2e.pods import assert_final_state, wait_for
from tests.e2e.reach import connect, listener, probe_pod, resolve, until
from tests.e2e.timeline import TIMELINE

API = "app.kubernetes.io/instance=platform,app.kubernetes.io/component=api"
MIGRATION = "app.kubernetes.io/instance=platform,app.kubernetes.io/component=migration"
POSTGRES = "platform-postgres"
POSTGRES_POD = "platform-postgres-0"
OTHER_PORT = 9000
LISTENER_PORT = 8080


@dataclass(frozen=True)
class Install:
    helm: Helm
    kube: Kube
    other: Kube  # another namespace, with a probe of its own
    api_pods: list[str]
    postgres_ip: str
    postgres_node: str
    # probe pod -> its node
    probes: dict[str, str]


def _ip_of(kube: Kube, pod: str) -> str:
    return str(kube.get("pod", pod)["status"]["podIP"])


@pytest.fixture(scope="module")
def install(cluster: Kube, helm3: str, request: pytest.FixtureRequest) -> Iterator[Install]:
    namespaces = namespace(cluster, "netpol")
    kube = next(namespaces)
    others = namespace(cluster, "netpol-other")
    other = next(others)
    helm = helm_for(helm3, kube, "helm3")
    with TIMELINE.step("netpol: install (job mode, --wait), probes on and off PostgreSQL's node"):
        values = chart_values(IMAGES.old, {"migration": {"mode": "job"}})
        helm.deploy("install", "install", values, "--wait", "--timeout", "5m")
        state = assert_final_state(
            kube, api_selector=API, postgres_pod=POSTGRES_POD, job_selector=MIGRATION, replicas=2
        )
        node = node_of(kube.get("pod", POSTGRES_POD))
        assert node, f"{POSTGRES_POD} is not scheduled"
        nodes = schedulable_nodes(cluster)
        elsewhere = next(n for n in nodes if n != node)
        kube.apply(
            probe_pod("probe-near", node=node),
            probe_pod("probe-far", node=elsewhere),
            listener("bystander", LISTENER_PORT),
        )
        other.apply(probe_pod("probe-other"))
        for name in ("probe-near", "probe-far", "bystander"):
            kube.wait("condition=Ready", f"pod/{name}")
        other.wait("condition=Ready", "pod/probe-other")
    yield Install(
        helm,
        kube,
        other,
        state["api"],
        _ip_of(kube, POSTGRES_POD),
        node,
        {"probe-near": node, "probe-far": elsewhere},
    )
    helm.run("uninstall", RELEASE, "--wait", "--timeout", "3m")
    next(others, None)
    next(namespaces, None)


def test_no_unlabelled_pod_opens_a_connection_to_postgresql(install: Install) -> None:
    kube = install.kube
    fqdn = f"{POSTGRES}.{kube.namespace}.svc.cluster.local"
    with TIMELINE.step("netpol: unlabelled pods -> PostgreSQL (same node, other node, other ns)"):
        outcomes = {
            **{
                f"{probe} ({node}) via {target}": connect(kube, probe, target, 5432)
                for probe, node in install.probes.items()
                for target in (POSTGRES, install.postgres_ip)
            },
            "probe-other (other namespace)": connect(install.other, "probe-other", fqdn, 5432),
        }
        from_api = {
            pod: connect(kube, pod, POSTGRES, 5432, container="api") for pod in install.api_pods
        }
    TIMELINE.figure("netpol: unlabelled -> PostgreSQL", str(sorted(set(outcomes.values()))))

    assert set(outcomes.values()) == {"refused"}, outcomes
    assert set(from_api.values()) == {"open"}, from_api


def test_helm_test_and_the_migration_job_reach_the_database(install: Install) -> None:
    kube = install.kube
    helm = install.helm
    with TIMELINE.step("netpol: helm test (schema check logs in, then HTTP through the Service)"):
        out = helm.run("test", RELEASE, "--timeout", "3m")
    jobs = kube.get("jobs", "-l", MIGRATION)["items"]

    assert "Succeeded" in out, out
    assert jobs, "no migration Job"
    assert all(j["status"].get("succeeded") == 1 for j in jobs), [j["status"] for j in jobs]


def test_the_api_admits_its_http_port_only(install: Install) -> None:
    kube = install.kube
    api = install.api_pods[0]
    api_ip = _ip_of(kube, api)
    with TIMELINE.step(
        f"netpol: a listener on {OTHER_PORT} in an API pod, probes -> 8000/{OTHER_PORT}"
    ):
        kube.run(
            "debug", api, "--container=listen", f"--image={IMAGES.old}", "--profile=restricted",
            "--", "python", "-m", "http.server", str(OTHER_PORT), "--bind", "0.0.0.0",  # noqa: S104 (reachable from other pods, on purpose)
            "--directory", "/",
        )  # fmt: skip
        wait_for(lambda: _ephemeral_running(kube.get("pod", api), "listen"), "the listener")
        itself = wait_for(
            lambda: connect(kube, api, api_ip, OTHER_PORT, container="api") == "open" or None,
            f"the API pod reaching its own port {OTHER_PORT}",
            timeout=30,
        )
        http = {p: connect(kube, p, api_ip, 8000) for p in install.probes}
        other = {p: connect(kube, p, api_ip, OTHER_PORT) for p in install.probes}

    assert itself
    assert set(http.values()) == {"open"}, http
    assert set(other.values()) == {"refused"}, other


def test_the_api_cannot_reach_a_listener_it_has_no_business_with(install: Install) -> None:
    kube = install.kube
    bystander = _ip_of(kube, "bystander")
    with TIMELINE.step("netpol: API egress -> an unrelated listener; a probe -> the same"):
        from_probe = connect(kube, "probe-far", bystander, LISTENER_PORT)
        from_api = {
            pod: connect(kube, pod, bystander, LISTENER_PORT, container="api")
            for pod in install.api_pods
        }

    assert from_probe == "open"
    assert set(from_api.values()) <= {"refused", "timeout"}, from_api


def test_dns_resolves_in_every_platform_pod_that_runs(install: Install) -> None:
    kube = install.kube
    name = f"{POSTGRES}.{kube.namespace}.svc.cluster.local"
    service_ip = kube.get("service", POSTGRES)["spec"]["clusterIP"]
    answers = {pod: resolve(kube, pod, name, container="api") for pod in install.api_pods}
    database = kube.run(
        "exec",
        POSTGRES_POD,
        "-c",
        "postgres",
        "--",
        "getent",
        "hosts",
        "kubernetes.default.svc.cluster.local",
    )
    kubernetes_ip = install.kube.in_namespace("default").get("service", "kubernetes")["spec"][
        "clusterIP"
    ]

    assert all(addresses == [service_ip] for addresses in answers.values()), answers
    assert database.split()[0] == kubernetes_ip, database


def test_negative_control_the_policy_alone_blocks_postgresql(install: Install) -> None:
    kube = install.kube
    saved = _reusable(kube.get("networkpolicy", POSTGRES))
    target = install.postgres_ip
    with TIMELINE.step(
        "netpol: delete the PostgreSQL policy -> the probe connects; re-create -> refused"
    ):
        assert connect(kube, "probe-near", target, 5432) == "refused"
        deleted_at = time.monotonic()
        kube.run("delete", "networkpolicy", POSTGRES)
        opened = until(kube, "probe-near", target, 5432, outcome="open", what="the probe in")
        far_open = connect(kube, "probe-far", target, 5432)
        kube.apply(saved)
        closed = until(kube, "probe-near", target, 5432, outcome="refused", what="the probe out")
        far_closed = connect(kube, "probe-far", target, 5432)
        total = time.monotonic() - deleted_at
    TIMELINE.figure("netpol: policy deleted -> probe connects", f"{opened:.1f} s")
    TIMELINE.figure("netpol: policy re-created -> probe refused", f"{closed:.1f} s")

    assert opened <= 15, opened
    assert closed <= 15, closed
    assert (far_open, far_closed) == ("open", "refused")
    assert total < 60


def _reusable(obj: Obj) -> Obj:
    """The object as one would apply it again: no server-set fields."""
    metadata = {k: v for k, v in obj["metadata"].items() if k in ("name", "labels", "annotations")}
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "metadata": metadata,
        "spec": obj["spec"],
    }


def _ephemeral_running(pod: Obj, name: str) -> bool:
    statuses = pod.get("status", {}).get("ephemeralContainerStatuses", [])
    return any(s["name"] == name and "running" in s.get("state", {}) for s in statuses)
