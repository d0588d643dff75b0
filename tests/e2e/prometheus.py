"""A real Prometheus for the monitoring drills: 3.16, built from its module by `make cluster-up`
(`.cluster/bin/prometheus`; Debian's 2.42 has no Kubernetes service discovery), run on the host,
scraping the cluster the way the Prometheus Operator would scrape it.

The scrape job is derived from a PodMonitor read back from the cluster, with the relabelling the
operator generates for one (the parts this chart's monitor uses: `matchLabels`, a named port, a
path, `relabelings` that set a label); the rules are a PrometheusRule's groups, as the operator
hands them to its Prometheus. The host reaches pod addresses on every node of the test cluster
(its routes, cluster/network.py), so no port-forward stands between Prometheus and its targets.
"""

from __future__ import annotations

import json
import re
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]  # pyyaml ships no stubs
from localpg import free_port

from tests.e2e.chart import ROOT, Obj
from tests.e2e.pods import wait_for

BINARY = ROOT / ".cluster" / "bin" / "prometheus"


def _label_name(key: str) -> str:
    """A Kubernetes label key as Prometheus's service discovery spells it in meta labels."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", key)


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def pod_monitor_job(monitor: Obj, kubeconfig: str) -> Obj:
    """The scrape config the operator generates for `monitor`'s first endpoint."""
    namespace, name = monitor["metadata"]["namespace"], monitor["metadata"]["name"]
    endpoint = monitor["spec"]["podMetricsEndpoints"][0]
    relabel: list[Obj] = [
        # Completed and failed pods keep their IPs in discovery; the operator drops them.
        {"action": "drop", "source_labels": ["__meta_kubernetes_pod_phase"],
         "regex": "(Failed|Succeeded)"},
    ]  # fmt: skip
    for key, value in sorted(monitor["spec"]["selector"]["matchLabels"].items()):
        label = _label_name(key)
        relabel.append({
            "action": "keep",
            "source_labels": [f"__meta_kubernetes_pod_label_{label}",
                              f"__meta_kubernetes_pod_labelpresent_{label}"],
            "regex": f"({re.escape(value)});true",
        })  # fmt: skip
    relabel += [
        {"action": "keep", "source_labels": ["__meta_kubernetes_pod_container_port_name"],
         "regex": endpoint["port"]},
        {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
        {"source_labels": ["__meta_kubernetes_pod_container_name"], "target_label": "container"},
        {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
        {"target_label": "job", "replacement": f"{namespace}/{name}"},
        {"target_label": "endpoint", "replacement": endpoint["port"]},
    ]  # fmt: skip
    relabel += [{_snake(k): v for k, v in rule.items()} for rule in endpoint.get("relabelings", [])]
    return {
        "job_name": f"podMonitor/{namespace}/{name}/0",
        "scrape_interval": endpoint["interval"],
        "scrape_timeout": endpoint["scrapeTimeout"],
        "metrics_path": endpoint["path"],
        "kubernetes_sd_configs": [
            {"role": "pod", "kubeconfig_file": kubeconfig, "namespaces": {"names": [namespace]}}
        ],
        "relabel_configs": relabel,
    }


@dataclass(frozen=True)
class Prometheus:
    """A running server's HTTP API."""

    url: str
    interval: float  # its global scrape and evaluation interval, seconds

    def api(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=10) as response:  # noqa: S310 (our own server)
            document = json.load(response)
        assert document["status"] == "success", document
        return document["data"]

    def query(self, expr: str) -> list[Obj]:
        data = self.api("/api/v1/query", query=expr)
        result: list[Obj] = data["result"]
        return result

    def targets(self, scrape_job: str) -> list[Obj]:
        """The active targets of one scrape job (its `job_name`, whatever relabelling made of
        their `job` label)."""
        active: list[Obj] = self.api("/api/v1/targets", state="active")["activeTargets"]
        return [t for t in active if t["scrapePool"] == scrape_job]

    def alerts(self, name: str, namespace: str) -> list[Obj]:
        """Pending and firing alerts called `name` for `namespace`."""
        found: list[Obj] = self.api("/api/v1/alerts")["alerts"]
        return [
            a
            for a in found
            if a["labels"].get("alertname") == name and a["labels"].get("namespace") == namespace
        ]


@contextmanager
def prometheus(
    workdir: Path, scrape_configs: list[Obj], rule_groups: list[Obj], interval: str = "5s"
) -> Iterator[Prometheus]:
    """Start Prometheus with these jobs and rules; stop it (and keep its log) afterwards."""
    if not BINARY.exists():
        raise RuntimeError(f"{BINARY} is missing: run `make cluster-build`")
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "rules.yaml").write_text(yaml.safe_dump({"groups": rule_groups}, sort_keys=False))
    config = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(workdir / "rules.yaml")],
        "scrape_configs": scrape_configs,
    }
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    port = free_port()
    argv = [
        str(BINARY),
        f"--config.file={workdir / 'prometheus.yml'}",
        f"--storage.tsdb.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    with (workdir / "prometheus.log").open("w") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    server = Prometheus(f"http://127.0.0.1:{port}", float(interval.rstrip("s")))

    def ready() -> bool:
        if process.poll() is not None:  # a config it refuses: fail now, with its reason
            log_text = (workdir / "prometheus.log").read_text()[-2000:]
            raise RuntimeError(f"Prometheus exited:\n{log_text}")
        try:
            with urllib.request.urlopen(f"{server.url}/-/ready", timeout=2):  # noqa: S310
                return True
        except OSError:
            return False

    try:
        wait_for(ready, "Prometheus ready", timeout=30, interval=0.5)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
