"""The demo's steps. Each says what it does, pulses while it runs, and is skipped, saying why,
when its result is already there; a failed one says which, why, and what to run next."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from demo import platform
from demo.cluster import Target
from demo.progress import Step

ROOT = Path(__file__).resolve().parents[1]
LOGS = ROOT / "build" / "demo"
HELM = str(ROOT / "bin" / "helm")
CHART = ROOT / "k8s" / "helm" / "platform"
STATE = ROOT / ".cluster" / "state"
# The images the nodes last got from the demo, by ID (gone with the cluster): a warm run loads
# only what changed.
LOADED = STATE / "demo-images.json"
WAIT_SECONDS = 600
HARNESS_LINE = re.compile(r"^cluster: ")

Action = Callable[[Step], None]


@dataclass(frozen=True)
class Settings:
    api_image: str
    postgres_image: str
    python_base: str
    nodes: str
    port: int


def succeeds(*argv: str) -> bool:
    return subprocess.run(argv, capture_output=True, check=False).returncode == 0


def output(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=False).stdout.strip()


def docker() -> str:
    return os.environ.get("DOCKER", "docker")


def image_id(reference: str) -> str:
    return output(docker(), "image", "inspect", "--format", "{{.Id}}", reference)


def built_from_head(reference: str) -> bool:
    """The image exists, carries HEAD's revision, and the tree has no change it would miss."""
    revision = '{{index .Config.Labels "org.opencontainers.image.revision"}}'
    label = output(docker(), "image", "inspect", "--format", revision, reference)
    head = output("git", "-C", str(ROOT), "rev-parse", "HEAD")
    clean = not output("git", "-C", str(ROOT), "status", "--porcelain")
    return bool(label) and label == head and clean


def helm_argv(cluster: Target) -> list[str]:
    """helm 3 (bin/helm) bound to the cluster and the release's namespace."""
    return [HELM, "--kubeconfig", str(cluster.kubeconfig), "-n", platform.NAMESPACE]


def run_steps(steps: list[tuple[str, Action]]) -> None:
    """Raises progress.StepFailed (already reported) at the first step that fails."""
    for number, (name, action) in enumerate(steps, start=1):
        action(Step(number, len(steps), name, LOGS))


@dataclass
class Up:
    """From nothing to the release's final state."""

    config: Settings
    cluster: Target
    # This run put new images on the nodes: a release with the same tags must roll its API.
    loaded: bool = field(default=False)

    @property
    def images(self) -> list[str]:
        return [self.config.api_image, self.config.postgres_image]

    def steps(self) -> list[tuple[str, Action]]:
        own = [("cluster build", self.cluster_build), ("cluster up", self.cluster_up)]
        return [
            ("docker engine", self.engine),
            ("base images", self.base_images),
            ("app image", self.app_image),
            *(own if self.cluster.own else []),
            ("load", self.load),
            ("install", self.install),
            ("wait", self.wait),
        ]

    def engine(self, step: Step) -> None:
        if succeeds(docker(), "info"):
            step.skip("a Docker engine answers")
            return
        step.begin("installing and starting Debian's Docker engine")
        step.run(["make", "docker-engine"])
        step.done()

    def base_images(self, step: Step) -> None:
        bases = [b for b in (self.config.python_base, self.config.postgres_image) if b]
        local = [b for b in bases if b.startswith("localhost/")]
        if all(image_id(b) for b in local):
            step.skip(f"{' and '.join(local)} exist" if local else "no local base image is used")
            return
        step.begin("building the air-gapped base images from Debian packages (minutes when cold)")
        step.run(["make", "base-images"], progress=re.compile(r"^base-images: "))
        step.done()

    def app_image(self, step: Step) -> None:
        if built_from_head(self.config.api_image):
            step.skip(f"{self.config.api_image} is built from HEAD")
            return
        step.begin(f"building {self.config.api_image}")
        step.run(["make", "image"])
        step.done()

    def cluster_build(self, step: Step) -> None:
        step.begin("compiling the cluster's binaries and images (what is missing or stale)")
        # The harness's own lines name the component being built (Go's say what it downloads).
        step.run(["make", "cluster-build", f"NODES={self.config.nodes}"], progress=HARNESS_LINE)
        # The harness names each component it builds; no such line: everything was current.
        built = "cluster: building" in step.log.read_text()
        step.done("done" if built else "everything was up to date, checked")

    def cluster_up(self, step: Step) -> None:
        count = STATE / "node-count"
        running = count.exists() and count.read_text().strip() == self.config.nodes
        if running and succeeds("python3", "-m", "cluster", "status"):
            step.skip(f"the test cluster runs with {self.config.nodes} nodes")
            return
        step.begin(f"starting the test cluster with {self.config.nodes} nodes")
        step.run(["make", "cluster-up", f"NODES={self.config.nodes}"], progress=HARNESS_LINE)
        step.done()

    def load(self, step: Step) -> None:
        ids = {image: image_id(image) for image in self.images}
        if self.cluster.own and LOADED.exists() and json.loads(LOADED.read_text()) == ids:
            step.skip("every node has these images")
            return
        try:
            command = self.cluster.load_command(self.images)
        except LookupError as error:
            raise step.fail(str(error), "then run `make demo` again") from None
        if isinstance(command, str):
            step.skip(command)
            return
        step.begin(f"importing {' '.join(self.images)} into every node")
        step.run(command)
        if self.cluster.own:
            LOADED.write_text(json.dumps(ids))
        self.loaded = True
        step.done()

    def install(self, step: Step) -> None:
        values = LOGS / "values.json"
        wanted = platform.values(*self.images)
        values.write_text(json.dumps(wanted))
        helm = helm_argv(self.cluster)
        installed = succeeds(*helm, "status", platform.RELEASE)
        current = (
            output(*helm, "get", "values", platform.RELEASE, "-o", "json") if installed else ""
        )
        if installed and current and json.loads(current) == wanted and not self.loaded:
            step.skip(f"release {platform.RELEASE} is deployed with these values and images")
            return
        verb = "upgrade" if installed else "install"
        step.begin(f"helm {verb} {platform.RELEASE} ./k8s/helm/platform -n {platform.NAMESPACE}")
        create = [] if installed else ["--create-namespace"]
        step.run([*helm, verb, platform.RELEASE, str(CHART), "--values", str(values), *create])
        if installed and self.loaded:
            # Same tag, new image: only a new pod template makes the API run it.
            kubectl = platform.Kubectl(self.cluster.kubeconfig)
            step.run(kubectl.argv("rollout", "restart", f"deployment/{platform.API_SERVICE}"))
        step.done()

    def wait(self, step: Step) -> None:
        step.begin("waiting for the API, PostgreSQL and the migration")
        kubectl = platform.Kubectl(self.cluster.kubeconfig)
        where = f"kubectl -n {platform.NAMESPACE}"
        hint = f"see `{where} get pods` and `{where} describe pod <name>`"
        step.watch(lambda: platform.final_state(kubectl), WAIT_SECONDS, hint)
        step.done("the final state is reached")


@dataclass(frozen=True)
class Down:
    """The release, its namespace (the data claim with it), then the test cluster."""

    cluster: Target

    @property
    def running(self) -> bool:
        return not self.cluster.own or STATE.exists()

    def steps(self) -> list[tuple[str, Action]]:
        own = [("cluster down", self.cluster_down)] if self.cluster.own else []
        return [("uninstall", self.uninstall), ("namespace", self.namespace), *own]

    def uninstall(self, step: Step) -> None:
        helm = helm_argv(self.cluster)
        if not self.running or not succeeds(*helm, "status", platform.RELEASE):
            step.skip(f"no release {platform.RELEASE}")
            return
        step.begin(f"helm uninstall {platform.RELEASE}")
        step.run([*helm, "uninstall", platform.RELEASE, "--wait", "--timeout", "5m"])
        step.done()

    def namespace(self, step: Step) -> None:
        kubectl = platform.Kubectl(self.cluster.kubeconfig)
        if not self.running or not succeeds(*kubectl.argv("get", "namespace", platform.NAMESPACE)):
            step.skip(f"no namespace {platform.NAMESPACE}")
            return
        step.begin(f"deleting namespace {platform.NAMESPACE}, the data claim with it")
        step.run(kubectl.argv("delete", "namespace", platform.NAMESPACE, "--timeout=300s"))
        step.done()

    def cluster_down(self, step: Step) -> None:
        step.begin("stopping the test cluster; removing what it left on the machine")
        step.run(["make", "cluster-down"])
        step.done()
