"""The tutorial's format (tests/tutorial/blocks.py): what runs, what its output must show, and
the markdown it refuses, so that no command of docs/tutorial.md escapes the check."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.tutorial import blocks

REPO = Path(__file__).resolve().parents[2]
FENCE = "```"


def markdown(*parts: str) -> str:
    return "\n".join(parts) + "\n"


def test_a_command_block_takes_the_expect_block_after_it_and_its_heading() -> None:
    text = markdown(
        "# Phase 0: start",
        "",
        f"{FENCE}sh",
        "echo one",
        "echo two",
        FENCE,
        "",
        f"{FENCE}expect",
        "^one$",
        "",
        "^two$",
        FENCE,
        "",
        "## Phase 1",
        f"{FENCE}sh",
        "true",
        FENCE,
    )
    first, second = blocks.parse(text)
    assert (first.line, first.section, first.command) == (3, "Phase 0: start", "echo one\necho two")
    assert [p.pattern for p in first.expected] == ["^one$", "^two$"]
    assert (second.section, second.command, second.expected) == ("Phase 1", "true", ())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (markdown(f"{FENCE}bash", "make demo", FENCE), "line 1: a ```bash block is never run"),
        (markdown(f"{FENCE}console", "$ ls", FENCE), "a ```console block is never run"),
        (markdown(f"{FENCE}expect", "x", FENCE), "line 1: an expect block must follow a command"),
        (
            markdown(f"{FENCE}sh", "ls", FENCE, "prose", f"{FENCE}expect", "x", FENCE),
            "line 5: an expect",
        ),
        (
            markdown(
                f"{FENCE}sh",
                "ls",
                FENCE,
                f"{FENCE}expect",
                "a",
                FENCE,
                f"{FENCE}expect",
                "b",
                FENCE,
            ),
            "line 7",
        ),
        (
            markdown(f"{FENCE}sh", "ls", FENCE, f"{FENCE}expect", "(unclosed", FENCE),
            "line 5: not a regular",
        ),
        (markdown(f"{FENCE}sh", "  ", FENCE), "line 1: an empty command block"),
        (markdown(f"{FENCE}sh", "ls"), "line 1: a fence that never closes"),
    ],
)
def test_markdown_that_would_let_a_command_escape_is_refused(text: str, message: str) -> None:
    with pytest.raises(blocks.TutorialError, match=re.escape(message)):
        blocks.parse(text)


def test_other_fences_are_prose() -> None:
    assert blocks.parse(markdown(f"{FENCE}yaml", "a: 1", FENCE, f"{FENCE}", "text", FENCE)) == []


@pytest.mark.parametrize(
    ("patterns", "output", "missing"),
    [
        (["^a", "^c"], "a\nb\nc\n", []),
        (["^c", "^a"], "a\nb\nc\n", ["^a"]),
        (["b", "b"], "a\nb\nc\n", ["b"]),
        (["^x", "^a"], "a\n", ["^x", "^a"]),
        ([], "", []),
    ],
)
def test_the_patterns_must_match_lines_in_order(
    patterns: list[str], output: str, missing: list[str]
) -> None:
    assert blocks.unmatched([re.compile(p) for p in patterns], output) == missing


def test_the_tutorial_parses_and_every_phase_has_commands_with_expected_output() -> None:
    parsed = blocks.parse((REPO / "docs" / "tutorial.md").read_text())
    phases = {m.group(1) for b in parsed if (m := re.match(r"Phase (\d+)", b.section))}
    assert phases == {str(n) for n in range(7)}
    assert all(block.expected for block in parsed), [b.line for b in parsed if not b.expected]
