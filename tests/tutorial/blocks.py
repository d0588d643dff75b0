"""The tutorial's executable blocks: every ```sh block, and the ```expect block after it.

An expect block's lines are regular expressions; the command's output (stdout and stderr) must
have a line matching each of them, in the order given, with any other lines in between. A shell
block in another dialect (```bash, ```console, ...) is refused, so no command can be left out of
the check by its fence.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

FENCE = re.compile(r"^```(?P<info>\S*)\s*$")
COMMAND = "sh"
EXPECT = "expect"
# Fences that would read as commands to a reader but that nothing would run.
UNCHECKED_SHELLS = frozenset({"bash", "shell", "console", "shell-session", "zsh"})


@dataclass(frozen=True)
class Block:
    """One command block: where it is, under which heading, and what its output must show."""

    line: int
    section: str
    command: str
    expected: tuple[re.Pattern[str], ...] = ()


class TutorialError(ValueError):
    """The tutorial's markdown breaks the format above (names the line)."""


@dataclass(frozen=True)
class _Fence:
    opening: int  # 1-based line numbers of the two fences
    closing: int
    info: str
    body: str
    section: str


def _fences(lines: Sequence[str]) -> list[_Fence]:
    """Every fenced block, with the heading above it."""
    found: list[_Fence] = []
    section = ""
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            if lines[index].startswith("#"):
                section = lines[index].lstrip("#").strip()
            index += 1
            continue
        end = next((j for j in range(index + 1, len(lines)) if lines[j].rstrip() == "```"), None)
        if end is None:
            raise TutorialError(f"line {index + 1}: a fence that never closes")
        body = "\n".join(lines[index + 1 : end])
        found.append(_Fence(index + 1, end + 1, opening.group("info"), body, section))
        index = end + 1
    return found


def _patterns(line: int, body: str) -> tuple[re.Pattern[str], ...]:
    patterns = []
    for offset, text in enumerate(body.splitlines(), start=1):
        if not text.strip():
            continue
        try:
            patterns.append(re.compile(text))
        except re.error as error:
            raise TutorialError(
                f"line {line + offset}: not a regular expression: {error}"
            ) from None
    return tuple(patterns)


def parse(text: str) -> list[Block]:
    """The command blocks in order; an expect block belongs to the command block just before it."""
    lines = text.splitlines()
    blocks: list[Block] = []
    previous: _Fence | None = None
    for fence in _fences(lines):
        line = fence.opening
        if fence.info in UNCHECKED_SHELLS:
            raise TutorialError(
                f"line {line}: a ```{fence.info} block is never run: write it as ```sh"
            )
        if fence.info == COMMAND:
            if not fence.body.strip():
                raise TutorialError(f"line {line}: an empty command block")
            blocks.append(Block(line, fence.section, fence.body))
        elif fence.info == EXPECT:
            # Only blank lines may separate it from its command block: prose in between would
            # make the reader attach it to the wrong command.
            adjacent = (
                previous is not None
                and previous.info == COMMAND
                and not any(text.strip() for text in lines[previous.closing : line - 1])
            )
            if not adjacent:
                raise TutorialError(f"line {line}: an expect block must follow a command block")
            command = blocks[-1]
            blocks[-1] = Block(
                command.line, command.section, command.command, _patterns(line, fence.body)
            )
        previous = fence
    return blocks


def unmatched(expected: Sequence[re.Pattern[str]], output: str) -> list[str]:
    """The patterns that found no line in order: empty when the output shows everything."""
    lines = output.splitlines()
    position = 0
    for index, pattern in enumerate(expected):
        hit = next((i for i in range(position, len(lines)) if pattern.search(lines[i])), None)
        if hit is None:
            return [p.pattern for p in expected[index:]]
        position = hit + 1
    return []
