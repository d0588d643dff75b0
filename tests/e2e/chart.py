"""The chart and the images the suite deploys: paths, image references, the baseline's tree,
values files, the Helm CLI and the Makefile's deploy targets."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.cluster.kube import Kube

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "build" / "e2e"
CHART = ROOT / "k8s" / "helm" / "platform"
RELEASE = "platform"
Obj = dict[str, Any]


def split_image(reference: str) -> tuple[str, str]:
    """`repo/name:tag` -> (`repo/name`, `tag`); the tag is after the last colon of the last part."""
    repository, _, tag = reference.rpartition(":")
    if not repository or "/" in tag:
        raise ValueError(f"image {reference!r} has no tag")
    return repository, tag


def baseline_commit() -> str:
    """The commit the upgrade test starts from: the one line of tests/e2e/baseline.txt that is."""
    lines = (ROOT / "tests" / "e2e" / "baseline.txt").read_text().splitlines()
    return next(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def baseline_tree() -> Path:
    """That commit's files (`git archive`), extracted once under build/e2e. Parallel workers may
    race here: each extracts into a directory of its own and renames it into place."""
    commit = baseline_commit()
    tree = BUILD / f"baseline-{commit}"
    if not (tree / "k8s").is_dir():
        BUILD.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f"baseline-{commit}-", dir=BUILD))
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", commit], capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(scratch)], input=archive, check=True)
        try:
            scratch.rename(tree)
        except OSError:  # another worker's copy got there first (or a stale partial one)
            shutil.rmtree(scratch)
            if not (tree / "k8s").is_dir():
                raise
    return tree


@dataclass(frozen=True)
class Images:
    """The images the suite deploys; `make e2e` passes them from mk/e2e.mk."""

    old: str = os.environ.get("E2E_IMAGE_OLD", "platform-api:1.0.0")
    new: str = os.environ.get("E2E_IMAGE_NEW", "platform-api:1.0.1-e2e")
    bad: str = os.environ.get("E2E_IMAGE_BAD", "platform-api:1.0.2-bad")
    slow: str = os.environ.get("E2E_IMAGE_SLOW", "platform-api:1.0.3-slow")
    baseline: str = os.environ.get("E2E_IMAGE_BASELINE", f"platform-api:{baseline_commit()}")
    postgres: str = os.environ.get("E2E_POSTGRES_IMAGE", "localhost/platform-postgres:15")
    # The next major, for the major-upgrade drill.
    postgres_next: str = os.environ.get("E2E_POSTGRES_NEXT_IMAGE", "localhost/platform-postgres:17")
    pull_policy: str = os.environ.get("E2E_PULL_POLICY", "IfNotPresent")


IMAGES = Images()


def version_of(image: str) -> str:
    """The version `GET /` reports for an image: its tag (the e2e images rewrite it)."""
    return split_image(image)[1]


def deep_merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> Obj:
    out: Obj = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def chart_values(image: str, extra: Mapping[str, Any] | None = None) -> Obj:
    """Values for the loaded images (nothing is pulled) plus `extra`."""
    repository, tag = split_image(image)
    pg_repository, pg_tag = split_image(IMAGES.postgres)
    values: Obj = {
        "image": {"repository": repository, "tag": tag, "pullPolicy": IMAGES.pull_policy},
        "database": {
            "image": {"repository": pg_repository, "tag": pg_tag, "pullPolicy": IMAGES.pull_policy}
        },
    }
    return deep_merge(values, extra or {})


@dataclass(frozen=True)
class Helm:
    """One helm binary (3 or 4) bound to the kubeconfig and a namespace; release `platform`."""

    binary: str
    config: str
    namespace: str
    label: str  # "helm3" / "helm4", for file names and the timeline

    def run(self, *args: str, timeout: float = 600, check: bool = True) -> str:
        result = self.try_run(*args, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(
                f"{self.label} {' '.join(args)} failed ({result.returncode}):\n"
                f"{result.stdout}\n{result.stderr}"
            )
        return result.stdout

    def argv(self, *args: str) -> list[str]:
        return [self.binary, "--kubeconfig", self.config, "--namespace", self.namespace, *args]

    def try_run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(*args), capture_output=True, text=True, timeout=timeout, check=False
        )

    @staticmethod
    def chart_path() -> str:
        return str(CHART)

    def values_file(self, name: str, values: Mapping[str, Any]) -> str:
        """Write values as JSON (valid YAML: no --set quoting surprises) under build/e2e."""
        path = BUILD / f"{self.namespace}-{name}-values.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values, indent=1))
        return str(path)

    def deploy(
        self,
        action: str,
        name: str,
        values: Mapping[str, Any],
        *flags: str,
        check: bool = True,
        chart: Path = CHART,
    ) -> subprocess.CompletedProcess[str]:
        """`helm install|upgrade platform CHART -f values FLAGS`."""
        args = [action, RELEASE, str(chart), "-f", self.values_file(name, values), *flags]
        result = self.try_run(*args)
        if check and result.returncode != 0:
            raise AssertionError(
                f"{self.label} {' '.join(args)} failed ({result.returncode}):\n"
                f"{result.stdout}\n{result.stderr}"
            )
        return result

    def history(self) -> list[Obj]:
        out: list[Obj] = json.loads(self.run("history", RELEASE, "-o", "json"))
        return out


def make(target: str, kube: Kube) -> subprocess.CompletedProcess[str]:
    """`make TARGET` (k8s-apply, k8s-delete) against this namespace, with the e2e images."""
    assert kube.namespace
    env = os.environ | {
        "KUBECONFIG": kube.config,
        "K8S_NAMESPACE": kube.namespace,
        "API_IMAGE": IMAGES.old,
        "POSTGRES_IMAGE": IMAGES.postgres,
        "IMAGE_PULL_POLICY": IMAGES.pull_policy,
        "K8S_TIMEOUT": "240",
    }
    result = subprocess.run(
        ["make", "-C", str(ROOT), "--no-print-directory", target],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, f"make {target} failed:\n{result.stdout}\n{result.stderr}"
    return result


def helm_for(binary: str, kube: Kube, label: str) -> Helm:
    assert kube.namespace
    return Helm(binary, kube.config, kube.namespace, label)
