"""A reader's terminal for the tutorial: one bash per block, the exported variables carried from
each block to the next (as in one terminal), and whatever a block left running in the background
(a port-forward) stopped at the end."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

# Runs before and after every block: the environment of the blocks before it, then its own
# exports saved for the next. `set -euo pipefail`: a failing command fails its block.
PRELUDE = 'set -euo pipefail\n[ ! -f "$TUTORIAL_ENV" ] || . "$TUTORIAL_ENV"\n'
EPILOGUE = '\nexport -p > "$TUTORIAL_ENV"\n'


@dataclass(frozen=True)
class Result:
    code: int
    output: str


@dataclass
class Shell:
    """Blocks run from `cwd`; their exports persist in a file under `scratch`."""

    cwd: Path
    scratch: Path
    groups: list[int] = field(default_factory=list)

    def run(self, command: str, timeout: float) -> Result:
        env = {**os.environ, "TUTORIAL_ENV": str(self.scratch / "env.sh")}
        process = subprocess.Popen(
            ["bash", "-c", PRELUDE + command + EPILOGUE],
            cwd=self.cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            # Its own process group, so what it starts in the background can be stopped later.
            start_new_session=True,
        )
        self.groups.append(process.pid)
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._kill(process.pid)
            output, _ = process.communicate()
            return Result(124, output + f"\n(timed out after {timeout:.0f} s)")
        return Result(process.returncode, output)

    def close(self) -> None:
        for group in self.groups:
            self._kill(group)

    @staticmethod
    def _kill(group: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGTERM)
