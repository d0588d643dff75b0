"""The harness's command line refuses bad input with one line and exit status 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _cluster(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cluster", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("command", ["up", "build", "packages"])
def test_a_bad_node_count_exits_2_with_one_line_naming_nodes(command: str) -> None:
    result = _cluster(command, "--nodes", "12")

    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "cluster: NODES must be a whole number from 1 to 8, got '12'"
    ]


def test_the_host_cannot_be_stopped_as_a_node() -> None:
    result = _cluster("stop-node", "1")

    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "cluster: node 1 is the host (control plane): only workers can be stopped"
    ]
