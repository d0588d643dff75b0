"""A Deployment behind a ClusterIP Service answers through the Service's DNS name."""

from __future__ import annotations

from tests.cluster.kube import Kube, eventually, http_server, sleeper


def test_a_pod_reaches_a_deployment_through_its_service_name(kube: Kube) -> None:
    labels = {"app": "web"}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [http_server("hello from $(hostname)")],
                    "terminationGracePeriodSeconds": 1,
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {
            "type": "ClusterIP",
            "selector": labels,
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
        },
    }
    kube.apply(deployment, service, sleeper("client"))
    kube.run("rollout", "status", "deployment/web", "--timeout=120s", timeout=150)
    kube.wait("condition=Ready", "pod/client")

    answer = eventually(lambda: kube.http_get("client", "web", 80))

    assert answer.startswith("hello from web-")
    cluster_ip = kube.get("service", "web")["spec"]["clusterIP"]
    assert cluster_ip.count(".") == 3, "the Service has no ClusterIP"
