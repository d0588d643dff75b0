"""Long steps with a visible pulse and a short failure.

A step's own output goes to its log file; the terminal gets the step's name, its elapsed time
and the latest line the step printed (on a terminal one line updated in place, elsewhere a line
every PULSE_SECONDS), so a cold build of many minutes is never a silent wait. A failure is two
lines: the step, its exit status and last line, then where the whole log is and what to run.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TextIO

PULSE_SECONDS = 20.0
ANY_LINE = re.compile(r".")
TTY_REFRESH_SECONDS = 1.0


class StepFailed(Exception):
    """A step that did not finish: already reported in two lines."""


def elapsed(seconds: float) -> str:
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest:02d}s" if minutes else f"{rest}s"


def say(line: str) -> None:
    print(line, flush=True)


class Step:
    """One numbered step: `run` a command under it, or `skip` it with the reason."""

    def __init__(self, number: int, total: int, name: str, logs: Path) -> None:
        self.label = f"[{number}/{total}] {name}"
        self.log = logs / f"{number:02d}-{name.replace(' ', '-')}.log"
        self.started = time.monotonic()

    def skip(self, reason: str) -> None:
        say(f"{self.label}: skipped, {reason}")

    def begin(self, what: str) -> None:
        say(f"{self.label}: {what}")

    def done(self, what: str = "done") -> None:
        say(f"{self.label}: {what} in {elapsed(time.monotonic() - self.started)}")

    def fail(self, why: str, hint: str = "") -> StepFailed:
        say(f"{self.label} FAILED after {elapsed(time.monotonic() - self.started)}: {why}")
        say(f"  {hint or 'fix it and run `make demo` again (finished steps are skipped)'}")
        return StepFailed(self.label)

    def run(
        self,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        progress: re.Pattern[str] = ANY_LINE,
    ) -> None:
        """Run `argv` to completion, pulsing its latest line that matches `progress` (a tool's
        own progress lines rather than, say, Go's download chatter); raise StepFailed (reported)
        if it fails."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        # [the latest progress line, the last line of all]: the pulse shows the first, a
        # failure the second (an error is rarely a progress line).
        latest = ["", ""]
        with (
            self.log.open("w") as out,
            subprocess.Popen(
                list(argv),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
                env=dict(env) if env is not None else None,
            ) as process,
        ):
            copy = (process, out, latest, progress)
            reader = threading.Thread(target=_copy, args=copy, daemon=True)
            reader.start()
            self._pulse(_ended(process), latest)
            reader.join()
        if process.returncode != 0:
            raise self.fail(
                f"`{' '.join(argv)}` exited {process.returncode}: {latest[1] or 'no output'}",
                f"whole log: {self.log}; fix it and run `make demo` again (done steps are skipped)",
            )

    def watch(self, check: Callable[[], tuple[bool, str]], timeout: float, hint: str) -> None:
        """Poll `check` (done?, what it sees) until done, pulsing what it sees; fail at timeout."""
        status = [""]
        reached = threading.Event()
        deadline = time.monotonic() + timeout

        def poll() -> None:
            while time.monotonic() < deadline:
                ok, status[0] = check()
                if ok:
                    reached.set()
                    return
                time.sleep(2)

        def ended(seconds: float) -> bool:
            reached.wait(max(0.0, min(seconds, deadline - time.monotonic())))
            return reached.is_set() or time.monotonic() >= deadline

        threading.Thread(target=poll, daemon=True).start()
        self._pulse(ended, status)
        if not reached.is_set():
            raise self.fail(f"not there after {elapsed(timeout)}: {status[0]}", hint)

    def _pulse(self, wait: Callable[[float], bool], latest: list[str]) -> None:
        """Print the pulse until `wait(seconds)` says the step has ended."""
        tty = sys.stdout.isatty()
        interval = TTY_REFRESH_SECONDS if tty else PULSE_SECONDS
        while not wait(interval):
            line = (
                f"  … {elapsed(time.monotonic() - self.started)}  {latest[0] or '(no output yet)'}"
            )
            if tty:
                sys.stdout.write("\r\033[K" + line[:119])
                sys.stdout.flush()
            else:
                say(line[:200])
        if tty:
            sys.stdout.write("\r\033[K")


def _ended(process: subprocess.Popen[str]) -> Callable[[float], bool]:
    def wait(seconds: float) -> bool:
        try:
            process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            return False
        return True

    return wait


def _copy(
    process: subprocess.Popen[str], out: TextIO, latest: list[str], progress: re.Pattern[str]
) -> None:
    assert process.stdout is not None  # noqa: S101 -- Popen was given stdout=PIPE
    for line in process.stdout:
        out.write(line)
        if line.strip():
            latest[1] = line.strip()
            if progress.search(line):
                latest[0] = latest[1]
