"""docs/tutorial.md, run as a reader would: every command block in order, in one terminal, its
output checked against the expect block after it. Needs the test cluster (`make tutorial`)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.tutorial import blocks
from tests.tutorial.shell import Shell

REPO = Path(__file__).resolve().parents[2]
TUTORIAL = REPO / "docs" / "tutorial.md"
BLOCKS = blocks.parse(TUTORIAL.read_text())
# The namespace the tutorial works in (the seed's); it must be absent when it starts.
NAMESPACE = "platform"
# A cold `make cluster-build` compiles Kubernetes: the longest block a reader may run.
BLOCK_TIMEOUT = 1800


class Progress:
    """The first block that failed: every later block fails too, naming it."""

    failed: blocks.Block | None = None


@pytest.fixture(scope="module")
def terminal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shell]:
    kubeconfig = REPO / ".cluster" / "kubeconfig"
    existing = subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig), "get", "namespace", NAMESPACE],
        capture_output=True,
        check=False,
    )
    assert existing.returncode != 0, f"namespace {NAMESPACE} exists: the tutorial starts without it"
    shell = Shell(REPO, tmp_path_factory.mktemp("tutorial"))
    yield shell
    shell.close()
    # What a failed run left: the namespace holds everything the tutorial made.
    subprocess.run(
        [
            "kubectl",
            "--kubeconfig",
            str(kubeconfig),
            "delete",
            "namespace",
            NAMESPACE,
            "--ignore-not-found",
            "--timeout=120s",
        ],
        capture_output=True,
        check=False,
    )


@pytest.mark.timeout(BLOCK_TIMEOUT)
@pytest.mark.parametrize("block", BLOCKS, ids=[f"line{block.line}" for block in BLOCKS])
def test_block(block: blocks.Block, terminal: Shell) -> None:
    if Progress.failed is not None:
        pytest.fail(f"not run: the block at line {Progress.failed.line} failed first")
    result = terminal.run(block.command, timeout=BLOCK_TIMEOUT - 60)
    missing = blocks.unmatched(block.expected, result.output)
    if result.code != 0 or missing:
        Progress.failed = block
    where = f"docs/tutorial.md line {block.line} ({block.section})"
    assert result.code == 0, f"{where} exited {result.code}:\n{result.output[-3000:]}"
    assert not missing, (
        f"{where}: no line matched {missing[0]!r} in order:\n{result.output[-3000:]}"
    )
