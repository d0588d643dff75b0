"""StatefulSet pods get stable DNS names through their headless Service, and volumes."""

from __future__ import annotations

from tests.cluster.kube import Kube, eventually, http_server


def test_a_statefulset_pod_resolves_and_reaches_pod_0(kube: Kube) -> None:
    labels = {"app": "db"}
    headless = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "db"},
        "spec": {
            "clusterIP": "None",
            "selector": labels,
            "ports": [{"name": "http", "port": 8080}],
        },
    }
    server = http_server("I am $(hostname)") | {
        "volumeMounts": [{"name": "data", "mountPath": "/data"}]
    }
    statefulset = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "db"},
        "spec": {
            "serviceName": "db",
            "replicas": 2,
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [server], "terminationGracePeriodSeconds": 1},
            },
            # The default StorageClass provisions one volume per pod.
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "16Mi"}},
                    },
                }
            ],
        },
    }
    kube.apply(headless, statefulset)
    kube.run("rollout", "status", "statefulset/db", "--timeout=150s", timeout=180)

    # nslookup (busybox) ignores search domains: ask for the full name of pod-0's record.
    fqdn = f"db-0.db.{kube.namespace}.svc.cluster.local"
    resolved = eventually(lambda: kube.exec("db-1", "nslookup", fqdn))
    # The short name, as applications use it, through the resolver's search domains.
    answer = eventually(lambda: kube.http_get("db-1", "db-0.db", 8080))

    pod_ip = kube.get("pod", "db-0")["status"]["podIP"]
    assert pod_ip in resolved
    assert answer.strip() == "I am db-0"
    claims = kube.get("pvc")["items"]
    assert sorted(c["status"]["phase"] for c in claims) == ["Bound", "Bound"]
