"""The raw manifests (prod overlay) and the chart's default render agree on the essentials."""

from __future__ import annotations

import base64
from typing import Any

import k8s_apply
import pytest

from tests.chart.helm import Manifest, containers, find, kustomize, pod_spec, render

# Chart name (release "platform") -> raw manifest name. Everything else is named the same; the
# raw ConfigMap is generated, `platform-config-<content hash>`, and compared without its hash.
RAW_NAME = {
    "platform-postgres": "postgres",
    "platform-postgres-headless": "postgres-headless",
}
RAW_MIGRATION_JOB = "postgres-migration"
# Only in one form: the chart's own Secrets (raw: created by tools/k8s_apply.py), its test pod and
# that pod's egress policy, its Grafana dashboard ConfigMap (raw: load
# k8s/helm/platform/files/dashboard.json), and the raw Namespace (the chart installs into the
# release namespace).
ONE_FORM_ONLY = {
    ("Secret", "platform-db"),
    ("Secret", "platform-api-token"),
    ("Pod", "platform-test"),
    ("NetworkPolicy", "platform-test"),
    ("ConfigMap", "platform-dashboard"),
    ("Namespace", "platform"),
}
# The chart with what the raw manifests always have: backups to a claim.
CHART_VALUES = {"backup": {"enabled": True, "target": "pvc"}}


def raw_name(kind: str, name: str) -> str:
    if kind == "Job":
        return RAW_MIGRATION_JOB
    return RAW_NAME.get(name, name)


def unhashed(name: str) -> str:
    """A generated ConfigMap's name without kustomize's content-hash suffix."""
    match = k8s_apply.HASHED.fullmatch(name)
    return match["base"] if match else name


def normalise(docs: list[Manifest], *, from_chart: bool) -> dict[tuple[str, str], Manifest]:
    out = {}
    for doc in docs:
        kind, name = doc["kind"], doc["metadata"]["name"]
        key = (kind, raw_name(kind, name) if from_chart else unhashed(name))
        if key not in ONE_FORM_ONLY:
            out[key] = doc
    return out


@pytest.fixture(scope="module")
def forms() -> tuple[dict[tuple[str, str], Manifest], dict[tuple[str, str], Manifest]]:
    chart = normalise(render(CHART_VALUES), from_chart=True)
    return chart, normalise(kustomize("prod"), from_chart=False)


Forms = tuple[dict[tuple[str, str], Manifest], dict[tuple[str, str], Manifest]]


def mapped_env(item: Manifest, config: dict[str, str]) -> Manifest:
    """An EnvVar with a ConfigMap key resolved to its value (the raw StatefulSet has the value
    itself, off the generated ConfigMap) and a Secret reference renamed to the raw form."""
    if "configMapKeyRef" in item.get("valueFrom", {}):
        return {"name": item["name"], "value": config[item["valueFrom"]["configMapKeyRef"]["key"]]}
    if "valueFrom" not in item:
        return item
    sources = {
        kind: {**ref, "name": raw_name("", ref["name"])} for kind, ref in item["valueFrom"].items()
    }
    return {**item, "valueFrom": sources}


def essentials(container: Manifest, config: dict[str, str]) -> dict[str, Any]:
    """What must not drift; config/secret references are compared through the name mapping."""
    refs = [
        (kind, unhashed(raw_name("", ref["name"])))
        for source in container.get("envFrom", [])
        for kind, ref in source.items()
    ]
    env = [mapped_env(item, config) for item in container.get("env", [])]
    keys = ("image", "command", "args", "ports", "startupProbe", "livenessProbe", "readinessProbe")
    return {
        **{key: container.get(key) for key in keys},
        "securityContext": container.get("securityContext"),
        "lifecycle": container.get("lifecycle"),
        "volumeMounts": container.get("volumeMounts"),
        "resources": container.get("resources"),
        "envFrom": refs,
        "env": env,
    }


def test_both_forms_have_the_same_resources(forms: Forms) -> None:
    chart, raw = forms
    assert sorted(chart) == sorted(raw)


def test_configmaps_have_the_same_keys_and_values(forms: Forms) -> None:
    chart, raw = forms
    chart_data = dict(chart[("ConfigMap", "platform-config")]["data"])
    chart_data["POSTGRES_HOST"] = raw_name("", chart_data["POSTGRES_HOST"])
    assert chart_data == raw[("ConfigMap", "platform-config")]["data"]


def test_workloads_have_the_same_containers_probes_ports_and_security(forms: Forms) -> None:
    chart, raw = forms
    chart_config = chart[("ConfigMap", "platform-config")]["data"]
    raw_config = raw[("ConfigMap", "platform-config")]["data"]
    for key in [key for key in chart if key[0] in ("Deployment", "StatefulSet", "Job", "CronJob")]:
        chart_spec, raw_spec = pod_spec(chart[key]), pod_spec(raw[key])
        assert chart_spec is not None
        assert raw_spec is not None
        assert chart_spec["securityContext"] == raw_spec["securityContext"], key
        for field in (
            "terminationGracePeriodSeconds",
            "automountServiceAccountToken",
            "restartPolicy",
        ):
            assert chart_spec.get(field) == raw_spec.get(field), (key, field)
        assert [c["name"] for c in containers(chart_spec)] == [
            c["name"] for c in containers(raw_spec)
        ]
        for mine, theirs in zip(containers(chart_spec), containers(raw_spec), strict=True):
            assert essentials(mine, chart_config) == essentials(theirs, raw_config), (
                key,
                mine["name"],
            )


def test_services_expose_the_same_ports(forms: Forms) -> None:
    chart, raw = forms
    for key in [key for key in chart if key[0] == "Service"]:
        assert chart[key]["spec"]["ports"] == raw[key]["spec"]["ports"], key
        assert chart[key]["spec"].get("clusterIP") == raw[key]["spec"].get("clusterIP"), key


def test_rollout_and_job_settings_agree(forms: Forms) -> None:
    chart, raw = forms
    deployment = ("Deployment", "platform-api")
    assert chart[deployment]["spec"]["strategy"] == raw[deployment]["spec"]["strategy"]
    job = ("Job", RAW_MIGRATION_JOB)
    for field in ("backoffLimit", "activeDeadlineSeconds"):
        assert chart[job]["spec"][field] == raw[job]["spec"][field], field
    backup = ("CronJob", "platform-backup")
    for field in ("schedule", "concurrencyPolicy", "startingDeadlineSeconds"):
        assert chart[backup]["spec"][field] == raw[backup]["spec"][field], field
    chart_job, raw_job = (side[backup]["spec"]["jobTemplate"]["spec"] for side in (chart, raw))
    for field in ("backoffLimit", "activeDeadlineSeconds"):
        assert chart_job[field] == raw_job[field], field
    claim = ("PersistentVolumeClaim", "platform-backup")
    assert chart[claim]["spec"]["resources"] == raw[claim]["spec"]["resources"]


def test_the_apply_script_creates_the_secret_the_chart_would(forms: Forms) -> None:
    chart = {
        (doc["kind"], doc["metadata"]["name"]): doc for doc in render() if doc["kind"] == "Secret"
    }
    assert ("Secret", k8s_apply.SECRET_NAME) in chart
    assert set(chart[("Secret", k8s_apply.SECRET_NAME)]["data"]) == {
        "POSTGRES_USER",
        "POSTGRES_PASSWORD",
        "APP_POSTGRES_USER",
        "APP_POSTGRES_PASSWORD",
    }
    assert set(chart[("Secret", k8s_apply.TOKEN_SECRET_NAME)]["data"]) == {"token"}
    db = find(render(), "Secret", k8s_apply.SECRET_NAME)["data"]
    assert base64.b64decode(db["APP_POSTGRES_USER"]).decode() == k8s_apply.APP_DATABASE_USER
