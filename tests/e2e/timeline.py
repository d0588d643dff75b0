"""The suite's timeline (each step, when it started, how long it took) and its measured figures.

One module-level recorder: steps are recorded by the tests, printed by conftest.py at the end
of the session and written to build/e2e/timeline.txt and build/e2e/figures.json.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Step:
    name: str
    start: float
    seconds: float = 0.0
    result: str = "running"
    note: str = ""


@dataclass
class Timeline:
    started: float = field(default_factory=time.monotonic)
    steps: list[Step] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)  # `helm install` NOTES, by install

    @contextmanager
    def step(self, name: str) -> Iterator[Step]:
        """Record one step; its result is `ok` unless the block raises."""
        step = Step(name, time.monotonic() - self.started)
        self.steps.append(step)
        begin = time.monotonic()
        try:
            yield step
        except BaseException:
            step.result = "FAILED"
            raise
        else:
            step.result = "ok"
        finally:
            step.seconds = time.monotonic() - begin

    def figure(self, name: str, value: Any) -> None:
        self.figures[name] = value

    def render(self) -> str:
        lines = ["e2e timeline (t = seconds since the session started)", ""]
        lines.append(f"{'t':>7} {'took':>7}  {'result':<7} step")
        for step in self.steps:
            note = f"  [{step.note}]" if step.note else ""
            lines.append(
                f"{step.start:7.1f} {step.seconds:6.1f}s  {step.result:<7} {step.name}{note}"
            )
        total = time.monotonic() - self.started
        lines += ["", f"total {total:.0f} s, {len(self.steps)} steps, "
                  f"{sum(s.result == 'FAILED' for s in self.steps)} failed", ""]  # fmt: skip
        if self.figures:
            lines.append("figures")
            width = max(len(name) for name in self.figures)
            for name, value in self.figures.items():
                lines.append(f"  {name:<{width}}  {value}")
        return "\n".join(lines) + "\n"

    def write(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "figures.json").write_text(json.dumps(self.figures, indent=2) + "\n")
        path = directory / "timeline.txt"
        path.write_text(self.render())
        return path


TIMELINE = Timeline()
