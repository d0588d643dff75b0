"""`make demo` and `make demo-down` as a user runs them, on a machine with no cluster running.

The first run brings the test cluster up, installs the chart, prints the seed's final state and
serves the API through its port-forward until Ctrl-C; a second run finds every step done and
says so; `make demo-down` then leaves nothing on the machine that was not there before (read
from the machine, tests/cluster_lifecycle/footprint.py). Needs root, a Docker engine and the
images the image stage built; the cluster build is warm in CI (the cluster stage ran first).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import queue
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.cluster_lifecycle import footprint

REPO = Path(__file__).resolve().parents[2]
NODE_LABEL = "platform-cluster.node"
PORT = 8080
BASE = f"http://127.0.0.1:{PORT}"
KUBECONFIG = REPO / ".cluster" / "kubeconfig"
# The guide `make demo` prints once the port-forward serves.
SERVING = re.compile(r"^Open \(kubectl port-forward svc/platform-api 8080:80\)")
# The seed's final state, with the chart's release-prefixed names (2 API replicas by default).
FINAL_STATE = (
    re.compile(r"^platform-api-\S+\s+1/1\s+Running\s"),
    re.compile(r"^platform-migration-\S+\s+0/1\s+Completed\s"),
    re.compile(r"^platform-postgres-0\s+1/1\s+Running\s"),
)
STEP = re.compile(r"^\[(?P<number>\d+)/(?P<total>\d+)\] (?P<name>[a-z ]+): (?P<what>.*)$")


@dataclass
class Demo:
    """A running `make demo`: its output lines as they come, and Ctrl-C."""

    process: subprocess.Popen[str]
    lines: queue.Queue[str | None] = field(default_factory=queue.Queue)
    seen: list[str] = field(default_factory=list)

    @classmethod
    def start(cls) -> Demo:
        env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
        process = subprocess.Popen(
            ["make", "demo"],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            # Its own process group: Ctrl-C reaches every process of the group, as in a terminal.
            start_new_session=True,
        )
        demo = cls(process)
        threading.Thread(target=demo._read, daemon=True).start()
        return demo

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def until(self, pattern: re.Pattern[str], timeout: float) -> list[str]:
        """Every line up to the first that matches; fails on exit or timeout."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(
                    f"no line matched {pattern.pattern!r} in {timeout:.0f} s:\n{self.tail()}"
                )
            if line is None:
                pytest.fail(f"make demo exited {self.process.wait()} first:\n{self.tail()}")
            self.seen.append(line)
            if pattern.search(line):
                return self.seen

    def interrupt(self) -> tuple[int, list[str]]:
        """Ctrl-C: SIGINT to the whole group; its exit status and the rest of its output."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGINT)
        code = self.process.wait(timeout=30)
        while (line := self.lines.get(timeout=5)) is not None:
            self.seen.append(line)
        assert self.process.stdout is not None
        self.process.stdout.close()
        return code, self.seen

    def keep(self, name: str) -> None:
        """What the user saw, under build/demo/ (CI keeps the figures from it)."""
        (REPO / "build" / "demo" / name).write_text("\n".join(self.seen) + "\n")

    def tail(self) -> str:
        return "\n".join(self.seen[-40:])


def get(
    path: str, headers: dict[str, str] | None = None, body: bytes | None = None
) -> tuple[int, str]:
    request = urllib.request.Request(BASE + path, data=body, headers=headers or {})  # noqa: S310 (our URL)
    with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310 (our own URL)
        return answer.status, answer.read().decode()


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def steps(lines: list[str]) -> dict[str, str]:
    return {m["name"]: m["what"] for m in map(STEP.match, lines) if m and "…" not in m["what"]}


@pytest.fixture(scope="module")
def machine() -> Iterator[dict[str, set[str]]]:
    """The machine before the demo, with no cluster; nothing of the demo's is left after."""
    running = footprint.docker_ids(NODE_LABEL) or (REPO / ".cluster" / "state").exists()
    assert not running, "a cluster is running: make cluster-down first (the demo brings its own)"
    assert not listening(PORT), f"port {PORT} is taken: the demo forwards the API there"
    before = footprint.take(footprint.Owner(REPO))
    yield before
    if footprint.docker_ids(NODE_LABEL) or (REPO / ".cluster" / "state").exists():
        subprocess.run(["make", "demo-down"], cwd=REPO, capture_output=True, check=False)


@pytest.mark.timeout(2400)
def test_make_demo_reaches_the_final_state_and_serves_until_ctrl_c(
    machine: dict[str, set[str]],
) -> None:
    demo = Demo.start()
    lines = demo.until(SERVING, timeout=1800)
    try:
        table = lines[next(i for i, line in enumerate(lines) if line.startswith("NAME ")) :]
        for state in FINAL_STATE:
            assert any(state.search(line) for line in table), (
                f"{state.pattern} not in:\n{demo.tail()}"
            )
        assert sum(bool(FINAL_STATE[0].search(line)) for line in table) == 2, demo.tail()

        assert get("/health") == (200, '{"status":"ok"}')
        assert get("/db-check") == (200, '{"status":"ok"}')
        assert json.loads(get("/")[1])["version"]
        assert get("/docs")[0] == 200
        secret = subprocess.run(
            [
                "kubectl",
                "--kubeconfig",
                str(KUBECONFIG),
                "-n",
                "platform",
                "get",
                "secret",
                "platform-api-token",
                "-o",
                "jsonpath={.data.token}",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        headers = {
            "Authorization": f"Bearer {base64.b64decode(secret).decode()}",
            "Content-Type": "application/json",
        }
        status, created = get("/api/v1/items", headers, json.dumps({"name": "demo"}).encode())
        assert status == 201, created
        listed = json.loads(get("/api/v1/items")[1])["data"]
        assert json.loads(created)["id"] in [item["id"] for item in listed]
    finally:
        code, lines = demo.interrupt()
        demo.keep("make-demo-first.txt")
    assert any("port-forward stopped" in line for line in lines), demo.tail()
    assert not listening(PORT), "the port-forward outlived Ctrl-C"
    assert code in (0, 130, -signal.SIGINT), f"make demo exited {code} on Ctrl-C:\n{demo.tail()}"
    done = steps(lines)
    assert not done["cluster up"].startswith("skipped"), done
    assert not done["install"].startswith("skipped"), done


@pytest.mark.timeout(900)
def test_a_second_make_demo_skips_what_is_done_and_says_so(machine: dict[str, set[str]]) -> None:
    demo = Demo.start()
    try:
        lines = demo.until(SERVING, timeout=600)
        assert get("/health")[0] == 200
    finally:
        demo.interrupt()
        demo.keep("make-demo-second.txt")
    done = steps(lines)
    # The cluster build always asks Go what is stale; every other step finds its result there.
    for name in ("docker engine", "base images", "app image", "cluster up", "load", "install"):
        assert done[name].startswith("skipped, "), f"{name}: {done[name]}\n{demo.tail()}"
    assert done["wait"].startswith("the final state is reached"), done


@pytest.mark.timeout(900)
def test_make_demo_down_leaves_nothing_behind(machine: dict[str, set[str]]) -> None:
    result = subprocess.run(
        ["make", "demo-down"], cwd=REPO, capture_output=True, text=True, timeout=900, check=False
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    done = steps(result.stdout.splitlines())
    assert [done[name].split(" in ")[0] for name in ("uninstall", "namespace", "cluster down")] == [
        "done",
        "done",
        "done",
    ], result.stdout
    after = footprint.take(footprint.Owner(REPO))
    assert footprint.differences(machine, after) == {}
    assert not (REPO / ".cluster" / "state").exists()
