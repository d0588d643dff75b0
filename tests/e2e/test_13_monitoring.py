"""Monitoring against a real Prometheus: the chart's monitors and rules on a cluster that serves
the Prometheus Operator's CRDs, with kube-state-metrics, and an alert that fires and resolves.

One install (Helm 3, job mode, --wait, two API replicas, a PodMonitor besides the ServiceMonitor,
both at a 5 s interval). The apiserver validates the monitors and the rule against the
operator's schemas when Helm creates them (an invalid PodMonitor is refused: the control).
Prometheus 3.16 on the host scrapes the API pods with the PodMonitor's relabelling, and
kube-state-metrics (the harness runs it on the host's loopback), and evaluates the
PrometheusRule's groups as deployed:

- one `up` target per API pod, all up, and no platform alert pending or firing;
- kube-state-metrics' series for the migration Job match what the migration alert selects;
- PostgreSQL scaled to 0: PlatformDatabaseUnavailable fires no sooner than its `for:`, and
  within `for:` + two scrape intervals of the first 0 sample; scaled back, it resolves;
- every query of the dashboard returns data.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial

import pytest

from tests.cluster.kube import Kube
from tests.e2e.chart import BUILD, CHART, IMAGES, RELEASE, Obj, chart_values, helm_for
from tests.e2e.namespaces import namespace
from tests.e2e.pods import assert_final_state, is_ready, ready_api_pods, wait_for
from tests.e2e.prometheus import Prometheus, pod_monitor_job, prometheus
from tests.e2e.timeline import TIMELINE

API = "app.kubernetes.io/instance=platform,app.kubernetes.io/component=api"
MIGRATION = "app.kubernetes.io/instance=platform,app.kubernetes.io/component=migration"
POSTGRES = "platform-postgres"
POSTGRES_POD = "platform-postgres-0"
JOB = "platform-api"  # the API Service's name: the job label every rule selects
INTERVAL = 5.0
# The harness's kube-state-metrics (cluster/config.py); another cluster's: set this.
KUBE_STATE_METRICS = os.environ.get("E2E_KUBE_STATE_METRICS", "127.0.0.1:20245")
DATABASE_ALERT = "PlatformDatabaseUnavailable"


@dataclass(frozen=True)
class Monitored:
    kube: Kube
    prometheus: Prometheus
    api_ips: list[str]
    database_for: float  # the alert's `for:`, seconds


def _seconds(duration: str) -> float:
    match = re.fullmatch(r"(\d+)([smh])", duration)
    assert match, duration
    return float(match[1]) * {"s": 1, "m": 60, "h": 3600}[match[2]]


def _when(condition: Callable[[], object]) -> Callable[[], float | None]:
    """A probe for wait_for: the moment `condition` first holds."""
    return lambda: time.monotonic() if condition() else None


def _requests(ips: list[str], count: int) -> None:
    """API reads straight from the host (it routes to every pod), for the latency panels."""
    for i in range(count):
        url = f"http://{ips[i % len(ips)]}:8000/api/v1/items?limit=5"
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.status == 200


@pytest.fixture(scope="module")
def monitored(cluster: Kube, helm3: str) -> Iterator[Monitored]:
    namespaces = namespace(cluster, "monitoring")
    kube = next(namespaces)
    helm = helm_for(helm3, kube, "helm3")
    every = {"interval": f"{INTERVAL:.0f}s", "scrapeTimeout": "4s"}
    values = chart_values(IMAGES.old, {
        "migration": {"mode": "job"},
        "metrics": {"podMonitor": {"enabled": True, **every}, "serviceMonitor": every},
    })  # fmt: skip
    with TIMELINE.step("monitoring: install (job mode, --wait) with a PodMonitor") as step:
        helm.deploy("install", "install", values, "--wait", "--timeout", "5m")
        state = assert_final_state(
            kube, api_selector=API, postgres_pod=POSTGRES_POD, job_selector=MIGRATION, replicas=2
        )
        step.note = f"{len(state['api'])} API pods"
    monitor = kube.get("podmonitor", JOB)
    rule = kube.get("prometheusrule", RELEASE)
    alert = next(
        r for g in rule["spec"]["groups"] for r in g["rules"] if r.get("alert") == DATABASE_ALERT
    )
    jobs = [
        pod_monitor_job(monitor, kube.config),
        {"job_name": "kube-state-metrics", "static_configs": [{"targets": [KUBE_STATE_METRICS]}]},
    ]
    workdir = BUILD / f"prometheus-{kube.namespace}"
    try:
        with prometheus(workdir, jobs, rule["spec"]["groups"], f"{INTERVAL:.0f}s") as server:
            api_ips = [p["status"]["podIP"] for p in ready_api_pods(kube, API, 2)]
            yield Monitored(kube, server, api_ips, _seconds(alert["for"]))
    finally:  # also when Prometheus does not start: no release or namespace left behind
        helm.run("uninstall", RELEASE, "--wait", "--timeout", "3m")
        next(namespaces, None)


def test_the_operator_schemas_validate_what_the_chart_renders(monitored: Monitored) -> None:
    kube = monitored.kube
    for kind, name in (("servicemonitor", JOB), ("podmonitor", JOB), ("prometheusrule", RELEASE)):
        assert kube.get(kind, name)["metadata"]["name"] == name, (kind, name)
    # The control: the same PodMonitor with a scheme the schema does not allow is refused.
    broken = kube.get("podmonitor", JOB)
    for key in ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields"):
        broken["metadata"].pop(key, None)
    broken["metadata"]["name"] = "broken"
    broken["spec"]["podMetricsEndpoints"][0]["scheme"] = "gopher"
    result = kube.try_run("apply", "--dry-run=server", "-f", "-", stdin=json.dumps(broken))
    assert result.returncode != 0, result.stdout
    assert "scheme" in result.stderr, result.stderr
    TIMELINE.figure("monitoring: invalid PodMonitor refused", result.stderr.strip()[:160])


def test_one_up_target_per_api_pod_and_no_alert(monitored: Monitored) -> None:
    server, job = monitored.prometheus, f"podMonitor/{monitored.kube.namespace}/{JOB}/0"

    def healthy() -> list[Obj] | None:
        targets = server.targets(job)
        return targets if len(targets) == 2 and all(t["health"] == "up" for t in targets) else None

    def up_twice() -> list[Obj] | None:
        series = server.query(f'up{{job="{JOB}"}} == 1')
        return series if len(series) == 2 else None

    with TIMELINE.step("monitoring: every API pod is an `up` target") as step:
        started = time.monotonic()
        targets = wait_for(healthy, "two healthy API targets", timeout=60)
        assert sorted(t["labels"]["pod"] for t in targets) == sorted(
            p["metadata"]["name"] for p in ready_api_pods(monitored.kube, API, 2)
        )
        assert {t["labels"]["job"] for t in targets} == {JOB}
        # After relabelling, the series carry job=<Service name>: what the rules select.
        up = wait_for(up_twice, "up == 1 for both")
        assert {s["metric"]["namespace"] for s in up} == {monitored.kube.namespace}
        step.note = f"2 targets up after {time.monotonic() - started:.1f} s"
    ksm = wait_for(
        lambda: server.targets("kube-state-metrics")[0]["health"] == "up", "kube-state-metrics up"
    )
    assert ksm
    firing = [a for a in server.api("/api/v1/alerts")["alerts"]
              if a["labels"].get("namespace") == monitored.kube.namespace]  # fmt: skip
    assert firing == [], firing


def test_kube_state_metrics_series_match_the_migration_alert(monitored: Monitored) -> None:
    server, namespace_ = monitored.prometheus, monitored.kube.namespace or ""
    complete = wait_for(
        lambda: server.query(
            f'kube_job_complete{{namespace="{namespace_}",condition="true",'
            f'job_name=~"{RELEASE}-migration.*"}} == 1'
        ),
        "the migration Job's kube_job_complete",
        timeout=60,
    )
    assert len(complete) >= 1, complete
    # The series PlatformMigrationFailed reads: present for this Job, not failed; the alert quiet.
    failed = server.query(
        f'kube_job_failed{{namespace="{namespace_}",job_name=~"{RELEASE}-migration.*"}}'
    )
    assert all(float(s["value"][1]) == 0 for s in failed if s["metric"]["condition"] == "true")
    assert server.alerts("PlatformMigrationFailed", namespace_) == []


def test_database_unavailable_fires_after_its_for_and_resolves(monitored: Monitored) -> None:
    kube, server = monitored.kube, monitored.prometheus
    namespace_, hold = kube.namespace or "", monitored.database_for
    ready = f'max by (namespace) (platform_db_ready{{job="{JOB}",namespace="{namespace_}"}})'
    wait_for(lambda: server.query(f"{ready} == 1"), "platform_db_ready 1 before the drill")
    with TIMELINE.step(f"monitoring: PostgreSQL scaled to 0 -> {DATABASE_ALERT}") as step:
        down = time.monotonic()
        kube.run("scale", f"statefulset/{POSTGRES}", "--replicas=0")
        zero_seen = wait_for(
            _when(lambda: server.query(f"{ready} == 0")), "the gauge at 0", timeout=120,
            interval=0.5,
        )  # fmt: skip
        pending = wait_for(
            _when(lambda: server.alerts(DATABASE_ALERT, namespace_)), "the alert pending",
            timeout=60, interval=0.5,
        )  # fmt: skip
        firing = wait_for(
            _when(lambda: any(a["state"] == "firing"
                              for a in server.alerts(DATABASE_ALERT, namespace_))),
            "the alert firing", timeout=hold + 120, interval=0.5,
        )  # fmt: skip
        step.note = (
            f"gauge 0 seen after {zero_seen - down:.1f} s, pending {pending - down:.1f} s, "
            f"firing {firing - down:.1f} s (for: {hold:.0f} s)"
        )
    TIMELINE.figure(
        "monitoring: scale-down -> gauge 0, pending, firing (s)",
        f"{zero_seen - down:.1f}, {pending - down:.1f}, {firing - down:.1f}",
    )
    # Not before its `for:`: the condition has to hold that long.
    assert firing - down >= hold, step.note
    # And no later than `for:` plus two scrape intervals after the condition was first visible.
    assert firing - zero_seen <= hold + 2 * INTERVAL + 1, step.note
    with TIMELINE.step(f"monitoring: PostgreSQL back -> {DATABASE_ALERT} resolves") as step:
        up = time.monotonic()
        kube.run("scale", f"statefulset/{POSTGRES}", "--replicas=1")
        wait_for(lambda: is_ready(kube.get("pod", POSTGRES_POD)), "PostgreSQL Ready", timeout=180)
        back = time.monotonic()
        wait_for(lambda: server.alerts(DATABASE_ALERT, namespace_) == [], "the alert resolved",
                 timeout=120, interval=0.5)  # fmt: skip
        resolved = time.monotonic()
        step.note = f"PostgreSQL Ready after {back - up:.1f} s, resolved {resolved - up:.1f} s"
    TIMELINE.figure("monitoring: scale-up -> PostgreSQL Ready, resolved (s)",
                    f"{back - up:.1f}, {resolved - up:.1f}")  # fmt: skip
    # Resolved once the pods' next check and the next scrape and evaluation see the database.
    assert resolved - back <= 60, step.note
    ready_api_pods(kube, API, 2)


def test_every_dashboard_query_returns_data(monitored: Monitored) -> None:
    server, namespace_ = monitored.prometheus, monitored.kube.namespace or ""
    dashboard = json.loads((CHART / "files" / "dashboard.json").read_text())
    substitutions = {"$namespace": namespace_ or "", "$job": JOB, "$__rate_interval": "5m"}
    queries = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for variable, value in substitutions.items():
                expr = expr.replace(variable, value)
            queries.append((panel["title"], expr))
    # A series' first sample shows no increase: read, let Prometheus scrape the new series, read
    # again, so the latency panels' rate() has something to work on.
    routes = 'route!~"/health|/db-check|/metrics"'
    items = f'http_requests_total{{namespace="{namespace_}",job="{JOB}",{routes}}}'
    _requests(monitored.api_ips, 10)
    wait_for(lambda: len(server.query(items)) >= 2, "the API routes' series on both pods")
    _requests(monitored.api_ips, 20)

    def answered(expr: str) -> list[Obj] | None:
        result = server.query(expr)
        # Data: a series with a number (a quantile over no requests would be NaN).
        return [s for s in result if not math.isnan(float(s["value"][1]))] or None

    with TIMELINE.step(f"monitoring: the dashboard's {len(queries)} queries return data") as step:
        started = time.monotonic()
        for title, expr in queries:
            wait_for(partial(answered, expr), f"data for {title!r}: {expr}", timeout=60)
        step.note = f"all answered after {time.monotonic() - started:.1f} s"
