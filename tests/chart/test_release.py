"""Release hygiene: a chart release changes the chart's version, and a new chart version alone
changes no pod template (no PostgreSQL restart, no patch of an immutable Job template)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # pyyaml ships no stubs; types-PyYAML is not locked
from packaging.version import Version

from tests.chart.helm import CHART, ROOT, render_text
from tests.e2e.chart import baseline_commit

# Every mode that renders a different set of pod templates: hook mode at install and on upgrade,
# job mode, backups on. The image is pinned so that only the chart's own metadata differs.
CASES: dict[str, tuple[dict[str, Any], bool]] = {
    "hook install": ({}, False),
    "hook upgrade": ({}, True),
    "job mode": ({"migration": {"mode": "job"}}, True),
    "backups": ({"backup": {"enabled": True}}, True),
}


@pytest.fixture(scope="module")
def bumped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the chart whose version and appVersion are a new release's."""
    copy = tmp_path_factory.mktemp("bumped") / "platform"
    shutil.copytree(CHART, copy)
    chart_yaml = copy / "Chart.yaml"
    meta = yaml.safe_load(chart_yaml.read_text())
    meta["version"], meta["appVersion"] = "99.0.0", "99.0.0"
    chart_yaml.write_text(yaml.safe_dump(meta, sort_keys=False))
    return copy


def _pod_templates(text: str) -> dict[str, Any]:
    """Each workload's pod template, keyed by kind and name (a Job's name is part of what must
    not change: job mode names the Job after its image, and Kubernetes refuses to patch a Job's
    template)."""
    templates = {}
    for doc in yaml.safe_load_all(text):
        if not doc:
            continue
        kind, name = doc["kind"], doc["metadata"]["name"]
        if kind in ("Deployment", "StatefulSet", "Job"):
            templates[f"{kind}/{name}"] = doc["spec"]["template"]
        elif kind == "CronJob":
            templates[f"{kind}/{name}"] = doc["spec"]["jobTemplate"]["spec"]["template"]
    return templates


@pytest.mark.parametrize("case", CASES)
def test_a_new_chart_version_alone_changes_no_pod_template(bumped: Path, case: str) -> None:
    values, is_upgrade = CASES[case]
    values = {**values, "image": {"tag": "1.0.0"}}
    before = _pod_templates(render_text(values, is_upgrade=is_upgrade))
    after = _pod_templates(render_text(values, is_upgrade=is_upgrade, chart=bumped))
    assert before.keys() == after.keys()
    changed = [name for name in before if before[name] != after[name]]
    assert not changed, f"a chart release alone would restart or re-create {changed}"


def _chart_version(text: str) -> Version:
    return Version(str(yaml.safe_load(text)["version"]))


def test_the_chart_version_moves_when_the_chart_changed_since_the_baseline() -> None:
    """Users upgrade from the last release (tests/e2e/baseline.txt): a chart that differs from
    that release's must say so in its version."""
    baseline = baseline_commit()
    changed = subprocess.run(
        ["git", "-C", str(ROOT), "diff", "--quiet", baseline, "--", str(CHART)], check=False
    ).returncode  # fmt: skip
    if changed == 0:
        return
    released = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{baseline}:k8s/helm/platform/Chart.yaml"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    current = (CHART / "Chart.yaml").read_text()
    assert _chart_version(current) > _chart_version(released), (
        "k8s/helm/platform changed since the baseline release: bump `version` in Chart.yaml"
    )
