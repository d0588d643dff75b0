"""Monitoring: monitors only where the operator's API exists, rules that fire when they should.

The alert rules are rendered from the chart and checked with the real promtool (Prometheus 2.42,
pinned by `make tools-monitoring`): `promtool check rules` for syntax, and `promtool test rules`
with series fixtures for behaviour. Each alert gets a case where it must fire and one where a
condition shorter than its `for:` (or a near miss) must not.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # pyyaml ships no stubs

from tests.chart.helm import BIN, CHART, ROOT, find, kinds, render, render_text
from tests.e2e.chart import deep_merge

RAW_RULES = ROOT / "k8s" / "monitoring" / "platform-alerts.yaml"
MONITORING_KINDS = ("ServiceMonitor", "PodMonitor", "PrometheusRule")
OPERATOR_APIS = tuple(f"monitoring.coreos.com/v1/{kind}" for kind in MONITORING_KINDS)
FORCED = {
    "metrics": {
        "serviceMonitor": {"force": True},
        "podMonitor": {"enabled": True, "force": True},
        "prometheusRule": {"force": True},
    }
}
# The backup rules render only with backups on (the default pvc target needs nothing else).
WITH_BACKUP = deep_merge(FORCED, {"backup": {"enabled": True}})
JOB = 'job="platform-api"'


def promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    path = BIN / "promtool"
    if not path.exists():
        raise RuntimeError(f"{path} is missing: run `make tools-monitoring`")
    return subprocess.run(
        [str(path), *args], capture_output=True, text=True, cwd=cwd, check=False, timeout=60
    )


def rule_groups(values: dict[str, Any] = FORCED) -> list[dict[str, Any]]:
    rule = find(render(values), "PrometheusRule")
    groups: list[dict[str, Any]] = rule["spec"]["groups"]
    return groups


def rules_by_name() -> dict[str, dict[str, Any]]:
    """Every alert the chart can render: backups on."""
    return {rule["alert"]: rule for group in rule_groups(WITH_BACKUP) for rule in group["rules"]}


# --------------------------------------------------------------------------------------------
# what is rendered when


def test_no_operator_objects_without_the_operator_api() -> None:
    rendered = kinds(render())
    assert not set(MONITORING_KINDS) & set(rendered)
    assert "ConfigMap" in rendered


def test_monitors_and_rules_render_when_the_cluster_serves_the_api() -> None:
    args = tuple(arg for api in OPERATOR_APIS for arg in ("--api-versions", api))
    rendered = yaml.safe_load_all(render_text(extra_args=args))
    present = {doc["kind"] for doc in rendered if doc}
    assert {"ServiceMonitor", "PrometheusRule"} <= present
    assert "PodMonitor" not in present, "the PodMonitor is opt-in: both would scrape twice"


def test_force_renders_them_without_detection() -> None:
    assert set(MONITORING_KINDS) <= set(kinds(render(FORCED)))


def test_monitors_select_the_api_pods_and_scrape_the_http_port() -> None:
    docs = render(FORCED)
    deployment = find(docs, "Deployment", "platform-api")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    service = find(docs, "ServiceMonitor")
    pod = find(docs, "PodMonitor")
    for monitor in (service, pod):
        selector = monitor["spec"]["selector"]["matchLabels"]
        assert selector.items() <= pod_labels.items()
    assert service["spec"]["endpoints"][0]["port"] == "http"
    assert pod["spec"]["podMetricsEndpoints"][0]["port"] == "http"
    relabel = pod["spec"]["podMetricsEndpoints"][0]["relabelings"][0]
    assert relabel == {"targetLabel": "job", "replacement": "platform-api"}


def test_scrape_annotations_are_opt_in() -> None:
    def annotations(values: dict[str, Any] | None = None) -> dict[str, str]:
        deployment = find(render(values), "Deployment", "platform-api")
        found: dict[str, str] = deployment["spec"]["template"]["metadata"]["annotations"]
        return found

    assert "prometheus.io/scrape" not in annotations()
    enabled = annotations({"metrics": {"scrapeAnnotations": True}})
    assert enabled["prometheus.io/scrape"] == "true"
    assert enabled["prometheus.io/port"] == "8000"


def test_the_dashboard_configmap_carries_the_sidecar_label_and_valid_json() -> None:
    configmap = find(render(), "ConfigMap", "platform-dashboard")
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(configmap["data"]["platform-api.json"])
    assert dashboard["uid"] == "platform-api"
    assert "ConfigMap" not in {
        doc["kind"]
        for doc in render({"metrics": {"dashboard": {"enabled": False}}})
        if doc["metadata"]["name"].endswith("dashboard")
    }


def test_the_raw_rule_file_is_what_the_chart_renders() -> None:
    committed = yaml.safe_load(RAW_RULES.read_text())
    assert committed == {"groups": rule_groups()}, "run `make monitoring-rules`"


def test_the_backup_rules_render_only_with_backups_enabled() -> None:
    assert "platform-backup" not in {group["name"] for group in rule_groups()}
    (backup,) = [group for group in rule_groups(WITH_BACKUP) if group["name"] == "platform-backup"]
    assert [rule["alert"] for rule in backup["rules"]] == [
        "PlatformBackupFailed",
        "PlatformBackupTooOld",
    ]


def test_the_backup_max_age_is_a_value() -> None:
    values = deep_merge(
        WITH_BACKUP, {"metrics": {"prometheusRule": {"alerts": {"backupMaxAgeSeconds": 7200}}}}
    )
    (backup,) = [group for group in rule_groups(values) if group["name"] == "platform-backup"]
    too_old = backup["rules"][1]["expr"]
    assert too_old.count("> 7200") == 2, too_old


# --------------------------------------------------------------------------------------------
# promtool check rules


def test_promtool_accepts_the_rules(tmp_path: Path) -> None:
    """The raw file (backups off: 7 rules) and the chart's rules with backups on (9)."""
    for source, count in ((RAW_RULES, 7), (_write_rules(tmp_path), 9)):
        result = promtool("check", "rules", str(source))
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"SUCCESS: {count} rules found" in result.stdout, result.stdout


def test_every_dashboard_query_parses(tmp_path: Path) -> None:
    """Each panel's expression, with the dashboard variables filled in, as a recording rule."""
    dashboard = json.loads((CHART / "files" / "dashboard.json").read_text())
    variables = {"$namespace": "ns", "$job": "platform-api", "$__rate_interval": "1m"}
    records = []
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            expr = target["expr"]
            for name, value in variables.items():
                expr = expr.replace(name, value)
            assert "$" not in expr, f"unknown variable in {target['expr']}"
            record = f"dashboard:panel_{panel['id']}_{target['refId']}"
            records.append({"record": record, "expr": expr})
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": records}]}))
    result = promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(records) >= 8


# --------------------------------------------------------------------------------------------
# promtool test rules


@dataclass
class Case:
    """Series over time; at each eval time, the labels of the alerts that must be firing."""

    alert: str
    series: dict[str, str]
    expect: dict[str, list[dict[str, str]]] = field(default_factory=dict)


NS = {"namespace": "ns"}
PODS = ('pod="p1"', 'pod="p2"')


NS_LABEL = 'namespace="ns"'
BUCKET = "http_request_duration_seconds_bucket"
ITEMS = 'route="/api/v1/items"'
MIGRATION_JOB = "platform-migration-0123456789"


def _s(name: str, *labels: str) -> str:
    """A series of the API's job in namespace ns."""
    return name + "{" + ",".join((JOB, NS_LABEL, *labels)) + "}"


def _job_failed(condition: str, job: str) -> str:
    """kube-state-metrics' series for one Job's Failed condition."""
    return f'kube_job_failed{{condition="{condition}",job_name="{job}",{NS_LABEL}}}'


KSM = 'job="kube-state-metrics"'
BACKUP_CRONJOB = 'cronjob="platform-backup"'
BACKUP_RUNS = ("platform-backup-29000001", "platform-backup-29000002")
HOUR = 3600


def _ksm(name: str, *labels: str) -> str:
    """A kube-state-metrics series in namespace ns (its own `job` label, as scraped)."""
    return name + "{" + ",".join((KSM, NS_LABEL, *labels)) + "}"


def _run(job: str, start: int, failed: str, owner: str = "platform-backup") -> dict[str, str]:
    """One Job a CronJob owns: its owner, its start time (unix s) and its Failed=True condition."""
    name = f'job_name="{job}"'
    owned = ('owner_kind="CronJob"', f'owner_name="{owner}"', 'owner_is_controller="true"')
    return {
        _ksm("kube_job_owner", name, *owned): "1x80",
        _ksm("kube_job_status_start_time", name): f"{start}x80",
        _ksm("kube_job_failed", name, 'condition="true"'): failed,
    }


def _backup_cronjob(created: str, last_success: str | None) -> dict[str, str]:
    """The backup CronJob's creation time and, once a run succeeded, its last success (unix s)."""
    series = {_ksm("kube_cronjob_created", BACKUP_CRONJOB): created}
    if last_success is not None:
        series[_ksm("kube_cronjob_status_last_successful_time", BACKUP_CRONJOB)] = last_success
    return series


CASES = {
    "api down 3 min fires": Case(
        "PlatformApiDown",
        {_s("up", PODS[0]): "1 0x20", _s("up", PODS[1]): "1 0x20"},
        {"1m": [], "3m": [NS]},
    ),
    "api down 75 s does not": Case(
        "PlatformApiDown",
        {_s("up", PODS[0]): "1 0x4 1x20"},
        {"1m": [], "2m": [], "4m": []},
    ),
    "one of two api pods down does not": Case(
        "PlatformApiDown",
        {_s("up", PODS[0]): "1 0x20", _s("up", PODS[1]): "1x20"},
        {"3m": []},
    ),
    "no api target fires absent": Case(
        "PlatformApiAbsent",
        {'up{job="something-else",namespace="ns"}': "1x20"},
        {"3m": [{"job": "platform-api"}]},
    ),
    "api target present: absent stays quiet": Case(
        "PlatformApiAbsent", {_s("up", PODS[0]): "1x20"}, {"3m": []}
    ),
    "database down everywhere 2 min fires": Case(
        "PlatformDatabaseUnavailable",
        {_s("platform_db_ready", PODS[0]): "1 0x10", _s("platform_db_ready", PODS[1]): "1 0x10"},
        {"30s": [], "2m": [NS]},
    ),
    "database blip of 30 s does not": Case(
        "PlatformDatabaseUnavailable",
        {
            _s("platform_db_ready", PODS[0]): "1 0 0 1x10",
            _s("platform_db_ready", PODS[1]): "1 0 0 1x10",
        },
        {"30s": [], "1m": [], "2m": []},
    ),
    "one pod's verdict 0 does not": Case(
        "PlatformDatabaseUnavailable",
        {_s("platform_db_ready", PODS[0]): "0x10", _s("platform_db_ready", PODS[1]): "1x10"},
        {"2m": []},
    ),
    "9 % errors for 10 min fires": Case(
        "PlatformHighErrorRatio",
        {
            _s("http_requests_total", PODS[0], 'status="200"'): "0+100x60",
            _s("http_requests_total", PODS[0], 'status="503"'): "0+10x60",
        },
        {"2m": [], "10m": [NS]},
    ),
    "a 1 min burst of errors does not": Case(
        "PlatformHighErrorRatio",
        {
            _s("http_requests_total", PODS[0], 'status="200"'): "0+100x60",
            _s("http_requests_total", PODS[0], 'status="503"'): "0+0x20 0+10x4 40+0x36",
        },
        {"6m": [], "8m": [], "12m": []},
    ),
    "slow item reads for 15 min fire": Case(
        "PlatformHighLatency",
        {
            _s(BUCKET, ITEMS, 'le="0.5"'): "0x80",
            _s(BUCKET, ITEMS, 'le="1.0"'): "0+10x80",
            _s(BUCKET, ITEMS, 'le="+Inf"'): "0+10x80",
        },
        {"5m": [], "15m": [NS]},
    ),
    "slow probes do not count": Case(
        "PlatformHighLatency",
        {
            _s(BUCKET, 'route="/health"', 'le="0.5"'): "0x80",
            _s(BUCKET, 'route="/health"', 'le="+Inf"'): "0+10x80",
        },
        {"15m": []},
    ),
    "requests waiting 6 min fire": Case(
        "PlatformDatabasePoolSaturated",
        {_s("db_requests_waiting", PODS[0]): "0 3x30"},
        {"2m": [], "6m": [{**NS, "pod": "p1"}]},
    ),
    "requests waiting 2 min do not": Case(
        "PlatformDatabasePoolSaturated",
        {_s("db_requests_waiting", PODS[0]): "0 3x8 0x30"},
        {"2m": [], "4m": [], "7m": []},
    ),
    "a failed migration Job fires at once": Case(
        "PlatformMigrationFailed",
        {
            _job_failed("true", MIGRATION_JOB): "0 1x10",
            _job_failed("false", MIGRATION_JOB): "1 0x10",
        },
        {"0s": [], "1m": [{**NS, "job_name": MIGRATION_JOB}]},
    ),
    "another Job failing, or a migration not failed, does not": Case(
        "PlatformMigrationFailed",
        {
            _job_failed("true", "backup-0001"): "1x10",
            _job_failed("true", MIGRATION_JOB): "0x10",
        },
        {"1m": []},
    ),
    "the newest backup run failing fires at once": Case(
        "PlatformBackupFailed",
        {
            **_backup_cronjob("0x80", "30x80"),
            **_run(BACKUP_RUNS[0], 0, "0x80"),
            **_run(BACKUP_RUNS[1], 60, "0x7 1x72"),
        },
        {"1m": [], "3m": [{**NS, "job_name": BACKUP_RUNS[1]}]},
    ),
    "a failed run, even the first, resolves when a later run succeeds": Case(
        "PlatformBackupFailed",
        {
            **_backup_cronjob("0x80", "_x39 600x40"),
            **_run(BACKUP_RUNS[0], 60, "0x7 1x72"),
            **_run(BACKUP_RUNS[1], 420, "0x80"),
        },
        {"3m": [{**NS, "job_name": BACKUP_RUNS[0]}], "11m": []},
    ),
    "a failed Job another CronJob owns does not": Case(
        "PlatformBackupFailed",
        {
            **_backup_cronjob("0x80", None),
            **_run("other-backup-29000001", 60, "0x7 1x72", owner="other-backup"),
        },
        {"3m": []},
    ),
    "last success 27 h ago fires": Case(
        "PlatformBackupTooOld",
        _backup_cronjob(f"{-HOUR}x6600", "0x6600"),
        {"25h": [], "26h3m": [], "26h10m": [NS]},
    ),
    "a success an hour ago does not": Case(
        "PlatformBackupTooOld",
        _backup_cronjob(f"{-HOUR}x6600", f"0x5999 {25 * HOUR}x600"),
        {"26h10m": [], "27h": []},
    ),
    "never succeeded, created 27 h ago, fires": Case(
        "PlatformBackupTooOld",
        _backup_cronjob("0x6600", None),
        {"25h": [], "26h10m": [NS]},
    ),
    "never succeeded but created an hour ago does not": Case(
        "PlatformBackupTooOld",
        _backup_cronjob(f"{25 * HOUR}x6600", None),
        {"26h10m": [], "27h": []},
    ),
}


def _write_rules(directory: Path) -> Path:
    path = directory / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": rule_groups(WITH_BACKUP)}))
    return path


def _annotations(rule: dict[str, Any], labels: dict[str, str]) -> dict[str, str]:
    """The rule's annotations as Prometheus expands them for an alert with these labels."""

    def expand(text: str) -> str:
        return re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels.get(m.group(1), ""), text)

    return {key: expand(value) for key, value in rule["annotations"].items()}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_alert_fires_exactly_when_it_should(case: Case, tmp_path: Path) -> None:
    rule = rules_by_name()[case.alert]
    _write_rules(tmp_path)
    alert_tests = []
    for at, expected in case.expect.items():
        alerts = []
        for labels in expected:
            full = {**labels, **rule["labels"]}
            alerts.append({"exp_labels": full, "exp_annotations": _annotations(rule, full)})
        alert_tests.append({"eval_time": at, "alertname": case.alert, "exp_alerts": alerts})
    spec = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "15s",
        "tests": [
            {
                "interval": "15s",
                "input_series": [{"series": s, "values": v} for s, v in case.series.items()],
                "alert_rule_test": alert_tests,
            }
        ],
    }
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    result = promtool("test", "rules", "test.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_firing_case_and_a_quiet_case() -> None:
    for alert in rules_by_name():
        cases = [case for case in CASES.values() if case.alert == alert]
        assert any(any(expected) for case in cases for expected in case.expect.values()), alert
        assert any(not expected for case in cases for expected in case.expect.values()), alert


def test_every_alert_links_to_a_runbook_that_exists() -> None:
    for alert, rule in rules_by_name().items():
        page = rule["annotations"]["runbook_url"].rsplit("/", 1)[1]
        assert (ROOT / "docs" / "runbooks" / page).exists(), f"{alert}: docs/runbooks/{page}"
