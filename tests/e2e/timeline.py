"""The suite's timeline (each step, when it started, how long it took) and its measured figures.

One module-level recorder per process: steps are recorded by the tests; under pytest-xdist each
worker hands its recorder to the controller (conftest.py), which merges them, prints the result
at the end of the session and writes build/e2e/timeline-<phase>.txt and figures-<phase>.json.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
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

    def dump(self) -> dict[str, Any]:
        """What an xdist worker sends to the controller (plain JSON types: execnet's channel)."""
        return {"started": self.started, "steps": [asdict(step) for step in self.steps],
                "figures": self.figures, "notes": self.notes}  # fmt: skip

    def merge(self, dump: dict[str, Any], worker: str) -> None:
        """Add a worker's steps, re-based on this recorder's start: time.monotonic() is
        CLOCK_MONOTONIC, one clock for every process on the machine."""
        offset = dump["started"] - self.started
        for fields in dump["steps"]:
            step = Step(**fields)
            step.start += offset
            step.name = f"[{worker}] {step.name}"
            self.steps.append(step)
        self.steps.sort(key=lambda step: step.start)
        self.figures.update(dump["figures"])
        self.notes.update(dump["notes"])

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
            for name, value in sorted(self.figures.items()):
                lines.append(f"  {name:<{width}}  {value}")
        return "\n".join(lines) + "\n"

    def write(self, directory: Path, phase: str) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        figures = json.dumps(dict(sorted(self.figures.items())), indent=2)
        (directory / f"figures-{phase}.json").write_text(figures + "\n")
        path = directory / f"timeline-{phase}.txt"
        path.write_text(self.render())
        return path


TIMELINE = Timeline()
