"""The cluster's monitoring add-ons work: it serves the Prometheus Operator's monitor and rule
kinds (and validates objects against their schemas), and kube-state-metrics reports a Job of
this test, which only a working watch can show."""

from __future__ import annotations

import json
import os
import urllib.request

from tests.cluster.kube import Kube, eventually, job

# The harness's kube-state-metrics (cluster/config.py); another cluster's: set this.
KUBE_STATE_METRICS = os.environ.get("CLUSTER_KUBE_STATE_METRICS", "127.0.0.1:20245")


def test_the_monitor_and_rule_kinds_are_served(cluster: Kube) -> None:
    listed = cluster.run("api-resources", "--api-group=monitoring.coreos.com", "-o", "name")
    assert set(listed.split()) >= {
        "podmonitors.monitoring.coreos.com",
        "prometheusrules.monitoring.coreos.com",
        "servicemonitors.monitoring.coreos.com",
    }


def test_a_monitor_the_schema_refuses_is_refused(kube: Kube) -> None:
    monitor = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": "smoke"},
        "spec": {"selector": {}, "endpoints": [{"port": "http", "interval": "30s"}]},
    }
    accepted = kube.try_run("apply", "--dry-run=server", "-f", "-", stdin=json.dumps(monitor))
    assert accepted.returncode == 0, accepted.stderr
    monitor["spec"]["endpoints"][0]["interval"] = "every now and then"  # type: ignore[index]
    refused = kube.try_run("apply", "--dry-run=server", "-f", "-", stdin=json.dumps(monitor))
    assert refused.returncode != 0
    assert "interval" in refused.stderr, refused.stderr


def test_kube_state_metrics_reports_a_job_of_this_test(kube: Kube) -> None:
    kube.apply(job("smoke-ksm", "true"))
    kube.wait("condition=Complete", "job/smoke-ksm")
    labels = f'namespace="{kube.namespace}",job_name="smoke-ksm",condition="true"'
    series = f"kube_job_complete{{{labels}}} 1"

    def reported() -> None:
        url = f"http://{KUBE_STATE_METRICS}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            assert series in response.read().decode(), f"{series} not in {url}"

    eventually(reported, timeout=60)
