"""`make demo`'s pieces without a cluster (demo/): the final state it waits for, how a step
reports progress, a skip and a failure, and how each kind of cluster gets the images."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest

from demo import platform, progress
from demo.cluster import Target


def pod(
    name: str, component: str, *, ready: bool = False, phase: str = "Running", **status: Any
) -> Any:
    conditions = [{"type": "Ready", "status": "True" if ready else "False"}]
    return {
        "metadata": {"name": name, "labels": {platform.COMPONENT: component}},
        "status": {"phase": phase, "conditions": conditions, **status},
    }


class FakeKubectl(platform.Kubectl):
    def __init__(self, replicas: int, pods: list[Any]) -> None:
        super().__init__(Path("/nonexistent"))
        self.objects = {"deployment": {"spec": {"replicas": replicas}}, "pods": {"items": pods}}

    def json(self, *args: str) -> Any:
        return self.objects[args[1]]


FINAL = [
    pod("platform-api-a", "api", ready=True),
    pod("platform-api-b", "api", ready=True),
    pod("platform-postgres-0", "database", ready=True),
    pod("platform-migration-x", "migration", phase="Succeeded"),
]


def test_the_final_state_is_every_api_replica_ready_the_database_ready_the_migration_done() -> None:
    assert platform.final_state(FakeKubectl(2, FINAL)) == (
        True,
        "API 2/2 Ready, PostgreSQL Ready, migration Completed",
    )


@pytest.mark.parametrize(
    ("replicas", "pods", "seen"),
    [
        (3, FINAL, "API 2/3 Ready"),
        (2, [*FINAL[:2], *FINAL[3:]], "PostgreSQL not Ready"),
        (2, [*FINAL[:3], pod("platform-migration-x", "migration")], "migration not done"),
        (
            2,
            [
                FINAL[0],
                pod(
                    "platform-api-b",
                    "api",
                    containerStatuses=[{"state": {"waiting": {"reason": "ImagePullBackOff"}}}],
                ),
                *FINAL[2:],
            ],
            "(platform-api-b ImagePullBackOff)",
        ),
    ],
)
def test_anything_short_of_it_says_what_is_missing(
    replicas: int, pods: list[Any], seen: str
) -> None:
    reached, status = platform.final_state(FakeKubectl(replicas, pods))
    assert not reached
    assert seen in status


def test_a_step_prints_what_it_does_and_when_it_is_done(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    step = progress.Step(2, 9, "app image", tmp_path)
    step.begin("building platform-api:1.0.0")
    step.run([sys.executable, "-c", "print('layer 1'); print('layer 2')"])
    step.done()
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "[2/9] app image: building platform-api:1.0.0"
    assert lines[1].startswith("[2/9] app image: done in ")
    assert step.log.read_text() == "layer 1\nlayer 2\n"


def test_the_pulse_shows_the_latest_progress_line_not_the_chatter(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(progress, "PULSE_SECONDS", 0.2)
    step = progress.Step(4, 9, "cluster build", tmp_path)
    script = (
        "import time; print('cluster: building kube', flush=True);"
        "print('go: downloading x v1', flush=True); time.sleep(0.7)"
    )
    step.run([sys.executable, "-c", script], progress=re.compile("^cluster: "))
    pulses = [line for line in capsys.readouterr().out.splitlines() if "…" in line]
    assert pulses, "no pulse while the step ran"
    assert all(line.endswith("cluster: building kube") for line in pulses), pulses


def test_a_failed_step_is_two_lines_naming_it_its_last_line_and_its_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    step = progress.Step(5, 9, "cluster up", tmp_path)
    script = (
        "import sys; print('\\n'.join(map(str, range(50)))); print('no space left'); sys.exit(3)"
    )
    with pytest.raises(progress.StepFailed):
        step.run([sys.executable, "-c", script])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith("[5/9] cluster up FAILED after ")
    assert lines[0].endswith("exited 3: no space left")
    assert str(step.log) in lines[1]
    assert "make demo" in lines[1]


def test_a_watch_that_never_gets_there_fails_with_what_it_saw(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    step = progress.Step(8, 9, "wait", tmp_path)
    with pytest.raises(progress.StepFailed):
        step.watch(lambda: (False, "API 0/2 Ready"), timeout=0.5, hint="see kubectl get pods")
    first, second = capsys.readouterr().out.splitlines()
    assert first.endswith("not there after 0s: API 0/2 Ready")
    assert second.strip() == "see kubectl get pods"


@pytest.mark.parametrize(
    ("own", "context", "command"),
    [
        (True, "platform", ["make", "cluster-load", "IMAGES=a:1 b:2"]),
        (False, "kind-dev", ["kind", "load", "docker-image", "--name", "dev", "a:1", "b:2"]),
        (False, "minikube", ["minikube", "image", "load", "a:1", "b:2"]),
        (False, "docker-desktop", "Docker Desktop's Kubernetes runs the engine's own images"),
    ],
)
def test_each_kind_of_cluster_gets_the_images_its_own_way(
    own: bool, context: str, command: list[str] | str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DEMO_SKIP_LOAD", raising=False)
    assert Target(Path("k"), own=own, context=context).load_command(["a:1", "b:2"]) == command


def test_any_other_cluster_is_told_to_push_the_images(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEMO_SKIP_LOAD", raising=False)
    with pytest.raises(LookupError, match="push a:1 to a registry"):
        Target(Path("k"), own=False, context="gke_prod").load_command(["a:1"])
    monkeypatch.setenv("DEMO_SKIP_LOAD", "1")
    assert "pulls the images" in str(
        Target(Path("k"), own=False, context="gke").load_command(["a:1"])
    )
