"""The harness's one list of daemons and tasks (cluster/steps.py) is a valid start order and
agrees with the multi-call binary's table of components (cluster/go/cmd/kube/main.go)."""

from __future__ import annotations

import re
from pathlib import Path

from cluster import components, config
from cluster.config import Node, Paths
from cluster.steps import DAEMONS, STEPS, Daemon, Role

REPO = Path(__file__).resolve().parents[2]
MAIN_GO = REPO / "cluster" / "go" / "cmd" / "kube" / "main.go"


def _compiled_components() -> set[str]:
    """The COMPONENT names `kube COMPONENT` accepts, read from main.go."""
    source = MAIN_GO.read_text()
    table = source.split("var commands = map[string]func() *cobra.Command{", 1)[1].split("\n}")[0]
    names = set(re.findall(r'^\s*"([a-z-]+)":', table, re.MULTILINE))
    names |= set(re.findall(r'^const provisioner = "([a-z-]+)"', source, re.MULTILINE))
    return names


def _invoked_components(tmp_path: Path) -> set[str]:
    paths = Paths(tmp_path)
    invoked = set()
    for daemon in DAEMONS:
        for node in config.nodes(2):
            if daemon.role is Role.CONTROL_PLANE and not node.is_host:
                continue
            argv = daemon.command(components.Context(paths, node))
            if argv[0] == str(paths.kube):
                invoked.add(argv[1])
    return invoked


def test_every_step_needs_only_steps_started_before_it() -> None:
    started: set[str] = set()
    for step in STEPS:
        assert set(step.needs) <= started, f"{step.name} needs {set(step.needs) - started}"
        started.add(step.name)


def test_step_names_are_unique() -> None:
    names = [step.name for step in STEPS]

    assert len(set(names)) == len(names)


def test_the_binary_has_exactly_the_components_the_steps_run(tmp_path: Path) -> None:
    assert _invoked_components(tmp_path) == _compiled_components()


def test_what_waits_on_a_daemon_can_tell_when_it_is_ready() -> None:
    needed = {need for step in STEPS for need in step.needs}

    for step in STEPS:
        if step.name in needed and isinstance(step, Daemon):
            assert step.ready is not None, f"{step.name} is needed but has no readiness probe"


def test_a_command_line_writes_nothing(tmp_path: Path) -> None:
    paths = Paths(tmp_path / "repo")

    for daemon in DAEMONS:
        daemon.command(components.Context(paths, Node(2)))

    assert not (tmp_path / "repo").exists()


def test_configure_writes_only_below_the_nodes_own_directory(tmp_path: Path) -> None:
    paths = Paths(tmp_path)
    worker = Node(3)
    (tmp_path / "etc").mkdir()

    for daemon in DAEMONS:
        if daemon.role is Role.NODE and daemon.configure is not None:
            daemon.configure(components.Context(paths, worker))

    written = {p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file()}
    assert written
    node_dir = Path(".cluster/state/nodes/platform-node-3")
    assert all(node_dir in path.parents for path in written), written
