"""Render the chart and the raw manifests for the tests: `helm template` and `kubectl kustomize`."""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]  # pyyaml ships no stubs; types-PyYAML is not locked

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / "bin"
CHART = ROOT / "k8s" / "helm" / "platform"
RAW = ROOT / "k8s" / "raw-manifests"
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
RELEASE = "platform"
NAMESPACE = "platform"

Manifest = dict[str, Any]


class RenderError(RuntimeError):
    """helm refused to render (schema violation, `fail`, kubeVersion mismatch)."""


def helm_binary(helm: str = "helm") -> Path:
    """A binary pinned by `make tools-chart`: `helm` (Helm 3), `helm4`, `helm-docs`."""
    path = BIN / helm
    if not path.exists():
        raise RuntimeError(f"{path} is missing: run `make tools-chart`")
    return path


def render_text(
    values: Mapping[str, Any] | None = None,
    *,
    values_file: Path | None = None,
    is_upgrade: bool = False,
    helm: str = "helm",
    extra_args: tuple[str, ...] = (),
    chart: Path = CHART,
) -> str:
    """`helm template` output for these values; raises RenderError with helm's message."""
    with tempfile.TemporaryDirectory() as tmp:
        args = [str(helm_binary(helm)), "template", RELEASE, str(chart), "-n", NAMESPACE]
        if values_file is not None:
            args += ["-f", str(values_file)]
        if values:
            path = Path(tmp) / "values.yaml"
            # JSON is YAML: no quoting surprises for strings such as "1".
            path.write_text(json.dumps(values))
            args += ["-f", str(path)]
        if is_upgrade:
            args.append("--is-upgrade")
        args += list(extra_args)
        result = subprocess.run(args, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RenderError(result.stderr.strip())
    return result.stdout


@lru_cache(maxsize=64)
def _render_cached(values_json: str, is_upgrade: bool, helm: str) -> tuple[Manifest, ...]:
    values = json.loads(values_json)
    text = render_text(values, is_upgrade=is_upgrade, helm=helm)
    return tuple(doc for doc in yaml.safe_load_all(text) if doc)


def render(
    values: Mapping[str, Any] | None = None, *, is_upgrade: bool = False, helm: str = "helm"
) -> list[Manifest]:
    """The chart's manifests for these values, as dicts (copies: tests may mutate them)."""
    docs = _render_cached(json.dumps(values or {}, sort_keys=True), is_upgrade, helm)
    copied: list[Manifest] = json.loads(json.dumps(docs))
    return copied


def documents(text: str) -> list[Manifest]:
    """Parse a multi-document YAML stream, skipping empty documents."""
    return [doc for doc in yaml.safe_load_all(text) if doc]


def render_file(values_file: Path, *, is_upgrade: bool = False) -> list[Manifest]:
    """The chart's manifests for a values file (the ci matrix)."""
    text = render_text(values_file=values_file, is_upgrade=is_upgrade)
    return [doc for doc in yaml.safe_load_all(text) if doc]


def kustomize(overlay: str) -> list[Manifest]:
    """The raw manifests of one overlay as kustomize builds them."""
    text = subprocess.run(
        ["kubectl", "kustomize", str(RAW / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [doc for doc in yaml.safe_load_all(text) if doc]


def find(docs: list[Manifest], kind: str, name: str | None = None) -> Manifest:
    """The one resource of this kind (and name); fails the test when absent or ambiguous."""
    matches = [
        doc
        for doc in docs
        if doc["kind"] == kind and (name is None or doc["metadata"]["name"] == name)
    ]
    assert len(matches) == 1, f"expected one {kind} {name or ''}, found {len(matches)}"
    return matches[0]


def kinds(docs: list[Manifest]) -> list[str]:
    """Kinds of the rendered resources."""
    return [doc["kind"] for doc in docs]


def pod_spec(doc: Manifest) -> Manifest | None:
    """The pod spec of a workload or Pod; None for other kinds."""
    if doc["kind"] == "Pod":
        spec: Manifest = doc["spec"]
        return spec
    if doc["kind"] in ("Deployment", "StatefulSet", "Job"):
        template_spec: Manifest = doc["spec"]["template"]["spec"]
        return template_spec
    if doc["kind"] == "CronJob":
        job_spec: Manifest = doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        return job_spec
    return None


def pod_specs(docs: list[Manifest]) -> Iterator[tuple[str, Manifest]]:
    """(kind/name, pod spec) of every workload."""
    for doc in docs:
        spec = pod_spec(doc)
        if spec is not None:
            yield f"{doc['kind']}/{doc['metadata']['name']}", spec


def containers(spec: Manifest) -> list[Manifest]:
    """Init containers and containers of a pod spec."""
    return [*spec.get("initContainers", []), *spec.get("containers", [])]


def hook(doc: Manifest) -> str | None:
    """The helm.sh/hook annotation, if any."""
    annotations: dict[str, str] = doc["metadata"].get("annotations") or {}
    return annotations.get("helm.sh/hook")
