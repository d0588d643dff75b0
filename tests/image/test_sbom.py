"""The image carries a CycloneDX SBOM that lists exactly what it ships: every runtime package of
uv.lock at its locked version, nothing of the dev group, the project as the root component."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import dockerctl
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

SBOM = "/usr/share/doc/platform-api/sbom.cdx.json"


@pytest.fixture(scope="module")
def sbom(image: str) -> dict[str, Any]:
    proc = dockerctl.docker("run", "--rm", "--entrypoint", "cat", image, SBOM)
    document: dict[str, Any] = json.loads(proc.stdout)
    return document


def _locked_runtime_packages() -> dict[str, str]:
    """uv.lock's runtime closure for this machine's platform (the image's: Linux, CPython
    3.11), as `uv export` resolves it: name -> version."""
    exported = subprocess.run(
        ["uv", "export", "--locked", "--no-dev", "--no-emit-project", "--no-hashes",
         "--no-header", "--no-annotate", "--format", "requirements.txt"],
        cwd=dockerctl.ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    packages: dict[str, str] = {}
    for line in exported.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate():
            (version,) = (spec.version for spec in requirement.specifier)
            packages[canonicalize_name(requirement.name)] = version
    return packages


def test_sbom_is_cyclonedx_with_the_project_as_root(sbom: dict[str, Any]) -> None:
    assert sbom["bomFormat"] == "CycloneDX"
    assert sbom["specVersion"] == "1.6"
    root = sbom["metadata"]["component"]
    assert (root["name"], root["version"]) == ("platform-api", dockerctl.image_version())
    assert "timestamp" not in sbom["metadata"]  # reproducible: same venv, same layer


def test_sbom_lists_exactly_the_locked_runtime_packages(sbom: dict[str, Any]) -> None:
    components = {
        canonicalize_name(component["name"]): component
        for component in sbom["components"]
        if canonicalize_name(component["name"]) != "platform-api"
    }
    listed = {name: component["version"] for name, component in components.items()}
    locked = _locked_runtime_packages()
    assert listed == locked
    assert "pytest" not in listed  # the dev group stays out of the image and its SBOM
    wrong_purls = [
        name for name, component in components.items()
        if component.get("purl") != f"pkg:pypi/{name}@{component['version']}"
    ]  # fmt: skip
    assert not wrong_purls
